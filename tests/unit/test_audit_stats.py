"""Statistics of a period from decision summaries: rates over the rules' own decisions, failing
rules, nearest-rank latency percentiles, reviewer overturns, spot checks and revocations."""

from __future__ import annotations

from typing import Any

from miaopi_platform.audit.stats import nearest_rank, stats_of


def system(outcome: str, latency: float, *rules: str) -> dict[str, Any]:
    return {
        "outcome": outcome,
        "decidedBy": "SYSTEM",
        "latencyMs": latency,
        "reasons": [{"ruleId": r} for r in rules],
    }


def test_figures_of_a_mixed_period() -> None:
    # Given 4 approvals, 3 rejections, 3 referrals, reviewers deciding two referrals (one
    # approved), a spot check finding an approval valid, and a revocation
    summaries = [system("APPROVED", float(n)) for n in range(1, 5)]
    summaries += [system("REJECTED", 5.0, "EA-AGE"), system("REJECTED", 6.0, "EA-AGE", "EA-HUKOU")]
    summaries += [system("REJECTED", 7.0, "EA-ALIVE")]
    summaries += [system("PENDING_REVIEW", 8.0 + n, "EA-BANK") for n in range(3)]
    summaries += [
        {"outcome": "APPROVED", "decidedBy": "REVIEWER", "kind": "REFERRAL", "latencyMs": 9e6},
        {"outcome": "REJECTED", "decidedBy": "REVIEWER", "kind": "REFERRAL", "latencyMs": 9e6},
        {"outcome": "APPROVED", "decidedBy": "REVIEWER", "kind": "SPOT_CHECK"},
        {"outcome": "REVOKED", "decidedBy": "SYSTEM", "revokes": "DEC1", "latencyMs": 0},
    ]
    # When computing the figures
    stats = stats_of(summaries)
    # Then rates are over the rules' ten decisions, reviewers' and revocations apart
    assert stats["total"] == 14
    assert stats["system"] == {
        "decisions": 10,
        "approved": 4,
        "referred": 3,
        "rejected": 3,
        "autoApprovalRate": 0.4,
        "referralRate": 0.3,
        "rejectionRate": 0.3,
    }
    assert stats["topFailingRules"][:2] == [
        {"ruleId": "EA-BANK", "count": 3, "share": 0.3},
        {"ruleId": "EA-AGE", "count": 2, "share": 0.2},
    ]
    assert stats["latencyMs"] == {"count": 10, "median": 5.0, "p95": 10.0}
    assert stats["reviews"] == {"decisions": 2, "approved": 1, "rejected": 1, "overturnRate": 0.5}
    assert stats["spotChecksValid"] == 1 and stats["revocations"] == 1


def test_an_empty_period_has_no_rates() -> None:
    stats = stats_of([])
    assert stats["total"] == 0 and stats["system"]["autoApprovalRate"] is None
    assert stats["latencyMs"] == {"count": 0, "median": None, "p95": None}


def test_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert nearest_rank(values, 0.5) == 50.0 and nearest_rank(values, 0.95) == 95.0
    assert nearest_rank([3.0], 0.95) == 3.0
