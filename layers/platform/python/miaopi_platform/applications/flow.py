"""Submit flow: validate -> who may apply -> gather evidence -> decide -> one atomic write.

Two AWS calls per automatic decision: one BatchGetItem for every source of evidence (the
platform's own grants register included) and one TransactWriteItems for the application, its
decision record and the grant it takes (records.grants). When a concurrent application took the
grant first, this one is decided again with the fresh evidence (the grant rule then rejects it).

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
from miaopi.model import GRANT_SOURCE, ServiceDefinition

from miaopi_platform.applications import capacity as who
from miaopi_platform.applications.items import Submission, application_item, decision_item
from miaopi_platform.aws.errors import AlreadyRecorded, Conflict, DependencyUnavailable, NotFound
from miaopi_platform.aws.observability import logger, metrics
from miaopi_platform.aws.settings import Settings
from miaopi_platform.evidence.port import EvidencePort
from miaopi_platform.identity.context import Identity
from miaopi_platform.privacy.pii import PiiHasher
from miaopi_platform.records import grants
from miaopi_platform.records.ids import application_id, decision_id, request_hash
from miaopi_platform.records.items import ApplicationItem
from miaopi_platform.records.store import ApplicationStore, GrantTaken

#: the application date is the date in Shenzhen, whatever the clock's zone
CHINA = workdays.CHINA
#: decisions of one submission when concurrent applications keep taking its grant first
MAX_DECISIONS = 3


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
    caller: who.Caller,
    idempotency_key: str,
    *,
    evidence: EvidencePort,
    store: ApplicationStore,
    hasher: PiiHasher,
    now: dt.datetime | None = None,
) -> Submitted:
    """Decide and record one application. 403 (nothing written) when the caller may not
    submit it; the grant's race is settled by the write (see the module's docstring)."""
    started = time.perf_counter()
    who.admitted(service, caller)
    application = normalize(service.form_model, body)
    submitted_at = now or dt.datetime.now(dt.UTC)
    on = submitted_at.astimezone(CHINA).date()
    rule_set = service.rule_set_on(on)
    if rule_set is None:
        raise NoRuleSetInForce(service.id, on.isoformat())
    # before any AWS call: an application for someone else costs nothing and writes nothing
    way = who.capacity(service, application, {}, caller, hasher)
    if way is None and not who.reads_evidence(service):
        raise who.refused()
    applicant_id = caller.identity.subject
    app_id = application_id(hasher, applicant_id, service.id, idempotency_key)
    # the application as it normalises: an explicit null, key order or spacing is the same one
    fingerprint = request_hash(service.id, application)
    holder = who.holder_hash(service, application, hasher)

    requests, skipped = evidence_requests(service, application)
    requests = grants.scoped(hasher, service.id, requests)
    grant_key = next((r.key for r in requests if r.source == GRANT_SOURCE), None)
    for attempt in range(MAX_DECISIONS):
        gathered = {**skipped, **evidence.gather(requests)}
        if way is None:  # a way read from evidence (an enterprise's registered operator)
            way = who.capacity(service, application, gathered, caller, hasher)
            if way is None:
                raise who.refused()
        decision = decide(service, rule_set, application, gathered, on)
        submission = Submission(
            service=service,
            applicant_id=applicant_id,
            application_id=app_id,
            decision_id=decision_id(hasher, app_id, 1),
            request_hash=fingerprint,
            subject_hash=hasher.digest(subject_of(service, application)),
            holder_hash=holder,
            submitted_by=who.submitter(caller, way),
            application=application,
            evidence=gathered,
            decision=decision,
            submitted_at=submitted_at,
            latency_ms=(time.perf_counter() - started) * 1000,
        )
        item = application_item(submission)
        status = grants.status_for(decision.outcome)
        grant = None
        if grant_key is not None and status is not None:
            grant = grants.take(
                store.grants_table,
                grant_key,
                service.id,
                app_id,
                status,
                on.isoformat(),
                item["submittedAt"],
            )
        try:
            store.record(item, decision_item(submission), grant)
        except GrantTaken:
            metrics.add_metric(name="GrantContended", unit="Count", value=1)
            logger.info("grant taken concurrently, deciding again", extra={"attempt": attempt + 1})
            continue
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
    busy = DependencyUnavailable("applications for the same grant are being decided, try again")
    busy.saying_recorded(False)
    raise busy


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
    store: ApplicationStore, identity: Identity, application_id: str
) -> ApplicationItem:
    """One of the caller's own applications: one they submitted, or one submitted for them (by
    an agent, at a counter). Anyone else's is as absent as one that does not exist (404), so
    ids cannot be probed."""
    item = store.get(application_id)
    if item is None or not is_own(item, identity):
        raise NotFound("no such application")
    return item


def is_own(item: ApplicationItem, identity: Identity) -> bool:
    return (
        item.get("applicantId") == identity.subject
        or item.get("holderHash") == identity.subject_id_hash
    )
