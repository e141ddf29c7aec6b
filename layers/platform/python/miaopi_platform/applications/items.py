"""What one submission writes: the application (what its applicant sees) and its immutable
decision record, built from the decided submission before the one atomic write."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from miaopi.model import Decision, EvidenceItem, Outcome, ServiceDefinition
from miaopi.workdays import add_working_days, end_of_day

from miaopi_platform.aws.clock import iso
from miaopi_platform.catalogue.services import official_calendar
from miaopi_platform.privacy.pii import mask_paths
from miaopi_platform.records.certificate import certificate
from miaopi_platform.records.decision import SYSTEM, reasons_of, sealed, stored_outcome
from miaopi_platform.records.indexes import SYSTEM_DECIDER
from miaopi_platform.records.items import ApplicationItem, DecisionRecord, Submitter


@dataclass(frozen=True, slots=True)
class Submission:
    """Everything known about one submission once decided, before it is written."""

    service: ServiceDefinition
    applicant_id: str
    application_id: str
    decision_id: str
    request_hash: str
    subject_hash: str
    #: the keyed hash of whom it is for, when the service names one (applications.capacity)
    holder_hash: str | None
    submitted_by: Submitter
    application: dict[str, Any]
    evidence: dict[str, EvidenceItem]
    decision: Decision
    submitted_at: dt.datetime
    latency_ms: float


def application_item(sub: Submission) -> ApplicationItem:
    service, decision = sub.service, sub.decision
    decided_at = iso(sub.submitted_at)
    outcome = stored_outcome(decision.outcome)
    document: ApplicationItem = {
        "applicationId": sub.application_id,
        "serviceId": service.id,
        "status": outcome,
        "submittedAt": decided_at,
        "decision": {
            "decisionId": sub.decision_id,
            "outcome": outcome,
            "decidedBy": SYSTEM,
            "ruleSetVersion": decision.rule_set_version,
            "ruleSetHash": decision.rule_set_hash,
            "reasons": reasons_of(decision),
            "decidedAt": decided_at,
            "latencyMs": round(sub.latency_ms, 3),
        },
        "outputs": dict(decision.outputs),
        "form": mask_paths(sub.application, service.personal_paths),
        # internal, never returned: ownership, idempotency, the subject's keyed hash
        "applicantId": sub.applicant_id,
        "requestHash": sub.request_hash,
        "subjectHash": sub.subject_hash,
        "submittedBy": sub.submitted_by,
    }
    if sub.holder_hash is not None:
        document["holderHash"] = sub.holder_hash
    if decision.outcome is Outcome.PENDING_REVIEW:
        due, official = add_working_days(
            decision.application_date,
            service.file.sla_working_days,
            calendar=official_calendar(),
        )
        document["review"] = {
            "dueBy": due.isoformat(),
            "dueAt": iso(end_of_day(due)),
            "dueByOfficial": official,
        }
    if decision.outcome is Outcome.APPROVED:
        document["certificate"] = certificate(
            service, decision.application_date, sub.decision_id, decided_at
        )
    return document


def decision_item(sub: Submission) -> DecisionRecord:
    decision = sub.decision
    decided_at = iso(sub.submitted_at)
    record: DecisionRecord = {
        "decisionId": sub.decision_id,
        "applicationId": sub.application_id,
        "serviceId": decision.service_id,
        "decidedAt": decided_at,
        "sequence": 1,
        "outcome": stored_outcome(decision.outcome),
        "decidedBy": SYSTEM,
        "deciderId": SYSTEM_DECIDER,
        "applicantId": sub.applicant_id,
        "subjectHash": sub.subject_hash,
        "submittedBy": sub.submitted_by,
        "ruleSetVersion": decision.rule_set_version,
        "ruleSetHash": decision.rule_set_hash,
        "applicationDate": decision.application_date.isoformat(),
        "application": sub.application,
        "evidence": {
            alias: {"status": item.status.value, "record": item.record}
            for alias, item in sorted(sub.evidence.items())
        },
        "facts": decision.facts,
        "reasons": reasons_of(decision),
        "outputs": dict(decision.outputs),
        "trace": [
            {
                "ruleId": t.rule_id,
                "result": t.result.value,
                "onFail": t.on_fail,
                "values": t.values,
                "missing": list(t.missing),
                "error": t.error,
            }
            for t in decision.trace
        ],
        "latencyMs": round(sub.latency_ms, 3),
    }
    return sealed(record)
