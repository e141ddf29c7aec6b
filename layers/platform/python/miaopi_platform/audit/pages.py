"""Pages of decisions merged in time order from several index partitions, with one opaque token.

A query plan names an index and its partitions in segments: the partitions of one segment are
merged by decidedAt (the write shards of a day, or of an outcome), and segments are read one
after the other (the days of a period, which do not overlap). The page token holds the segment
and, per partition, the last record handed out (or that it is done): exactly where each
partition's next DynamoDB query starts. It is bound to the plan: a token from another query is
a 400. Filters that no key serves are applied here, after the key's query; a page then holds
fewer items than asked for (never zero unless the query is finished or the read budget of a
page ran out, like DynamoDB's own filtered queries).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import heapq
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal, TypedDict

from miaopi_platform.aws.errors import BadRequest
from miaopi_platform.aws.json_input import loads
from miaopi_platform.records.items import DecisionSummaryItem

#: (decidedAt, decisionId): a record's place in its partition
Position = tuple[str, str]
#: (index, partition key value, decidedAt from, decidedAt to, after, limit) -> (items, more)
Query = Callable[
    [str, str, str | None, str | None, Position | None, int],
    tuple[list[DecisionSummaryItem], bool],
]
_DONE: Literal["done"] = "done"
#: where a partition stopped: its last record handed out ([decidedAt, decisionId]), or done
Cursor = list[str] | Literal["done"]


class _PageToken(TypedDict):
    """A page token's content: the plan's fingerprint, the segment, each partition's cursor."""

    q: str
    s: int
    c: dict[str, Cursor]


#: a token's nesting: {"c": {partition: [decidedAt, decisionId]}}; deeper is refused unparsed
_TOKEN_DEPTH = 3
#: records read (matched or not) per page at most: a page's latency stays bounded
READ_BUDGET = 1000


@dataclass(frozen=True, slots=True)
class Plan:
    index: str
    segments: tuple[tuple[str, ...], ...]
    low: str | None = None
    high: str | None = None
    #: attribute -> value the records must also have
    filters: tuple[tuple[str, str], ...] = ()

    def fingerprint(self) -> str:
        text = json.dumps([self.index, self.segments, self.low, self.high, self.filters])
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def matches(self, item: DecisionSummaryItem) -> bool:
        return all(str(item.get(name)) == value for name, value in self.filters)


@dataclass(slots=True)
class _State:
    segment: int = 0
    cursors: dict[str, Cursor] = field(default_factory=dict)


def read_page(
    plan: Plan, query: Query, limit: int, token: str | None, budget: int = READ_BUDGET
) -> tuple[list[DecisionSummaryItem], str | None]:
    state = _decode(token, plan) if token else _State()
    out: list[DecisionSummaryItem] = []
    read = 0
    while state.segment < len(plan.segments):
        keys = [k for k in plan.segments[state.segment] if state.cursors.get(k) != _DONE]
        fetch = max(10, -(-limit // max(1, len(keys))) + 5)
        streams = {k: _stream(plan, query, k, _position(state.cursors.get(k)), fetch) for k in keys}
        heap: list[tuple[str, str, str, DecisionSummaryItem]] = []
        for key, stream in streams.items():
            _push(heap, key, stream, state)
        while heap and len(out) < limit and read < budget:
            decided_at, decision_id, key, item = heapq.heappop(heap)
            state.cursors[key] = [decided_at, decision_id]
            read += 1
            if plan.matches(item):
                out.append(item)
            _push(heap, key, streams[key], state)
        if heap:  # the page is full: the token resumes every partition where it stopped
            break
        state = _State(state.segment + 1)
        if len(out) >= limit or read >= budget:
            break
    if state.segment >= len(plan.segments):
        return out, None
    return out, _encode(state, plan)


def _push(
    heap: list[tuple[str, str, str, DecisionSummaryItem]],
    key: str,
    stream: Iterator[DecisionSummaryItem],
    state: _State,
) -> None:
    item = next(stream, None)
    if item is None:
        state.cursors[key] = _DONE
        return
    heapq.heappush(heap, (str(item["decidedAt"]), str(item["decisionId"]), key, item))


def _stream(
    plan: Plan, query: Query, key: str, after: Position | None, fetch: int
) -> Iterator[DecisionSummaryItem]:
    while True:
        items, more = query(plan.index, key, plan.low, plan.high, after, fetch)
        yield from items
        if not more or not items:
            return
        after = (str(items[-1]["decidedAt"]), str(items[-1]["decisionId"]))


def _position(cursor: Cursor | None) -> Position | None:
    if cursor is None:
        return None
    return str(cursor[0]), str(cursor[1])


def _encode(state: _State, plan: Plan) -> str:
    return _dump({"q": plan.fingerprint(), "s": state.segment, "c": state.cursors})


def _decode(token: str, plan: Plan) -> _State:
    body = _load(token)
    segment, cursors = body.get("s"), body.get("c")
    if not (
        body.get("q") == plan.fingerprint()
        and isinstance(segment, int)
        and 0 <= segment < len(plan.segments)
        and isinstance(cursors, dict)
        and set(cursors) <= set(plan.segments[segment])
        and all(_valid_cursor(c, plan) for c in cursors.values())
    ):
        raise _invalid()
    return _State(segment, dict(cursors))


def _valid_cursor(cursor: object, plan: Plan) -> bool:
    """_DONE, or (decidedAt, decisionId) of a record the plan's query can return: an edited
    position outside the period would start DynamoDB's query outside its key condition."""
    if cursor == _DONE:
        return True
    if not (
        isinstance(cursor, list)
        and len(cursor) == 2
        and all(isinstance(c, str) and c for c in cursor)
    ):
        return False
    decided_at = cursor[0]
    return (plan.low is None or plan.low <= decided_at) and (
        plan.high is None or decided_at <= plan.high
    )


def encode_state(body: Mapping[str, object]) -> str:
    """A token for a page's state of the caller's own making (chain verification)."""
    return _dump(body)


def decode_state(token: str) -> dict[str, object]:
    """A token's content, not trusted yet (see encode_state)."""
    return _load(token)


def invalid_token() -> BadRequest:
    return _invalid()


def _invalid() -> BadRequest:
    return BadRequest("nextToken is not valid", [{"field": "nextToken", "code": "invalid"}])


def _dump(body: _PageToken | Mapping[str, object]) -> str:
    raw = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _load(token: str) -> dict[str, object]:
    """A token's content, not trusted yet: each caller checks what it reads."""
    try:
        body = loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)), _TOKEN_DEPTH)
    except (binascii.Error, ValueError):  # UnicodeDecodeError and TooDeep too
        raise _invalid() from None
    if not isinstance(body, dict):
        raise _invalid()
    return body
