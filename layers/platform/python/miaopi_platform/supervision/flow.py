"""Supervision at work, driven by streams. Every step is safe to repeat: a redelivered stream
record finds its supervision record written (and acts on that, not on a second look), writes
are conditional, workflows are started under a fixed name, and notices are published once.

- `on_decision` (decisions table stream): an automatic approval is re-verified against fresh
  data and drawn (or not) for a spot check, in one transaction with its revocation when the
  re-verification fails; a revocation for false data puts the subject on the credit list; the
  applicant hears of every final decision, staff of every revocation.
- `on_credit_entry` (credit list stream): a subject newly listed has their approvals that are
  still under supervision checked again.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from typing import Any, Protocol, cast

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from miaopi.engine import decide, evidence_requests
from miaopi.model import (
    GRANT_SOURCE,
    Decision,
    EvidenceItem,
    EvidenceStatus,
    Outcome,
    ServiceDefinition,
)
from miaopi.workdays import CHINA, add_working_days, end_of_day

from miaopi_platform.aws.clock import iso
from miaopi_platform.aws.dynamo import from_item
from miaopi_platform.aws.observability import logger, metrics
from miaopi_platform.aws.settings import Settings
from miaopi_platform.catalogue.services import find, official_calendar
from miaopi_platform.credit.flow import false_data_listing
from miaopi_platform.credit.items import CreditEntry
from miaopi_platform.credit.store import LISTED, AlreadyListed, CreditList, Listing
from miaopi_platform.evidence.port import EvidencePort, caused_by
from miaopi_platform.privacy.pii import PiiHasher
from miaopi_platform.records import grants
from miaopi_platform.records.decision import FALSE_DATA, REVIEWER, SYSTEM
from miaopi_platform.records.ids import decision_id_for
from miaopi_platform.records.items import DecisionRecord
from miaopi_platform.records.store import ApplicationStore
from miaopi_platform.review.flow import start
from miaopi_platform.review.items import DecisionNotice, WorkflowTask
from miaopi_platform.review.tasks import SPOT_CHECK, task_id
from miaopi_platform.supervision.items import (
    REVOKED,
    UNDER_SUPERVISION,
    Notice,
    Revocation,
    RevocationNotice,
    SupervisionRecord,
    cause_of,
    revocation,
    revocation_notice,
    spot_check_draw,
    supervision_item,
    verification_record,
)
from miaopi_platform.supervision.store import SupervisionStore


class SupervisionPorts(Protocol):
    """The stores and clients supervision works with, provided by the function's wiring."""

    @property
    def settings(self) -> Settings: ...
    @property
    def supervision(self) -> SupervisionStore: ...
    @property
    def store(self) -> ApplicationStore: ...
    @property
    def evidence(self) -> EvidencePort: ...
    @property
    def credit(self) -> CreditList: ...
    @property
    def hasher(self) -> PiiHasher: ...
    @property
    def sns(self) -> Any: ...
    @property
    def stepfunctions(self) -> Any: ...
    @property
    def idempotency_store(self) -> DynamoDBPersistenceLayer: ...
    @property
    def idempotency_config(self) -> IdempotencyConfig: ...


# ---------------------------------------------------------------- the decisions stream


def on_decision(
    deps: SupervisionPorts, stream_record: dict[str, Any], now: dt.datetime | None = None
) -> None:
    if stream_record.get("eventName") != "INSERT":
        return
    image = (stream_record.get("dynamodb") or {}).get("NewImage")
    if not image:
        return
    record = cast("DecisionRecord", from_item(image))
    moment = now or dt.datetime.now(dt.UTC)
    outcome, by = record.get("outcome"), record.get("decidedBy")
    if outcome == Outcome.APPROVED.value and by == SYSTEM:
        supervise(deps, record, moment)
    elif outcome == Outcome.REVOKED.value:
        after_revocation(deps, record, moment)
    if by == SYSTEM and outcome in (Outcome.APPROVED.value, Outcome.REJECTED.value):
        notice: DecisionNotice = {
            "kind": "DECISION",
            "applicationId": record["applicationId"],
            "serviceId": record["serviceId"],
            "status": record["outcome"],
            "decisionId": record["decisionId"],
            "decidedBy": "SYSTEM",
            "decidedAt": record["decidedAt"],
        }
        publish_once(deps, deps.settings.applicant_topic_arn, notice, record["applicantId"])


