"""Post-approval supervision (事后监管), as data: the reproducible spot-check draw, what a
re-verification found, and the revocation record that overturns an approval.

信任在先，过程监管，信用保障，联合惩戒: an automatic approval is trusted at once, re-verified
against fresh data, sampled for a human spot check, and revoked — by a new decision record, never an
edit — when it turns out to rest on false data; the subject then goes on the credit list.
Nothing here talks to AWS.

What SupervisionTable holds (`SupervisionRecord`: the verification and the draw) and the notices
sent are typed here, TypedDicts like records/items.py: plain dicts, keys camelCase as stored.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any, Literal, NotRequired, TypedDict

from miaopi.engine import matching_risk_factors
from miaopi.model import Decision, EvidenceItem, Outcome, RuleSet, ServiceDefinition

from miaopi_platform.aws.clock import iso
from miaopi_platform.records.decision import (
    CREDIT_LISTED,
    FALSE_DATA,
    NO_LONGER_HOLDS,
    reasons_of,
    sealed,
)
from miaopi_platform.records.items import DecisionInForce, DecisionRecord
from miaopi_platform.records.items import Outcome as StoredOutcome
from miaopi_platform.review.items import DecisionNotice

SupervisionStatus = Literal["UNDER_SUPERVISION", "REVOKED"]
UNDER_SUPERVISION: SupervisionStatus = "UNDER_SUPERVISION"
REVOKED: SupervisionStatus = "REVOKED"

#: the supervisor that revokes automatically
SUPERVISION = "supervision"
CREDIT_SOURCE = "credit-list"


class SamplingRecord(TypedDict):
    """A spot-check draw as recorded: enough to reproduce it (see `Draw`)."""

    seed: str
    algorithm: str
    baseRate: float
    rate: float
    draw: float
    sampled: bool
    riskFactors: list[str]


class VerificationRecord(TypedDict):
    """What re-verifying an approval against fresh data found."""

    at: str
    outcome: StoredOutcome
    failingRules: list[str]
    ruleSetVersion: str


class SupervisionRecord(TypedDict):
    """SupervisionTable: one automatic approval under supervision (keyed by its decision id)."""

    decisionId: str
    applicationId: str
    serviceId: str
    subjectHash: str
    applicantId: str
    approvedAt: str
    supervisedUntil: str
    status: SupervisionStatus
    #: the re-verification right after the approval, and the spot-check draw
    verification: VerificationRecord
    sampling: SamplingRecord
    #: a later re-check that revoked it (the subject was listed since)
    recheck: NotRequired[VerificationRecord]
    #: the revocation that ended its supervision
    revokedBy: NotRequired[str]


class RevocationNotice(TypedDict):
    """What the applicant and staff are told of a revocation: ids, status and rules."""

    kind: Literal["REVOCATION"]
    applicationId: str
    serviceId: str
    status: StoredOutcome
    decisionId: str
    revokes: str | None
    cause: str | None
    rules: list[str]
    decidedAt: str
    audience: NotRequired[Literal["staff"]]


#: what supervision publishes
Notice = DecisionNotice | RevocationNotice


@dataclass(frozen=True, slots=True)
class Draw:
    """A spot-check draw: reproducible from its seed alone (random.Random(seed).random())."""

    seed: str
    rate: float
    value: float
    risk_factors: tuple[str, ...]

    @property
    def sampled(self) -> bool:
        return self.value < self.rate

    def as_record(self, base_rate: float) -> SamplingRecord:
        return {
            "seed": self.seed,
            "algorithm": "python-random-mt19937(int(seed, 16)).random()",
            "baseRate": base_rate,
            "rate": self.rate,
            "draw": self.value,
            "sampled": self.sampled,
            "riskFactors": list(self.risk_factors),
        }


def draw_value(seed: str) -> float:
    """The draw a seed gives: a Mersenne Twister seeded with the seed's integer value."""
    return random.Random(int(seed, 16)).random()  # noqa: S311 - sampling, not secrecy


def spot_check_draw(service: ServiceDefinition, approval: DecisionRecord, seed: str) -> Draw:
    """Whether an approval is drawn for a spot check. The seed is derived per decision with a
    secret key, so applicants cannot predict it and a retry draws the same."""
    on = dt.date.fromisoformat(approval["applicationDate"])
    matched = matching_risk_factors(service, approval["application"], approval["facts"], on)
    base = float(service.file.supervision.sample_rate)
    rate = max([base, *(f.rate for f in matched)])
    return Draw(seed, rate, draw_value(seed), tuple(f.id for f in matched))


def credit_aliases(service: ServiceDefinition) -> frozenset[str]:
    return frozenset(a for a, e in service.evidence.items() if e.source == CREDIT_SOURCE)


