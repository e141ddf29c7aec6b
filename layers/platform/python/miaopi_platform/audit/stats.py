"""Statistics of a service and period, from the decision summaries (byServiceDay).

- Rates are over the rules' own first decisions (decidedBy SYSTEM, not revocations): the
  auto-approval, referral and rejection rates are their APPROVED, PENDING_REVIEW and REJECTED
  shares.
- Top failing rules: how many of those decisions each rule failed (or could not check).
- Latency: the rules' decisions' own latency (latencyMs), median and p95 by nearest rank.
- Reviewer overturn rate: a referral is the rules holding an application back; a reviewer who
  approves it overturns that, one who rejects it upholds it. So: reviewer approvals / reviewer
  decisions. Spot checks of approvals are not reviews of referrals: one that finds the
  approval valid is counted apart, one that finds it invalid is a revocation.
- Revocations: REVOKED records (supervision or a spot check overturning an approval).

Computed by reading the period's summaries: fine for thousands of decisions a day. At millions,
the same figures would come from per-service-day counters (and latency histograms) that a
stream consumer keeps, summed over the period.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from miaopi_platform.records.decision import REVIEWER, SYSTEM
from miaopi_platform.records.items import DecisionSummaryItem

TOP_RULES = 10
#: a reviewer's check of an automatic approval (issue 5), not a review of a referral
SPOT_CHECK = "SPOT_CHECK"


@dataclass(slots=True)
class Stats:
    total: int = 0
    by_outcome: Counter[str] = field(default_factory=Counter)
    system: Counter[str] = field(default_factory=Counter)
    reviewer: Counter[str] = field(default_factory=Counter)
    revocations: int = 0
    #: spot checks that found the approval valid (an invalid one is a revocation)
    spot_checks_valid: int = 0
    failing: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)

    def add(self, summary: DecisionSummaryItem) -> None:
        outcome = str(summary.get("outcome"))
        self.total += 1
        self.by_outcome[outcome] += 1
        if outcome == "REVOKED" or summary.get("revokes"):
            self.revocations += 1
        elif summary.get("decidedBy") == SYSTEM:
            self.system[outcome] += 1
            self.failing.update({str(r.get("ruleId")) for r in summary.get("reasons") or []})
            if isinstance(summary.get("latencyMs"), int | float):
                self.latencies.append(float(summary["latencyMs"]))
        elif summary.get("decidedBy") == REVIEWER and summary.get("kind") == SPOT_CHECK:
            self.spot_checks_valid += 1
        elif summary.get("decidedBy") == REVIEWER:
            self.reviewer[outcome] += 1

    def as_dict(self) -> dict[str, Any]:
        decided = sum(self.system.values())
        reviewed = sum(self.reviewer.values())
        ordered = sorted(self.latencies)
        return {
            "total": self.total,
            "byOutcome": dict(sorted(self.by_outcome.items())),
            "system": {
                "decisions": decided,
                "approved": self.system["APPROVED"],
                "referred": self.system["PENDING_REVIEW"],
                "rejected": self.system["REJECTED"],
                "autoApprovalRate": _rate(self.system["APPROVED"], decided),
                "referralRate": _rate(self.system["PENDING_REVIEW"], decided),
                "rejectionRate": _rate(self.system["REJECTED"], decided),
            },
            "topFailingRules": [
                {"ruleId": rule, "count": n, "share": _rate(n, decided)}
                for rule, n in sorted(self.failing.items(), key=lambda kv: (-kv[1], kv[0]))[
                    :TOP_RULES
                ]
            ],
            "latencyMs": {
                "count": len(ordered),
                "median": nearest_rank(ordered, 0.5),
                "p95": nearest_rank(ordered, 0.95),
            },
            "reviews": {
                "decisions": reviewed,
                "approved": self.reviewer["APPROVED"],
                "rejected": self.reviewer["REJECTED"],
                "overturnRate": _rate(self.reviewer["APPROVED"], reviewed),
            },
            "spotChecksValid": self.spot_checks_valid,
            "revocations": self.revocations,
        }


def stats_of(summaries: Iterable[DecisionSummaryItem]) -> dict[str, Any]:
    stats = Stats()
    for summary in summaries:
        stats.add(summary)
    return stats.as_dict()


def nearest_rank(ordered: list[float], q: float) -> float | None:
    """The q-quantile of sorted values by the nearest-rank method (None for no values)."""
    if not ordered:
        return None
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None