def supervise(deps: SupervisionPorts, approval: DecisionRecord, now: dt.datetime) -> None:
    """Re-verify one automatic approval, draw for a spot check, revoke if it no longer holds."""
    stored = deps.supervision.get(approval["decisionId"])
    if stored is None:
        service = find(approval["serviceId"])
        verification, evidence = reverify(deps, service, approval)
        draw = spot_check_draw(
            service, approval, deps.hasher.derive("spot-check", approval["decisionId"])
        )
        item = supervision_item(service, approval, verification, draw, now)
        revoke = None
        listing: Listing | None = None
        if verification.outcome is Outcome.REJECTED:
            cause = cause_of(
                service, service.rule_set_named(verification.rule_set_version), verification
            )
            revoke = _revoking(deps, service, approval, verification, evidence, cause, now)
            item["status"] = REVOKED
            if cause == FALSE_DATA:  # the subject is listed in the same transaction
                listing = _false_data_listing(deps, service, revoke.record, now)
        created = deps.supervision.create(
            item,
            revoke,
            deps.settings.decisions_table,
            deps.settings.applications_table,
            deps.credit.writes(listing) if listing else (),
        )
        # written by this call: act on it; else a concurrent delivery wrote it first: read it
        stored = item if created else deps.supervision.get(approval["decisionId"]) or item
        if created:
            metrics.add_metric(name="Supervised", unit="Count", value=1)
        if created and revoke:
            metrics.add_metric(name="RevokedOnVerification", unit="Count", value=1)
        logger.info(
            "approval supervised",
            extra={
                "decisionId": approval["decisionId"],
                "verification": verification.outcome.value,
                "sampled": draw.sampled,
            },
        )
    _spot_check_if_due(deps, approval, stored, now)


def _revoking(
    deps: SupervisionPorts,
    service: ServiceDefinition,
    approval: DecisionRecord,
    verification: Decision,
    evidence: dict[str, EvidenceItem],
    cause: str,
    now: dt.datetime,
) -> Revocation:
    """The revocation of an approval, with the release of its grant in the same transaction:
    once revoked, the subject may apply again (the credit list decides whether they succeed)."""
    app_id = approval["applicationId"]
    revoke = revocation(
        approval,
        verification,
        evidence,
        cause,
        decision_id_for(deps.hasher, app_id, "revoke", approval["decisionId"]),
        now,
    )
    record = revoke.record
    grant = grants.settle(
        deps.settings.grants_table,
        grants.held_by(deps.hasher, service, record),
        app_id,
        grants.RELEASED,
        record["decisionId"],
        record["decidedAt"],
    )
    return replace(revoke, grant=grant)


def reverify(
    deps: SupervisionPorts, service: ServiceDefinition, approval: DecisionRecord
) -> tuple[Decision, dict[str, EvidenceItem]]:
    """The same rule-set version, the same application and date, fresh evidence — but for
    the platform's own grants register, where the approval now holds its grant itself, and the
    records the approval's own outcome changed: what the approval was decided on stands there."""
    rule_set = service.rule_set_named(approval["ruleSetVersion"])
    application = approval["application"]
    requests, skipped = evidence_requests(service, application)
    recorded = approval.get("evidence", {})
    own = {
        r.alias: EvidenceItem(
            EvidenceStatus(recorded[r.alias]["status"]), recorded[r.alias]["record"]
        )
        if r.alias in recorded
        else EvidenceItem(EvidenceStatus.ABSENT)
        for r in requests
        if r.source == GRANT_SOURCE
    }
    fresh = [r for r in requests if r.source != GRANT_SOURCE]
    gathered = deps.evidence.gather(fresh)
    # A department's record the approval itself changed (its outcome event's effect, e.g. the
    # Shenzhen hukou a graduate's approval moved in) is judged as it stood for the application.
    caused = {
        alias: EvidenceItem(EvidenceStatus(recorded[alias]["status"]), recorded[alias]["record"])
        for alias, item in gathered.items()
        if alias in recorded and caused_by(item, approval["applicationId"])
    }
    evidence = {**skipped, **gathered, **caused, **own}
    on = dt.date.fromisoformat(approval["applicationDate"])
    return decide(service, rule_set, application, evidence, on), evidence


