"""The outcome event: what leaves the platform when an application's outcome is final.

Published to the outcome bus (EventBridge) as `source` `miaopi.outcomes`, one `detail-type` per
kind, the detail carrying its schema `version`. Ids, the service, the outcome, the certificate
number and the grant's subject hash — never personal data: a department that needs the
application reads it over the data-sharing exchange by its id. `departments` lists who receives
the event (the service's `results:` data); each department's rule on the bus matches its name
there. docs/results.md documents the schema; a new kind is one line in `DETAIL_TYPES`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal, TypedDict

from miaopi.model import ServiceDefinition

SOURCE = "miaopi.outcomes"
#: the detail's schema version: a consumer checks it before reading the detail
VERSION: Literal["1"] = "1"
#: kind -> the event's detail-type
DETAIL_TYPES: dict[str, str] = {
    "DECIDED": "Application decided",
    "REVOKED": "Approval revoked",
    "CERTIFICATE_ISSUED": "Certificate issued",
    "REVIEW_OVERDUE": "Review overdue",
}
FINAL = frozenset({"APPROVED", "REJECTED", "REVOKED"})


class OutcomeDetail(TypedDict):
    version: Literal["1"]
    eventId: str
    kind: str
    applicationId: str
    serviceId: str
    decisionId: str
    outcome: str
    decidedBy: str
    occurredAt: str
    certificateNumber: str | None
    subjectHash: str
    departments: list[str]


def event_id(kind: str, of: str) -> str:
    """Derived from what the event is about, so a redelivered stream record publishes the same
    event and every receiver can drop the second copy."""
    return "EVT" + hashlib.sha256(f"{kind}\x1f{of}".encode()).hexdigest()[:21].upper()


def departments(service: ServiceDefinition, outcome: str) -> list[str]:
    return [r.department for r in service.file.results if outcome in r.outcomes]


def decided(
    service: ServiceDefinition, new: dict[str, Any], old: dict[str, Any] | None
) -> OutcomeDetail | None:
    """The event an application item's change stands for: its decision in force changed to a
    final outcome (an automatic or a reviewer's decision, a revocation); else None."""
    decision = new.get("decision") or {}
    if decision.get("outcome") not in FINAL:
        return None
    if old is not None and (old.get("decision") or {}).get("decisionId") == decision.get(
        "decisionId"
    ):
        return None  # the same decision in force: another change (a spot-check note)
    outcome = str(decision["outcome"])
    kind = "REVOKED" if outcome == "REVOKED" else "DECIDED"
    certificate = new.get("certificate") or {}
    detail: OutcomeDetail = {
        "version": VERSION,
        "eventId": event_id(kind, str(decision["decisionId"])),
        "kind": kind,
        "applicationId": str(new["applicationId"]),
        "serviceId": service.id,
        "decisionId": str(decision["decisionId"]),
        "outcome": outcome,
        "decidedBy": str(decision.get("decidedBy", "SYSTEM")),
        "occurredAt": str(decision.get("decidedAt", "")),
        "certificateNumber": certificate.get("number"),
        "subjectHash": str(new.get("subjectHash", "")),
        "departments": departments(service, outcome),
    }
    return detail


def certificate_issued(
    service: ServiceDefinition, new: dict[str, Any], old: dict[str, Any] | None
) -> OutcomeDetail | None:
    """The event of an application's certificate becoming VALID (signed and stored): its
    holder may download and show it now. None for any other change."""
    certificate = new.get("certificate") or {}
    before = (old or {}).get("certificate") or {}
    if certificate.get("status") != "VALID" or (
        before.get("status") == "VALID" and before.get("number") == certificate.get("number")
    ):
        return None
    decision = new.get("decision") or {}
    return {
        "version": VERSION,
        "eventId": event_id("CERTIFICATE_ISSUED", str(certificate["number"])),
        "kind": "CERTIFICATE_ISSUED",
        "applicationId": str(new["applicationId"]),
        "serviceId": service.id,
        "decisionId": str(decision.get("decisionId", "")),
        "outcome": "APPROVED",
        "decidedBy": str(decision.get("decidedBy", "SYSTEM")),
        "occurredAt": str(certificate.get("signedAt") or certificate.get("issuedAt", "")),
        "certificateNumber": str(certificate["number"]),
        "subjectHash": str(new.get("subjectHash", "")),
        # the departments act on the approval's own event; this one is for the holder
        "departments": [],
    }


def review_overdue(
    service: ServiceDefinition, application: dict[str, Any], task_id: str, at: str
) -> OutcomeDetail | None:
    """The event of a referral whose review passed its due date (the workflow escalated it):
    its applicant hears the review is late and a supervisor was told. None once the
    application is no longer waiting (decided meanwhile)."""
    decision = application.get("decision") or {}
    if application.get("status") != "PENDING_REVIEW":
        return None
    return {
        "version": VERSION,
        "eventId": event_id("REVIEW_OVERDUE", task_id),
        "kind": "REVIEW_OVERDUE",
        "applicationId": str(application["applicationId"]),
        "serviceId": service.id,
        "decisionId": str(decision.get("decisionId", "")),
        "outcome": "PENDING_REVIEW",
        "decidedBy": "SYSTEM",
        "occurredAt": at,
        "certificateNumber": None,
        "subjectHash": str(application.get("subjectHash", "")),
        "departments": [],
    }


def of_change(
    service: ServiceDefinition, new: dict[str, Any], old: dict[str, Any] | None
) -> list[OutcomeDetail]:
    """Every event one change of an application item stands for, in the order they happened."""
    found = (decided(service, new, old), certificate_issued(service, new, old))
    return [detail for detail in found if detail is not None]


def entry(detail: OutcomeDetail, bus_name: str) -> dict[str, Any]:
    """The PutEvents entry of one event."""
    return {
        "Source": SOURCE,
        "DetailType": DETAIL_TYPES[detail["kind"]],
        "Detail": json.dumps(detail, ensure_ascii=False, sort_keys=True),
        "EventBusName": bus_name,
        "Resources": [],
    }
