"""Stored items: the application (what its applicant sees) and its immutable decision record.

Ids are derived, not random: the application id from (applicant, service, Idempotency-Key) and
the first decision id from the application id, so a retried or concurrent duplicate submission
writes to the same keys and the conditional transaction lets exactly one of them in.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from miaopi.model import Decision, EvidenceItem, Outcome, ServiceDefinition
from miaopi.workdays import add_working_days, end_of_day

from miaopi_platform.api import ApplicationView
from miaopi_platform.audit.indexes import index_keys
from miaopi_platform.chain import with_content_hash
from miaopi_platform.pii import PiiHasher, mask_paths

SYSTEM = "SYSTEM"
REVIEWER = "REVIEWER"


def request_hash(service_id: str, body: Any) -> str:
    canonical = json.dumps([service_id, body], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def application_id(hasher: PiiHasher, applicant: str, service_id: str, key: str) -> str:
    return "APP" + hasher.derive("application", applicant, service_id, key)[:21].upper()


def decision_id(hasher: PiiHasher, app_id: str, sequence: int) -> str:
    return "DEC" + hasher.derive("decision", app_id, str(sequence))[:21].upper()


def decision_id_for(hasher: PiiHasher, app_id: str, purpose: str, of: str) -> str:
    """A decision's id derived from what it is (e.g. the revocation of one approval), so a
    retried writer always writes to the same id and a conditional write lets one in."""
    return "DEC" + hasher.derive("decision", app_id, purpose, of)[:21].upper()


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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


@dataclass(frozen=True, slots=True)
class Submission:
    """Everything known about one submission once decided, before it is written."""

    service: ServiceDefinition
    applicant_id: str
    application_id: str
    decision_id: str
    request_hash: str
    subject_hash: str
    application: dict[str, Any]
    evidence: dict[str, EvidenceItem]
    decision: Decision
    submitted_at: dt.datetime
    latency_ms: float


def application_item(sub: Submission) -> dict[str, Any]:
    service, decision = sub.service, sub.decision
    decided_at = iso(sub.submitted_at)
    document: dict[str, Any] = {
        "applicationId": sub.application_id,
        "serviceId": service.id,
        "status": decision.outcome.value,
        "submittedAt": decided_at,
        "decision": {
            "decisionId": sub.decision_id,
            "outcome": decision.outcome.value,
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
    }
    if decision.outcome is Outcome.PENDING_REVIEW:
        due, official = add_working_days(decision.application_date, service.file.sla_working_days)
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


def certificate(
    service: ServiceDefinition, application_date: dt.date, decision_id: str, issued_at: str
) -> dict[str, Any]:
    """The certificate an approval issues; its number derives from the approving decision."""
    kind = service.file.certificate
    stamp = application_date.strftime("%Y%m%d")
    return {
        "kind": kind.kind,
        "title": kind.title.model_dump(),
        "number": f"{kind.prefix}{stamp}{decision_id[3:11]}",
        "issuedAt": issued_at,
    }


def decision_item(sub: Submission) -> dict[str, Any]:
    decision = sub.decision
    decided_at = iso(sub.submitted_at)
    record = {
        "decisionId": sub.decision_id,
        "applicationId": sub.application_id,
        "serviceId": decision.service_id,
        "decidedAt": decided_at,
        "sequence": 1,
        "outcome": decision.outcome.value,
        "decidedBy": SYSTEM,
        "deciderId": "system",
        "applicantId": sub.applicant_id,
        "subjectHash": sub.subject_hash,
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


def sealed(record: dict[str, Any]) -> dict[str, Any]:
    """A decision record as every writer stores it: with the keys of the auditors' indexes
    (audit/indexes.py) and the hash of its content, which covers them."""
    return with_content_hash({**record, **index_keys(record)})


def view(item: dict[str, Any]) -> ApplicationView:
    return ApplicationView.model_validate(item)
