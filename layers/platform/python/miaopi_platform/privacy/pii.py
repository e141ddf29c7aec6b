"""Personal identifiers: keyed HMAC for lookups, masks for display. Never in logs.

The key lives in Secrets Manager (template.yaml: PiiHashKeySecret) and is read once per
execution environment; a key store that does not answer is a 503 (DependencyUnavailable).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from miaopi.identifiers import KINDS, mask

from miaopi_platform.aws.dependencies import dependency_errors


class PiiHasher:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def digest(self, value: str) -> str:
        """A stable, keyed, non-reversible id for a personal identifier."""
        return hmac.new(self._key, value.encode("utf-8"), hashlib.sha256).hexdigest()

    def derive(self, *parts: str) -> str:
        """A keyed id derived from several parts (e.g. applicant, service, idempotency key)."""
        return self.digest("\x1f".join(parts))

    @classmethod
    def from_secret(cls, secrets_client: Any, secret_arn: str) -> PiiHasher:
        with dependency_errors("the key store"):
            value = secrets_client.get_secret_value(SecretId=secret_arn)["SecretString"]
        return cls(value.encode("utf-8"))


def mask_value(kinds: tuple[str, ...], value: Any) -> Any:
    if not isinstance(value, str) or not value:
        return value
    for kind in kinds:
        if kind in KINDS:
            return mask(kind, value)
    # personal text without an identifier kind (a name): keep the first character only
    return value[0] + "*" * (len(value) - 1)


def mask_paths(
    document: dict[str, Any], personal: dict[tuple[str, ...], tuple[str, ...]]
) -> dict[str, Any]:
    """A copy of a nested document with every personal path masked."""
    out = _copy(document)
    for path, kinds in personal.items():
        parent: Any = out
        for part in path[:-1]:
            parent = parent.get(part) if isinstance(parent, dict) else None
        if isinstance(parent, dict) and path[-1] in parent:
            parent[path[-1]] = mask_value(kinds, parent[path[-1]])
    return out


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value
