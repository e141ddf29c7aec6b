"""Pages merged from several index partitions: every record once, in time order, whatever the
page size and the partitions' sizes; tokens resume exactly and belong to their query."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from miaopi_platform.audit.pages import Plan, Position, read_page
from miaopi_platform.aws.errors import BadRequest


class Partitions:
    """A fake index: partition key -> records sorted by (decidedAt, decisionId)."""

    def __init__(self, data: dict[str, list[dict[str, Any]]]) -> None:
        self.data = {
            k: sorted(v, key=lambda r: (r["decidedAt"], r["decisionId"])) for k, v in data.items()
        }
        self.calls = 0

    def query(
        self,
        index: str,
        key: str,
        low: str | None,
        high: str | None,
        after: Position | None,
        limit: int,
    ) -> tuple[list[dict[str, Any]], bool]:
        self.calls += 1
        rows = [
            r
            for r in self.data.get(key, [])
            if (low is None or low <= r["decidedAt"] <= str(high))
            and (after is None or (r["decidedAt"], r["decisionId"]) > after)
        ]
        return rows[:limit], len(rows) > limit


def records(rng: random.Random, key: str, count: int, day: str) -> list[dict[str, Any]]:
    return [
        {
            "decisionId": f"DEC{rng.randrange(10**9):09d}{key[-1]}{n}",
            "decidedAt": f"{day}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00.000Z",
            "outcome": rng.choice(["APPROVED", "REJECTED"]),
        }
        for n in range(count)
    ]


def read_all(plan: Plan, fake: Partitions, limit: int) -> tuple[list[str], int]:
    out: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        items, token = read_page(plan, fake.query, limit, token)
        out += [i["decisionId"] for i in items]
        pages += 1
        if not token:
            return out, pages


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.lists(st.integers(0, 9), min_size=4, max_size=4), min_size=1, max_size=3),
    limit=st.integers(1, 7),
    seed=st.integers(0, 1000),
)
def test_every_record_once_in_time_order(sizes: list[list[int]], limit: int, seed: int) -> None:
    # Given days of four shards each, of any sizes (some empty)
    rng = random.Random(seed)
    data: dict[str, list[dict[str, Any]]] = {}
    segments = []
    for d, shards in enumerate(sizes):
        day = f"2025-01-{d + 10:02d}"
        keys = tuple(f"svc#{day}#{s}" for s in range(4))
        segments.append(keys)
        for key, size in zip(keys, shards, strict=True):
            data[key] = records(rng, key, size, day)
    plan = Plan("byServiceDay", tuple(segments))
    # When reading every page
    got, pages = read_all(plan, Partitions(data), limit)
    # Then each record comes once, in (day, time) order, in pages of at most `limit`
    expected = sorted(
        (r for rows in data.values() for r in rows), key=lambda r: (r["decidedAt"], r["decisionId"])
    )
    assert got == [r["decisionId"] for r in expected]
    assert pages <= max(1, -(-len(expected) // limit)) + len(sizes)


def test_filters_apply_after_the_key_and_a_page_may_be_short() -> None:
    # Given one segment of two partitions, half of the records rejections
    rng = random.Random(1)
    data = {k: records(rng, k, 20, "2025-01-10") for k in ("a#0", "a#1")}
    plan = Plan("byOutcome", (("a#0", "a#1"),), filters=(("outcome", "REJECTED"),))
    # When reading with a small read budget per page
    out: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        items, token = read_page(plan, Partitions(data).query, 50, token, budget=7)
        assert len(items) <= 7
        out += items
        if not token:
            break
    # Then exactly the rejections come, in order
    wanted = sorted(
        (r for rows in data.values() for r in rows if r["outcome"] == "REJECTED"),
        key=lambda r: (r["decidedAt"], r["decisionId"]),
    )
    assert out == wanted


def test_a_token_belongs_to_its_query() -> None:
    # Given a token of one query
    rng = random.Random(2)
    data = {"a#0": records(rng, "a#0", 5, "2025-01-10")}
    plan = Plan("byServiceDay", (("a#0",),))
    _, token = read_page(plan, Partitions(data).query, 2, None)
    assert token
    # When used with another query, or edited, then it is a 400
    other = Plan("byServiceDay", (("b#0",),))
    for bad_plan, bad_token in ((other, token), (plan, token[:-3] + "xyz"), (plan, "!!")):
        with pytest.raises(BadRequest):
            read_page(bad_plan, Partitions(data).query, 2, bad_token)


@pytest.mark.parametrize("decided_at", ["2025-01-09T23:59:59.999Z", "2025-01-11T00:00:00.000Z", ""])
def test_a_token_whose_position_is_outside_the_period_is_a_400(decided_at: str) -> None:
    # Given a token of a query of one day, its cursor edited to a time outside the day (or none)
    import base64
    import json

    rng = random.Random(3)
    data = {"a#0": records(rng, "a#0", 5, "2025-01-10")}
    plan = Plan("byServiceDay", (("a#0",),), "2025-01-10T00:00:00.000Z", "2025-01-10T23:59:59.999Z")
    _, token = read_page(plan, Partitions(data).query, 2, None)
    assert token
    body = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    body["c"]["a#0"][0] = decided_at
    edited = base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")
    # When it is used, then it is a 400 naming nextToken
    with pytest.raises(BadRequest) as refused:
        read_page(plan, Partitions(data).query, 2, edited)
    assert refused.value.details == [{"field": "nextToken", "code": "invalid"}]
