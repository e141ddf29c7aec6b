"""Replay and what-if: decide a stored application again from its record alone.

A decision record holds the normalized application, the evidence snapshot, the application
date and the rule-set version and hash, so `decide` can run again without asking any source.
Replay uses the recorded version (the rules layer keeps every version) and must reproduce the
outcome, the failing rules and the outputs. What-if runs a candidate rule set over the same
records and reports how outcomes would change and which rules make them change.

Only the rules' own decisions are replayable: a reviewer's decision or a revocation was made
by a person or by supervision on other evidence. Nothing here talks to AWS.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from miaopi.engine import decide
from miaopi.errors import RuleLoadError
from miaopi.loader import load_rule_set
from miaopi.model import (
    Decision,
    EvidenceItem,
    EvidenceStatus,
    ParameterSchedule,
    RuleSet,
    ServiceDefinition,
)
from miaopi.overrides import candidate_from_text

from miaopi_platform.aws.dynamo import plain, storable
from miaopi_platform.aws.errors import UnprocessableEntity
from miaopi_platform.records.decision import SYSTEM
from miaopi_platform.records.items import DecisionRecord, StoredReason

#: examples kept per what-if transition
EXAMPLES = 5


class ReplayStatus(StrEnum):
    REPRODUCED = "REPRODUCED"
    MISMATCH = "MISMATCH"
    NOT_REPLAYED = "NOT_REPLAYED"


@dataclass(frozen=True, slots=True)
class Difference:
    field: str
    recorded: Any
    replayed: Any


@dataclass(frozen=True, slots=True)
class Replay:
    decision_id: str
    status: ReplayStatus
    recorded_outcome: str
    replayed_outcome: str | None = None
    differences: tuple[Difference, ...] = ()
    note: str | None = None


def not_replayable(record: DecisionRecord) -> str | None:
    """Why a record is not the rules' own decision, or None when it is."""
    if record.get("revokes") or record.get("outcome") == "REVOKED":
        return "a revocation: supervision decided it on re-verified evidence"
    if record.get("decidedBy") != SYSTEM:
        return "a human decision: a reviewer decided it, not the rules"
    return None


class Malformed(Exception):
    """A record that cannot be decided again: names the field (never its value)."""

    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


def rerun(service: ServiceDefinition, rule_set: RuleSet, record: DecisionRecord) -> Decision:
    """`decide` on the record's own application, evidence snapshot and application date;
    Malformed when the record does not hold them as records do."""
    snapshots = record.get("evidence") or {}
    if not isinstance(snapshots, dict):
        raise Malformed("evidence")
    evidence = {}
    for alias, snapshot in snapshots.items():
        try:
            status = EvidenceStatus(snapshot["status"])
        except (KeyError, TypeError, ValueError):
            raise Malformed(f"evidence.{alias}.status") from None
        evidence[alias] = EvidenceItem(status, snapshot.get("record"))
    try:
        on = dt.date.fromisoformat(str(record["applicationDate"]))
    except (KeyError, ValueError):
        raise Malformed("applicationDate") from None
    application = record.get("application")
    if not isinstance(application, dict):
        raise Malformed("application")
    try:
        return decide(service, rule_set, application, evidence, on)
    except (KeyError, TypeError, ValueError, ArithmeticError):
        raise Malformed("application") from None


def replay(service: ServiceDefinition, record: DecisionRecord) -> Replay:
    """One record decided again. A malformed record is a MISMATCH that names the field: one
    record never fails a whole page."""
    try:
        return _replay(service, record)
    except Malformed as exc:
        return Replay(
            str(record.get("decisionId")),
            ReplayStatus.MISMATCH,
            str(record.get("outcome")),
            note=f"record malformed: {exc.field}",
        )


