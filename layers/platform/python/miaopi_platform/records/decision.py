"""The decision record's shared vocabulary: who decided, why a revocation happened, the reasons
as stored, and the seal every writer puts on a record (index keys + content hash)."""

from __future__ import annotations

from typing import Any

from miaopi.model import Decision

from miaopi_platform.records.indexes import index_keys
from miaopi_platform.records.seal import with_content_hash

SYSTEM = "SYSTEM"
REVIEWER = "REVIEWER"

#: why an approval was revoked
FALSE_DATA = "FALSE_DATA"  # the data it rested on was false: the subject is listed
CREDIT_LISTED = "CREDIT_LISTED"  # the subject was listed since (联合惩戒): not listed again
#: other rules fail now (facts changed, not proof of false data): revoked, not listed
NO_LONGER_HOLDS = "NO_LONGER_HOLDS"


def reasons_of(decision: Decision) -> list[dict[str, Any]]:
    return [
        {
            "ruleId": r.rule_id,
            "onFail": r.on_fail,
            "result": r.result.value,
            "message": r.message.model_dump(),
            "remedy": r.remedy.model_dump(),
            "legalBasis": r.legal_basis.model_dump(exclude_none=True),
        }
        for r in decision.reasons
    ]


def sealed(record: dict[str, Any]) -> dict[str, Any]:
    """A decision record as every writer stores it: with the keys of the auditors' indexes
    (records/indexes.py) and the hash of its content, which covers them."""
    return with_content_hash({**record, **index_keys(record)})
