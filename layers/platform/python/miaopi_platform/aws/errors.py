"""Errors of the platform layer (HTTP-facing); mapped to statuses in one place (http.py)."""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

#: whether a request that writes recorded anything, as a 503 tells it: no, or unknown (the
#: write was sent and its answer lost; a retry with the same Idempotency-Key finds out)
Recorded = Literal[False, "unknown"]


class Detail(TypedDict):
    """One entry of an error's `details`: which field (if one), a code, and words for people
    (never the submitted value: it may be personal data); a 503 of a request that writes says
    whether it recorded anything."""

    code: str
    field: NotRequired[str]
    message: NotRequired[str]
    recorded: NotRequired[Recorded]


class PlatformError(Exception):
    status = 500
    code = "INTERNAL"

    def __init__(self, message: str, details: list[Detail] | None = None) -> None:
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


class Gone(PlatformError):
    status, code = 410, "GONE"


class UnprocessableEntity(PlatformError):
    status, code = 422, "VALIDATION_FAILED"


class PayloadTooLarge(PlatformError):
    status, code = 413, "PAYLOAD_TOO_LARGE"


class UnsupportedMediaType(PlatformError):
    status, code = 415, "UNSUPPORTED_MEDIA_TYPE"


class DependencyUnavailable(PlatformError):
    status, code = 503, "DEPENDENCY_UNAVAILABLE"
    retry_after_seconds = 2
    #: a request may have reached the dependency without its answer coming back
    outcome_unknown = False
    #: said by requests that write (each detail carries it); None: not said
    recorded: Recorded | None = None

    def saying_recorded(self, recorded: Recorded) -> None:
        """Say what was recorded, unless an earlier step already said."""
        if self.recorded is None:
            self.recorded = recorded


class AlreadyRecorded(Exception):
    """The application id is taken: a retry or a concurrent duplicate of the same submission."""
