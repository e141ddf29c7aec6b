"""Submit flow: validate -> gather evidence -> decide -> one atomic write -> the decision.

Idempotency-Key semantics: the same key and body again returns the same application (created
False); the same key with another body is a conflict. A failure before the write writes nothing;
the write is one transaction, so nothing is ever half-done. A dependency down is a 503 that says
whether the application was recorded: no, or unknown when the write was sent and its answer
lost (the application id comes from the key, so a retry with the same key finds it).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any, Protocol

from miaopi import workdays
from miaopi.engine import decide, evidence_requests, subject_of
from miaopi.errors import NoRuleSetInForce
from miaopi.forms import normalize
from miaopi.model import ServiceDefinition

from miaopi_platform.applications.items import Submission, application_item, decision_item
from miaopi_platform.aws.errors import AlreadyRecorded, Conflict, DependencyUnavailable, NotFound
from miaopi_platform.aws.settings import Settings
from miaopi_platform.evidence.port import EvidencePort
from miaopi_platform.privacy.pii import PiiHasher
from miaopi_platform.records.ids import application_id, decision_id, request_hash
from miaopi_platform.records.items import ApplicationItem
from miaopi_platform.records.store import ApplicationStore

#: the application date is the date in Shenzhen, whatever the clock's zone
CHINA = workdays.CHINA


class ApplicantPorts(Protocol):
    """What applying and reading one's own applications need, from the function's wiring."""

    @property
    def settings(self) -> Settings: ...
    @property
    def evidence(self) -> EvidencePort: ...
    @property
    def store(self) -> ApplicationStore: ...
    @property
    def hasher(self) -> PiiHasher: ...


@dataclass(frozen=True, slots=True)
class Submitted:
    item: ApplicationItem
    created: bool
    submission: Submission | None


def submit(
    service: ServiceDefinition,
    body: Any,
    applicant_id: str,
    idempotency_key: str,
    *,
    evidence: EvidencePort,
    store: ApplicationStore,
    hasher: PiiHasher,
    now: dt.datetime | None = None,
) -> Submitted:
    started = time.perf_counter()
    application = normalize(service.form_model, body)
    submitted_at = now or dt.datetime.now(dt.UTC)
    on = submitted_at.astimezone(CHINA).date()
    rule_set = service.rule_set_on(on)
    if rule_set is None:
        raise NoRuleSetInForce(service.id, on.isoformat())
    app_id = application_id(hasher, applicant_id, service.id, idempotency_key)
    # the application as it normalises: an explicit null, key order or spacing is the same one
    fingerprint = request_hash(service.id, application)

    requests, skipped = evidence_requests(service, application)
    gathered = {**skipped, **evidence.gather(requests)}
    decision = decide(service, rule_set, application, gathered, on)
    submission = Submission(
        service=service,
        applicant_id=applicant_id,
        application_id=app_id,
        decision_id=decision_id(hasher, app_id, 1),
        request_hash=fingerprint,
        subject_hash=hasher.digest(subject_of(service, application)),
        application=application,
        evidence=gathered,
        decision=decision,
        submitted_at=submitted_at,
        latency_ms=(time.perf_counter() - started) * 1000,
    )
    item = application_item(submission)
    try:
        store.record(item, decision_item(submission))
    except AlreadyRecorded:
        # items recorded before fingerprints were normalised carry the raw body's hash
        known = (fingerprint, request_hash(service.id, body))
        try:
            existing = _existing(store, app_id, known)
        except DependencyUnavailable as exc:
            exc.saying_recorded("unknown")
            raise
        return Submitted(existing, created=False, submission=None)
    except DependencyUnavailable as exc:
        exc.saying_recorded("unknown" if exc.outcome_unknown else False)
        raise
    return Submitted(item, created=True, submission=submission)


def _existing(
    store: ApplicationStore, app_id: str, fingerprints: tuple[str, ...]
) -> ApplicationItem:
    existing = store.get(app_id)
    if existing is None:  # the winner's write is not visible: let the client retry
        raise DependencyUnavailable("the application is being recorded, try again shortly")
    if existing.get("requestHash") not in fingerprints:
        raise Conflict(
            "this Idempotency-Key was already used with a different application",
            [{"field": "Idempotency-Key", "code": "reused_with_different_body"}],
        )
    return existing


def own_application(
    store: ApplicationStore, applicant_id: str, application_id: str
) -> ApplicationItem:
    """One of the applicant's own applications. Another applicant's is as absent as one that
    does not exist (404), so ids cannot be probed."""
    item = store.get(application_id)
    if item is None or item.get("applicantId") != applicant_id:
        raise NotFound("no such application")
    return item