def cause_of(
    service: ServiceDefinition, rule_set: RuleSet, decision: Decision, later: bool = False
) -> str:
    """Why a re-verified approval no longer holds: only credit-list rules failing means the
    subject was listed since. Any other rule failing at the verification right after the
    approval means it rested on false data; found by a `later` re-check, that the facts
    changed (a licence expired, a move), which lists nobody."""
    credit = credit_aliases(service)
    rules = {r.id: r for r in rule_set.rules}
    failing = [r.rule_id for r in decision.reasons if r.on_fail == "REJECT"]
    if failing and all(rules[f].sources and rules[f].sources <= credit for f in failing):
        return CREDIT_LISTED
    return NO_LONGER_HOLDS if later else FALSE_DATA


def supervision_item(
    service: ServiceDefinition,
    approval: DecisionRecord,
    verification: Decision,
    draw: Draw,
    now: dt.datetime,
) -> SupervisionRecord:
    """The supervision record of one automatic approval: part of the audit trail."""
    approved = dt.datetime.fromisoformat(approval["decidedAt"])
    until = approved.date() + dt.timedelta(days=service.file.supervision.days)
    return {
        "decisionId": approval["decisionId"],
        "applicationId": approval["applicationId"],
        "serviceId": approval["serviceId"],
        "subjectHash": approval["subjectHash"],
        "applicantId": approval["applicantId"],
        "approvedAt": approval["decidedAt"],
        "supervisedUntil": until.isoformat(),
        "status": UNDER_SUPERVISION,
        "verification": verification_record(verification, now),
        "sampling": draw.as_record(float(service.file.supervision.sample_rate)),
    }


def verification_record(decision: Decision, now: dt.datetime) -> VerificationRecord:
    return {
        "at": iso(now),
        "outcome": decision.outcome.value,
        "failingRules": [r.rule_id for r in decision.reasons],
        "ruleSetVersion": decision.rule_set_version,
    }


@dataclass(frozen=True, slots=True)
class Revocation:
    record: DecisionRecord
    #: the application's UpdateItem: its expression, names and (plain) values
    update: str
    names: dict[str, str]
    values: dict[str, Any]
    #: the transaction item that releases the application's grant (records.grants.settle)
    grant: dict[str, Any] | None = None


def revocation(
    approval: DecisionRecord,
    verification: Decision,
    evidence: dict[str, EvidenceItem],
    cause: str,
    decision_id: str,
    now: dt.datetime,
) -> Revocation:
    """The decision record that revokes an approval, and the application's new state."""
    decided_at = iso(now)
    reasons = [r for r in reasons_of(verification) if r["onFail"] == "REJECT"]
    record: DecisionRecord = {
        "decisionId": decision_id,
        "applicationId": approval["applicationId"],
        "serviceId": approval["serviceId"],
        "decidedAt": decided_at,
        "sequence": int(approval.get("sequence", 1)) + 1,
        "outcome": Outcome.REVOKED.value,
        "decidedBy": "SYSTEM",
        "deciderId": SUPERVISION,
        "kind": "REVOCATION",
        "revokes": approval["decisionId"],
        "cause": cause,
        "applicantId": approval["applicantId"],
        "subjectHash": approval["subjectHash"],
        "ruleSetVersion": verification.rule_set_version,
        "ruleSetHash": verification.rule_set_hash,
        "applicationDate": approval["applicationDate"],
        "application": approval["application"],
        "evidence": {
            alias: {"status": item.status.value, "record": item.record}
            for alias, item in sorted(evidence.items())
        },
        "facts": verification.facts,
        "reasons": reasons,
        "outputs": {},
        "latencyMs": 0,
    }
    view: DecisionInForce = {
        "decisionId": decision_id,
        "outcome": Outcome.REVOKED.value,
        "decidedBy": "SYSTEM",
        "ruleSetVersion": verification.rule_set_version,
        "ruleSetHash": verification.rule_set_hash,
        "reasons": reasons,
        "decidedAt": decided_at,
        "latencyMs": 0,
        "revokes": approval["decisionId"],
    }
    return Revocation(
        # the seal adds its index keys and content hash, all DecisionRecord's own
        record=sealed(record),
        update=revoke_update(),
        names=revoke_names(),
        values={
            ":status": Outcome.REVOKED.value,
            ":decision": view,
            ":revoked": "REVOKED",
            ":at": decided_at,
            ":by": decision_id,
            ":expected": Outcome.APPROVED.value,
            ":approval": approval["decisionId"],
        },
    )


def revoke_update() -> str:
    """The application's update when its approval is revoked (certificate included)."""
    return (
        "SET #status = :status, decision = :decision, certificate.#cstatus = :revoked, "
        "certificate.revokedAt = :at, certificate.revokedBy = :by"
    )


def revoke_names() -> dict[str, str]:
    return {"#status": "status", "#cstatus": "status"}


def revocation_notice(record: DecisionRecord) -> RevocationNotice:
    """What the applicant and staff are told: ids, status and rules; no personal data."""
    return {
        "kind": "REVOCATION",
        "applicationId": record["applicationId"],
        "serviceId": record["serviceId"],
        "status": Outcome.REVOKED.value,
        "decisionId": record["decisionId"],
        "revokes": record.get("revokes"),
        "cause": record.get("cause"),
        "rules": [r["ruleId"] for r in record.get("reasons", [])],
        "decidedAt": record["decidedAt"],
    }
