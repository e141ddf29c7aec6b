"""The decision record's shared vocabulary: who decided, why a revocation happened, the reasons
as stored, and the seal every writer puts on a record (index keys + content hash)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, get_args

from miaopi import model
from miaopi.files import LegalBasis, Text
from miaopi.model import Decision

from miaopi_platform.records.indexes import index_keys
from miaopi_platform.records.items import (
    DecisionRecord,
    LocalizedText,
    Outcome,
    StoredLegalBasis,
    StoredReason,
)
from miaopi_platform.records.seal import content_hash

if TYPE_CHECKING:
    from typing import TypeIs

SYSTEM: Final = "SYSTEM"
REVIEWER: Final = "REVIEWER"

#: why an approval was revoked
FALSE_DATA = "FALSE_DATA"  # the data it rested on was false: the subject is listed
CREDIT_LISTED = "CREDIT_LISTED"  # the subject was listed since (联合惩戒): not listed again
#: other rules fail now (facts changed, not proof of false data): revoked, not listed
NO_LONGER_HOLDS = "NO_LONGER_HOLDS"


_OUTCOMES = frozenset(get_args(Outcome))


def stored_outcome(outcome: model.Outcome) -> Outcome:
    """The core's outcome as records store it (the same names)."""
    value = outcome.value
    if not _is_outcome(value):
        raise ValueError(f"{value} is not a stored outcome (records.items.Outcome)")
    return value


def _is_outcome(value: str) -> TypeIs[Outcome]:
    return value in _OUTCOMES


def reasons_of(decision: Decision) -> list[StoredReason]:
    return [
        {
            "ruleId": r.rule_id,
            "onFail": r.on_fail,
            "result": r.result.value,
            "message": localized(r.message),
            "remedy": localized(r.remedy),
            "legalBasis": legal_basis(r.legal_basis),
        }
        for r in decision.reasons
    ]


def localized(text: Text) -> LocalizedText:
    return {"zh": text.zh, "en": text.en}


def legal_basis(basis: LegalBasis) -> StoredLegalBasis:
    """The keys `model_dump(exclude_none=True)` gives: no `None` values stored."""
    stored: StoredLegalBasis = {"citation": basis.citation, "illustrative": basis.illustrative}
    if basis.article is not None:
        stored["article"] = basis.article
    if basis.url is not None:
        stored["url"] = basis.url
    return stored


def sealed(record: DecisionRecord) -> DecisionRecord:
    """A decision record as every writer stores it: with the keys of the auditors' indexes
    (records/indexes.py) and the hash of its content, which covers them."""
    keyed: DecisionRecord = {**record, **index_keys(record)}
    keyed["contentHash"] = content_hash(keyed)
    return keyed