def _spot_check_if_due(
    deps: SupervisionPorts, approval: DecisionRecord, stored: SupervisionRecord, now: dt.datetime
) -> None:
    if stored.get("status") != UNDER_SUPERVISION:
        return
    verification = stored.get("verification", {})
    unconfirmed = verification.get("outcome") == Outcome.PENDING_REVIEW.value
    if not (stored.get("sampling", {}).get("sampled") or unconfirmed):
        return
    reason = "RECHECK_UNCONFIRMED" if unconfirmed else "SAMPLED"
    start_spot_check(deps, approval, verification.get("failingRules", []), reason, now)


def start_spot_check(
    deps: SupervisionPorts,
    approval: DecisionRecord,
    rules: list[str],
    reason: str,
    now: dt.datetime,
) -> bool:
    service = find(approval["serviceId"])
    today = now.astimezone(CHINA).date()
    due, _official = add_working_days(
        today, service.file.supervision.spot_check_working_days, calendar=official_calendar()
    )
    due_at = end_of_day(due)
    task: WorkflowTask = {
        "taskId": task_id(SPOT_CHECK, approval["applicationId"]),
        "kind": SPOT_CHECK,
        "applicationId": approval["applicationId"],
        "serviceId": approval["serviceId"],
        "sourceDecisionId": approval["decisionId"],
        "applicantId": approval["applicantId"],
        "dueBy": due.isoformat(),
        "dueAt": iso(due_at),
        "timeoutSeconds": max(1, int((due_at - now).total_seconds())),
        "referredRules": list(rules),
        "checkReason": reason,
        "escalated": False,
    }
    return start(deps, {"task": task})


# ---------------------------------------------------------------- after a revocation


def after_revocation(deps: SupervisionPorts, record: DecisionRecord, now: dt.datetime) -> None:
    """Close supervision, list the subject when the data was false, tell staff and applicant."""
    deps.supervision.mark_revoked(record.get("revokes") or "", record["decisionId"])
    if record.get("cause") == FALSE_DATA:
        list_subject(deps, record, now)
    notice = revocation_notice(record)
    staff: RevocationNotice = {**notice, "audience": "staff"}
    publish_once(deps, deps.settings.supervisor_topic_arn, staff, None)
    if record.get("decidedBy") != REVIEWER:  # the review workflow tells the applicant itself
        publish_once(deps, deps.settings.applicant_topic_arn, notice, record["applicantId"])


def _false_data_listing(
    deps: SupervisionPorts, service: ServiceDefinition, revoke: DecisionRecord, now: dt.datetime
) -> Listing | None:
    """The listing a revocation for false data writes with it; None when an entry is in force
    already (nothing to add) or this revocation listed the subject already."""
    try:
        return false_data_listing(
            deps.credit,
            service,
            revoke.get("application") or {},
            subject_hash=revoke["subjectHash"],
            decision_id=revoke["decisionId"],
            rules=[r["ruleId"] for r in revoke.get("reasons", [])],
            by=str(revoke.get("deciderId", "supervision")),
            now=now,
        )
    except AlreadyListed:
        return None


def list_subject(deps: SupervisionPorts, record: DecisionRecord, now: dt.datetime) -> None:
    """The subject of a revocation for false data on the credit list. The revocation wrote the
    listing with it (a reviewer's spot check, supervision's own re-verification): this finds it
    there and adds nothing; it lists the subject only when the entry changed in between."""
    service = find(record["serviceId"])
    application = record.get("application")
    if application is None:  # a reviewer's revocation: the application is the approval's
        approval = deps.store.get_decision(str(record.get("revokes") or record.get("reviewOf")))
        application = (approval.get("application") if approval else None) or {}
    try:
        listing = false_data_listing(
            deps.credit,
            service,
            application,
            subject_hash=record["subjectHash"],
            decision_id=record["decisionId"],
            rules=[r["ruleId"] for r in record.get("reasons", [])],
            by=str(record.get("deciderId", "supervision")),
            now=now,
        )
    except AlreadyListed:  # in force already (another source): nothing to add. A concurrent
        # change (EntryChanged) is not caught: the stream record is retried.
        logger.info("subject listed already", extra={"decisionId": record["decisionId"]})
        return
    if listing is not None:
        deps.credit.write(listing)
        metrics.add_metric(name="CreditListed", unit="Count", value=1)
        logger.info("subject listed", extra={"decisionId": record["decisionId"]})