def _replay(service: ServiceDefinition, record: DecisionRecord) -> Replay:
    decision_id, recorded = str(record.get("decisionId")), str(record.get("outcome"))
    reason = not_replayable(record)
    if reason:
        return Replay(decision_id, ReplayStatus.NOT_REPLAYED, recorded, note=reason)
    version, recorded_hash = record.get("ruleSetVersion"), record.get("ruleSetHash")
    rule_set = next((r for r in service.rule_sets if r.version == version), None)
    if rule_set is None:
        return Replay(
            decision_id,
            ReplayStatus.MISMATCH,
            recorded,
            differences=(Difference("ruleSetVersion", version, None),),
            note="the rules layer does not hold this rule-set version",
        )
    if rule_set.hash != recorded_hash:
        return Replay(
            decision_id,
            ReplayStatus.MISMATCH,
            recorded,
            differences=(Difference("ruleSetHash", recorded_hash, rule_set.hash),),
            note="the rule-set version's content changed after it decided",
        )
    decision = rerun(service, rule_set, record)
    differences = []
    if decision.outcome.value != recorded:
        differences.append(Difference("outcome", recorded, decision.outcome.value))
    reasons = record.get("reasons") or []
    if not isinstance(reasons, list) or not all(isinstance(r, dict) for r in reasons):
        raise Malformed("reasons")
    was, now = _failing(reasons), _failing_of(decision)
    if was != now:
        differences.append(Difference("failingRules", was, now))
    was_out, now_out = (
        plain(storable(record.get("outputs") or {})),
        plain(storable(dict(decision.outputs))),
    )
    if was_out != now_out:
        differences.append(Difference("outputs", was_out, now_out))
    status = ReplayStatus.MISMATCH if differences else ReplayStatus.REPRODUCED
    return Replay(decision_id, status, recorded, decision.outcome.value, tuple(differences))


def _failing(reasons: list[StoredReason]) -> list[str]:
    return sorted(f"{r.get('ruleId')}:{r.get('result')}" for r in reasons)


def _failing_of(decision: Decision) -> list[str]:
    return sorted(f"{r.rule_id}:{r.result.value}" for r in decision.reasons)


# ---------------------------------------------------------------- what-if


def load_candidate(service: ServiceDefinition, text: str) -> RuleSet:
    """A candidate rule set from its YAML text (a full rule set, or parameter overrides on a
    published one: miaopi.overrides), checked like a published one (422 if not), and applied
    as if always in force: its first value of each parameter also counts for application
    dates before its effectiveFrom."""
    with tempfile.TemporaryDirectory(prefix="miaopi-candidate-") as folder:
        path = Path(folder) / "candidate.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            rule_set = candidate_from_text(service, text) or load_rule_set(service, path)
        except RuleLoadError as exc:
            raise UnprocessableEntity(
                "the candidate rule set does not load",
                [{"field": "ruleSet", "code": "invalid", "message": f"{exc.where}: {exc.reason}"}],
            ) from None
    parameters = tuple(
        ParameterSchedule(p.name, ((dt.date.min, p.values[0][1]), *p.values[1:]))
        for p in rule_set.parameters
    )
    return dataclasses.replace(rule_set, parameters=parameters, path="candidate")


@dataclass(frozen=True, slots=True)
class Change:
    decision_id: str
    recorded: str
    candidate: str
    #: rules that fail under the candidate but did not (and the reverse)
    now_failing: tuple[str, ...]
    now_passing: tuple[str, ...]


def what_if(service: ServiceDefinition, candidate: RuleSet, record: DecisionRecord) -> Change:
    decision = rerun(service, candidate, record)
    was = {str(r.get("ruleId")) for r in record.get("reasons") or []}
    now = set(decision.failing_rule_ids)
    return Change(
        str(record["decisionId"]),
        str(record["outcome"]),
        decision.outcome.value,
        tuple(sorted(now - was)),
        tuple(sorted(was - now)),
    )


@dataclass(slots=True)
class Transition:
    recorded: str
    candidate: str
    count: int = 0
    examples: list[str] = field(default_factory=list)
    #: "EA-AGE now fails" -> how many decisions of this transition it explains
    rules: Counter[str] = field(default_factory=Counter)

    def add(self, change: Change) -> None:
        self.count += 1
        if len(self.examples) < EXAMPLES:
            self.examples.append(change.decision_id)
        self.rules.update(f"{rule} now fails" for rule in change.now_failing)
        self.rules.update(f"{rule} now passes" for rule in change.now_passing)


def transitions(changes: list[Change]) -> list[Transition]:
    """Counts per (recorded -> candidate) outcome, the changed ones first."""
    found: dict[tuple[str, str], Transition] = {}
    for change in changes:
        key = (change.recorded, change.candidate)
        found.setdefault(key, Transition(*key)).add(change)
    return sorted(found.values(), key=lambda t: (t.recorded == t.candidate, -t.count, t.recorded))
