"""Errors of the platform layer (HTTP-facing); mapped to statuses in one place (http.py)."""

from __future__ import annotations

from typing import Any


class PlatformError(Exception):
    status = 500
    code = "INTERNAL"

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class BadRequest(PlatformError):
    status, code = 400, "BAD_REQUEST"


class Unauthorized(PlatformError):
    status, code = 401, "UNAUTHORIZED"


class Forbidden(PlatformError):
    status, code = 403, "FORBIDDEN"


class NotFound(PlatformError):
    status, code = 404, "NOT_FOUND"


class Conflict(PlatformError):
    status, code = 409, "CONFLICT"


class UnprocessableEntity(PlatformError):
    status, code = 422, "VALIDATION_FAILED"


class PayloadTooLarge(PlatformError):
    status, code = 413, "PAYLOAD_TOO_LARGE"


class UnsupportedMediaType(PlatformError):
    status, code = 415, "UNSUPPORTED_MEDIA_TYPE"


class DependencyUnavailable(PlatformError):
    status, code = 503, "DEPENDENCY_UNAVAILABLE"
    retry_after_seconds = 2


class AlreadyRecorded(Exception):
    """The application id is taken: a retry or a concurrent duplicate of the same submission."""
