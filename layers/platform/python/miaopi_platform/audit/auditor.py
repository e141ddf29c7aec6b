"""What an auditor can ask, answered from the decision records: lists, one decision in full,
statistics, replay and what-if (chain verification: chainwalk.py). Each reads through the
AuditStore and returns the API's models; personal data is masked on the way (masking.Redactor)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from miaopi.model import RuleSet, ServiceDefinition
from pydantic import ValidationError

from miaopi_platform.audit.masking import Redactor
from miaopi_platform.audit.pages import Plan, read_page
from miaopi_platform.audit.queries import DecisionFilter, Period, plan_for
from miaopi_platform.audit.replay import (
    Malformed,
    Replay,
    not_replayable,
    replay,
    transitions,
    what_if,
)
from miaopi_platform.audit.stats import stats_of
from miaopi_platform.audit.store import AuditStore
from miaopi_platform.audit.verification import record_checks
from miaopi_platform.audit.views import (
    CandidateView,
    ChainPosition,
    DecisionDetail,
    DecisionPage,
    DecisionSummary,
    DifferenceView,
    HashCheck,
    ReplayItem,
    ReplayPage,
    ReplayView,
    RuleEffect,
    StatsView,
    TransitionView,
    WhatIfPage,
)
from miaopi_platform.privacy.text import masked_comment
from miaopi_platform.records.items import DecisionRecord, DecisionSummaryItem
from miaopi_platform.records.personal import Known, personal_values
from miaopi_platform.records.seal import GENESIS
from miaopi_platform.records.views import EvidenceSnapshotView, TraceView

#: records read per page when a whole period is read (statistics)
_PAGE = 500
#: an application's records read to know the names its comments may quote (it has a few)
_RELATED = 20


def list_decisions(
    store: AuditStore, query: DecisionFilter, limit: int, token: str | None
) -> DecisionPage:
    plan = plan_for(query)
    items, next_token = read_page(plan, store.query, limit, token)
    return DecisionPage(
        items=[_summary(i) for i in items],
        index=plan.index,
        next_token=next_token,
    )


def _summary(item: DecisionSummaryItem) -> DecisionSummary:
    """A list row, leniently: a field a row holds malformed is left out (the row still lists;
    its detail and the chain verification say what is wrong with it)."""
    try:
        return DecisionSummary.model_validate(item)
    except ValidationError as exc:
        bad = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
        kept = {k: v for k, v in item.items() if k not in bad}
        return DecisionSummary.model_validate(kept)


def decision_detail(
    store: AuditStore, service: ServiceDefinition, record: DecisionRecord, reader: str | None = None
) -> DecisionDetail:
    """One record in full, masked; a comment in clear only for its author (`reader`)."""
    comment = record.get("comment")
    related = _related(store, service, record) if comment else {}
    redact = Redactor(
        service, record.get("application") or {}, record.get("evidence") or {}, related
    )
    content_ok, link_ok = record_checks(record)
    chain = None
    predecessor = None
    if "hash" in record:
        chain = ChainPosition.model_validate(
            {**record, "seq": record["chainSeq"], "chainId": record["chainId"]}
        )
        if chain.seq == 1:
            predecessor = chain.prev_hash == GENESIS
        else:
            before = store.at(chain.chain_id, chain.seq - 1)
            predecessor = any(b.get("hash") == chain.prev_hash for b in before)
    evidence = [
        EvidenceSnapshotView(
            alias=alias,
            source=service.evidence[alias].source if alias in service.evidence else alias,
            status=snapshot.get("status", ""),
            record=redact.value(snapshot.get("record")),
        )
        for alias, snapshot in sorted((record.get("evidence") or {}).items())
    ]
    trace = [
        TraceView.model_validate({**t, "values": redact.trace_values(t.get("values") or {})})
        for t in record.get("trace") or []
    ]
    return DecisionDetail.model_validate(
        {
            **record,
            "application": redact.application(),
            "evidence": evidence,
            "facts": redact.value(record.get("facts") or {}),
            "outputs": redact.value(record.get("outputs") or {}),
            "trace": trace,
            "comment": masked_comment(comment, reader, record.get("deciderId"), redact.known),
            "chain": chain,
            "hashes": HashCheck(
                content_hash=record.get("contentHash"),
                content_matches=content_ok,
                chained=chain is not None,
                link_matches=link_ok,
                predecessor_matches=predecessor,
            ),
            "replay": _replay_view(replay(service, record)),
        }
    )


def _related(store: AuditStore, service: ServiceDefinition, record: DecisionRecord) -> Known:
    """The personal values of the application's records (the decision a reviewer's record
    reviews holds the application and evidence its comment may quote)."""
    records: list[Mapping[str, Any]] = []
    if record.get("applicationId"):
        plan = plan_for(DecisionFilter(application_id=str(record["applicationId"])))
        records += read_page(plan, store.query, _RELATED, None)[0]  # whole records (its index)
    ids = {str(r.get("decisionId")) for r in records}
    for other in (record.get("reviewOf"), record.get("revokes")):
        if other and other not in ids:
            found = store.get(str(other))
            records += [found] if found else []
    return personal_values(service, records)


def every(store: AuditStore, plan: Plan) -> Iterator[DecisionSummaryItem]:
    """Every record of a plan, page after page."""
    token: str | None = None
    while True:
        items, token = read_page(plan, store.query, _PAGE, token, budget=_PAGE)
        yield from items
        if not token:
            return


def period_stats(store: AuditStore, service_id: str, period: Period) -> StatsView:
    figures = stats_of(every(store, plan_for(DecisionFilter(service_id, period))))
    return StatsView.model_validate(
        {**figures, "serviceId": service_id, "from": period.start, "to": period.end}
    )


def replay_page(
    store: AuditStore, service: ServiceDefinition, period: Period, limit: int, token: str | None
) -> ReplayPage:
    records, next_token = _full_page(store, service.id, period, limit, token)
    items = [
        ReplayItem.model_validate(
            {**_replay_view(replay(service, r)).model_dump(), "decision_id": r["decisionId"]}
        )
        for r in records
    ]
    return ReplayPage(items=items, next_token=next_token)


def what_if_page(
    store: AuditStore,
    service: ServiceDefinition,
    candidate: RuleSet,
    period: Period,
    limit: int,
    token: str | None,
) -> WhatIfPage:
    records, next_token = _full_page(store, service.id, period, limit, token)
    changes = []
    for record in records:
        if not_replayable(record):
            continue
        try:
            changes.append(what_if(service, candidate, record))
        except Malformed:
            continue  # counted as not replayed: replaying the period names it
    found = transitions(changes)
    return WhatIfPage(
        service_id=service.id,
        candidate=CandidateView(
            version=candidate.version,
            effective_from=candidate.effective_from,
            hash=candidate.hash,
        ),
        evaluated=len(changes),
        not_replayed=len(records) - len(changes),
        transitions=[
            TransitionView.model_validate(
                {
                    "from": t.recorded,
                    "to": t.candidate,
                    "count": t.count,
                    "examples": t.examples,
                    "rules": [RuleEffect(rule=rule, count=n) for rule, n in t.rules.most_common()],
                }
            )
            for t in found
        ],
        next_token=next_token,
    )


def _full_page(
    store: AuditStore, service_id: str, period: Period, limit: int, token: str | None
) -> tuple[list[DecisionRecord], str | None]:
    plan = plan_for(DecisionFilter(service_id, period))
    summaries, next_token = read_page(plan, store.query, limit, token)
    full = store.records(str(s["decisionId"]) for s in summaries)
    ids = [str(s["decisionId"]) for s in summaries]
    return [full[i] for i in ids if i in full], next_token


def _replay_view(result: Replay) -> ReplayView:
    return ReplayView(
        status=result.status.value,
        recorded_outcome=result.recorded_outcome,
        replayed_outcome=result.replayed_outcome,
        differences=[
            DifferenceView(field=d.field, recorded=d.recorded, replayed=d.replayed)
            for d in result.differences
        ],
        note=result.note,
    )
