"""Ids are derived, not random: the application id from (applicant, service, Idempotency-Key)
and a decision id from its application and what it is, so a retried or concurrent duplicate
writes to the same keys and a conditional write lets exactly one of them in."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from miaopi_platform.privacy.pii import PiiHasher


def request_hash(service_id: str, body: Any) -> str:
    canonical = json.dumps([service_id, body], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


#: what an application id looks like (`application_id`): to refuse a malformed one at the door
APPLICATION_ID_PATTERN = r"^APP[0-9A-F]{21}$"


def application_id(hasher: PiiHasher, applicant: str, service_id: str, key: str) -> str:
    return "APP" + hasher.derive("application", applicant, service_id, key)[:21].upper()


def decision_id(hasher: PiiHasher, app_id: str, sequence: int) -> str:
    return "DEC" + hasher.derive("decision", app_id, str(sequence))[:21].upper()


def decision_id_for(hasher: PiiHasher, app_id: str, purpose: str, of: str) -> str:
    """A decision's id derived from what it is (e.g. the revocation of one approval), so a
    retried writer always writes to the same id and a conditional write lets one in."""
    return "DEC" + hasher.derive("decision", app_id, purpose, of)[:21].upper()