# ---------------------------------------------------------------- the credit list stream


def on_credit_entry(
    deps: SupervisionPorts, stream_record: dict[str, Any], now: dt.datetime | None = None
) -> int:
    """A subject newly listed: check their approvals under supervision again. Returns how
    many approvals were revoked."""
    change = stream_record.get("dynamodb") or {}
    new = _entry(change.get("NewImage"))
    old = _entry(change.get("OldImage"))
    if new is None or new.get("status") != LISTED:
        return 0
    if old is not None and old.get("status") == LISTED and old.get("version") == new.get("version"):
        return 0
    moment = now or dt.datetime.now(dt.UTC)
    today = moment.astimezone(CHINA).date().isoformat()
    revoked = 0
    for item in deps.supervision.under_supervision(new["subjectHash"], today):
        approval = deps.store.get_decision(item["decisionId"])
        if approval is None:
            continue
        revoked += recheck(deps, approval, moment)
    return revoked


def _entry(image: dict[str, Any] | None) -> CreditEntry | None:
    """A credit-list entry from a stream image (none: the entry was created or removed)."""
    return cast("CreditEntry", from_item(image)) if image else None


def recheck(deps: SupervisionPorts, approval: DecisionRecord, now: dt.datetime) -> int:
    service = find(approval["serviceId"])
    verification, evidence = reverify(deps, service, approval)
    if verification.outcome is Outcome.APPROVED:
        return 0
    if verification.outcome is Outcome.PENDING_REVIEW:
        start_spot_check(
            deps, approval, [r.rule_id for r in verification.reasons], "RECHECK_UNCONFIRMED", now
        )
        return 0
    cause = cause_of(
        service, service.rule_set_named(verification.rule_set_version), verification, later=True
    )
    revoke = _revoking(deps, service, approval, verification, evidence, cause, now)
    done = deps.supervision.revoke_supervised(
        approval["decisionId"],
        verification_record(verification, now),
        revoke,
        deps.settings.decisions_table,
        deps.settings.applications_table,
    )
    if done:
        metrics.add_metric(name="RevokedOnRecheck", unit="Count", value=1)
        logger.info("approval revoked on re-check", extra={"decisionId": approval["decisionId"]})
    return int(done)


# ---------------------------------------------------------------- notices, once


def publish_once(
    deps: SupervisionPorts, topic_arn: str, notice: Notice, applicant_id: str | None
) -> None:
    """Publish a notice at most once per (topic, decision, kind), however often the stream
    delivers the record (Powertools idempotency, keyed on those)."""
    key = {"topic": topic_arn, "decisionId": notice["decisionId"], "kind": notice["kind"]}
    _publish_idempotently(deps)(key=key, notice=notice, applicant_id=applicant_id)


def _publish_idempotently(deps: SupervisionPorts) -> Any:
    persistence = deps.idempotency_store

    @idempotent_function(
        data_keyword_argument="key",
        persistence_store=persistence,
        config=deps.idempotency_config,
    )
    def publish(key: dict[str, str], notice: Notice, applicant_id: str | None) -> str:
        attributes: dict[str, Any] = {"kind": {"DataType": "String", "StringValue": notice["kind"]}}
        if applicant_id:
            attributes["applicantId"] = {"DataType": "String", "StringValue": applicant_id}
        answer = deps.sns.publish(
            TopicArn=key["topic"],
            Message=json.dumps(notice, ensure_ascii=False, default=str),
            MessageAttributes=attributes,
        )
        return str(answer.get("MessageId", ""))

    return publish
