"""The credit list for administrators: look an entry up, list a subject, repair (信用修复);
and the listing a revocation for false data writes with it (review and supervision).

Identifiers arrive in bodies and are hashed at once; entries are answered masked. The flow
receives its stores through `CreditPorts`."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any, Protocol

from miaopi.engine import subject_of
from miaopi.identifiers import KINDS, IdentifierInvalid, mask, normalize
from miaopi.model import ServiceDefinition
from miaopi.workdays import CHINA

from miaopi_platform.aws.errors import Conflict, NotFound, UnprocessableEntity
from miaopi_platform.aws.observability import logger, metrics
from miaopi_platform.credit.items import CreditEntry
from miaopi_platform.credit.store import CreditList, Listing, in_force
from miaopi_platform.credit.views import (
    SUBJECT_KINDS,
    CreditEntryDetail,
    CreditEntryView,
    ListRequest,
    RepairRequest,
)
from miaopi_platform.privacy.pii import PiiHasher, mask_value
from miaopi_platform.records.decision import FALSE_DATA


class CreditPorts(Protocol):
    @property
    def credit(self) -> CreditList: ...
    @property
    def hasher(self) -> PiiHasher: ...


def lookup(ports: CreditPorts, subject_id: str, now: dt.datetime) -> CreditEntryDetail:
    """A subject's entry and its history, or 404."""
    subject_hash, _masked = _subject(ports, subject_id)
    entry = ports.credit.get(subject_hash)
    if entry is None:
        raise NotFound("the subject is not on the credit list")
    history = sorted(ports.credit.history(subject_hash), key=lambda c: str(c["changeId"]))
    return _view(CreditEntryDetail, entry, now, history=history)


def add(ports: CreditPorts, request: ListRequest, admin: str, now: dt.datetime) -> CreditEntryView:
    """Put a subject on the list; 409 while an entry is in force or this decision listed them."""
    if request.valid_until < now.astimezone(CHINA).date():
        raise UnprocessableEntity(
            "validUntil is in the past", [{"field": "validUntil", "code": "in_the_past"}]
        )
    subject_hash, masked = _subject(ports, request.subject_id)
    entry = ports.credit.list(
        subject_hash,
        subject_masked=masked,
        reason_code=request.reason_code,
        reason={"zh": request.reason.zh, "en": request.reason.en},
        valid_until=request.valid_until,
        by=admin,
        now=now,
        source_decision_id=request.source_decision_id,
    )
    if entry is None:  # this source decision listed them already
        raise Conflict(
            "this decision listed the subject already",
            [{"field": "sourceDecisionId", "code": "already_listed"}],
        )
    logger.info("credit list entry added", extra={"reasonCode": request.reason_code})
    metrics.add_metric(name="CreditListed", unit="Count", value=1)
    return _view(CreditEntryView, entry, now)


def repair(
    ports: CreditPorts, request: RepairRequest, admin: str, now: dt.datetime
) -> CreditEntryView:
    """The entry stays on record but no longer bars."""
    subject_hash, _masked = _subject(ports, request.subject_id)
    entry = ports.credit.repair(subject_hash, request.reason, admin, now)
    logger.info("credit list entry repaired")
    metrics.add_metric(name="CreditRepaired", unit="Count", value=1)
    return _view(CreditEntryView, entry, now)


def false_data_listing(
    credit: CreditList,
    service: ServiceDefinition,
    application: dict[str, Any],
    *,
    subject_hash: str,
    decision_id: str,
    rules: Sequence[str],
    by: str,
    now: dt.datetime,
) -> Listing | None:
    """The listing of the subject of `application` that revocation `decision_id` (false data)
    brings, for the service's listing period. None when this decision listed them already;
    AlreadyListed while another entry is in force."""
    subject = str(subject_of(service, application) or "")
    today = now.astimezone(CHINA).date()
    named = ", ".join(rules) or "spot check"
    return credit.prepare(
        subject_hash,
        subject_masked=masked_subject(subject),
        reason_code=FALSE_DATA,
        reason={
            "zh": f"提供虚假材料，审批已被撤销(决定 {decision_id}，规则 {named})。",
            "en": f"False data: approval revoked (decision {decision_id}, rules {named}).",
        },
        valid_until=today + dt.timedelta(days=service.file.supervision.listing_days),
        by=by,
        now=now,
        source_decision_id=decision_id,
        service_id=service.id,
    )


def masked_subject(subject: str) -> str:
    """The subject's identifier as people may see it (ID number or credit code), masked."""
    for kind in SUBJECT_KINDS:
        if re.fullmatch(KINDS[kind].pattern, subject):
            return mask(kind, subject)
    return "*" * len(subject)


def _subject(ports: CreditPorts, subject_id: str) -> tuple[str, str]:
    """(keyed hash, masked form) of a valid ID number or credit code; 422 otherwise (the
    value is never echoed)."""
    for kind in SUBJECT_KINDS:
        try:
            value = normalize((kind,), subject_id)
        except IdentifierInvalid:
            continue
        return ports.hasher.digest(value), str(mask_value((kind,), value))
    raise UnprocessableEntity(
        "subjectId is not a valid ID number or unified social credit code",
        [{"field": "subjectId", "code": "invalid_identifier"}],
    )


def _view[ViewT: CreditEntryView](
    model: type[ViewT], entry: CreditEntry, now: dt.datetime, **more: object
) -> ViewT:
    """An entry as admins see it: masked, with whether it bars its subject now."""
    barring = in_force(entry, now)
    return model.model_validate(
        {**entry, "subject": entry.get("subjectMasked", "****"), "inForce": barring, **more}
    )
