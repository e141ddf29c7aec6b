"""Chain verification a page at a time: bounded work per request, whatever a day's volume.

A service's period has one chain per day and write shard; a busy day's chain holds thousands of
records, and reading one whole (its positions, its records, its day and shard) took longer than
the API allows. So a page reads at most `limit` records — chain positions, then the records of
the chain's day and shard — and at most CHAINS_PER_PAGE chains (an empty one still costs a head
read and two queries). A chain longer than a page is resumed on the next page where it stopped:
the page token carries its `verification.Walk` (the head read when it started, the position
and hash expected next, the counts and the first problem so far). The token is signed with the
PII key (a keyed hash), so an edited one — say, a walk told a chain had no problem — is a 400.

Each page item is one chain's part walked on that page: `problems` found on it, and the chain's
counts, `verified` and `firstProblem` so far; `complete` says the chain ended on this page (its
last item is then the chain's verdict).
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
from collections.abc import Callable
from typing import Any

from miaopi_platform.audit.pages import decode_state, encode_state, invalid_token
from miaopi_platform.audit.store import AuditStore
from miaopi_platform.audit.verification import (
    Finding,
    HeadState,
    Phase,
    Problem,
    Walk,
    check_partition,
    finish_walk,
    walk_positions,
)
from miaopi_platform.audit.views import ChainReportView
from miaopi_platform.records.indexes import BY_SERVICE_DAY
from miaopi_platform.records.items import ChainEntry, DecisionRecord

#: chains started on one page at most
CHAINS_PER_PAGE = 16
#: what the day-and-shard check reads of each record (not the content: no hash is checked)
_PARTITION_FIELDS = ("decidedAt", "chainId", "chainSeq", "hash", "chainedAt")

#: a keyed hash of a token's content (the PII hasher's digest)
Sign = Callable[[str], str]


def chains_page(
    store: AuditStore,
    chains: list[str],
    limit: int,
    token: str | None,
    sign: Sign,
    now: dt.datetime,
) -> tuple[list[ChainReportView], str | None]:
    """The reports of the chains' parts that `limit` records' reading covers, from where the
    token says the last page stopped; and the token of the next page (None: all verified)."""
    fingerprint = "|".join([chains[0], chains[-1], str(len(chains))])
    index, walk = _decode(token, fingerprint, len(chains), sign) if token else (0, None)
    items: list[ChainReportView] = []
    used = started = 0
    while index < len(chains) and used < limit:
        if walk is None:
            if started == CHAINS_PER_PAGE:
                break
            walk = Walk(chains[index], store.head(chains[index]), now)
            started += 1
        found: list[Finding] = []
        while walk.phase is not Phase.DONE and used < limit:
            used += _advance(store, walk, limit - used, found, now)
        items.append(_view(walk, found))
        if walk.phase is Phase.DONE:
            index, walk = index + 1, None
    if index >= len(chains):
        return items, None
    return items, _encode(index, walk, fingerprint, sign)


def _advance(
    store: AuditStore, walk: Walk, budget: int, found: list[Finding], now: dt.datetime
) -> int:
    """One step of a chain's walk reading at most about `budget` records; how many it read."""
    if walk.phase is Phase.CHAIN:
        entries, more = store.chain(walk.chain_id, walk.resume, budget)
        read = len(entries)
        next_prev = None
        if more and entries:
            # a page ends between positions: the records at one position are walked together
            last = int(entries[-1]["chainSeq"])
            whole = [e for e in entries if int(e["chainSeq"]) < last]
            if whole:
                next_prev = str(next(e for e in entries if int(e["chainSeq"]) == last)["prevHash"])
                entries, walk.resume = whole, last
            else:  # one position holds the whole page (and maybe more): read it all
                entries, walk.resume = store.at(walk.chain_id, last), last + 1
                read += len(entries)
                if len(entries) > 1:  # which of them the chain holds: the next one says
                    after, _ = store.chain(walk.chain_id, last + 1, 1)
                    next_prev = str(after[0]["prevHash"]) if after else None
        found += walk_positions(walk, _members(store, walk.chain_id, entries), next_prev, now)
        if not (more and entries):
            found += finish_walk(walk)
        return max(1, read)
    rows, more = store.query(BY_SERVICE_DAY, walk.chain_id, None, None, walk.after, budget)
    ids = [str(r["decisionId"]) for r in rows]
    marks = store.records(ids, _PARTITION_FIELDS)
    found += check_partition(walk, [marks[i] for i in ids if i in marks], now)
    if rows:
        walk.after = (str(rows[-1]["decidedAt"]), ids[-1])
    if not (more and rows):
        walk.phase = Phase.DONE
    return max(1, len(rows))


def _members(store: AuditStore, chain_id: str, entries: list[ChainEntry]) -> list[DecisionRecord]:
    """The full records of byChain entries that are (still) in this chain: the index only says
    which ids to read; membership is the full record's own chainId, read consistently."""
    ids = [str(e["decisionId"]) for e in entries]
    full = store.records(ids)
    return [full[i] for i in dict.fromkeys(ids) if i in full and full[i].get("chainId") == chain_id]


def _view(walk: Walk, found: list[Finding]) -> ChainReportView:
    head = walk.head
    return ChainReportView.model_validate(
        {
            "chainId": walk.chain_id,
            "records": walk.records,
            "pending": walk.pending,
            "head": {"seq": head.seq, "hash": head.hash} if head else None,
            "verified": walk.problems == 0,
            "firstProblem": _finding(walk.first) if walk.first else None,
            "problems": [_finding(f) for f in found],
            "problemCount": walk.problems,
            "walked": walk.walked,
            "complete": walk.phase is Phase.DONE,
        }
    )


def _finding(finding: Finding) -> dict[str, Any]:
    return {
        "kind": finding.kind.value,
        "detail": finding.detail,
        "seq": finding.seq,
        "decisionId": finding.decision_id,
    }


# ---------------------------------------------------------------- the page token


def _encode(index: int, walk: Walk | None, fingerprint: str, sign: Sign) -> str:
    state: dict[str, Any] = {"q": fingerprint, "i": index}
    if walk is not None:
        state["w"] = _walk_state(walk)
    body = json.dumps(state, sort_keys=True, separators=(",", ":"))
    return encode_state({"b": body, "m": sign(body)})


def _decode(token: str, fingerprint: str, size: int, sign: Sign) -> tuple[int, Walk | None]:
    outer = decode_state(token)
    body, mac = outer.get("b"), outer.get("m")
    if not (
        isinstance(body, str) and isinstance(mac, str) and hmac.compare_digest(mac, sign(body))
    ):
        raise invalid_token()
    state = json.loads(str(body))  # ours: it carries our signature
    index = state.get("i")
    if state.get("q") != fingerprint or not isinstance(index, int) or not 0 <= index < size:
        raise invalid_token()
    return index, _walk_from(state["w"]) if "w" in state else None


def _walk_state(walk: Walk) -> dict[str, Any]:
    head = walk.head
    return {
        "c": walk.chain_id,
        "h": [head.seq, head.hash, head.updated_at] if head else None,
        "r": walk.read_at.isoformat(),
        "p": walk.phase.value,
        "e": walk.expected,
        "v": walk.prev_hash,
        "l": walk.last_id,
        "t": walk.latest,
        "s": walk.seen,
        "o": walk.resume,
        "a": list(walk.after) if walk.after else None,
        "n": [walk.records, walk.pending, walk.problems],
        "f": _finding(walk.first) if walk.first else None,
    }


def _walk_from(state: dict[str, Any]) -> Walk:
    head = HeadState(*state["h"]) if state["h"] else None
    first = state["f"]
    records, pending, problems = state["n"]
    return Walk(
        chain_id=state["c"],
        head=head,
        read_at=dt.datetime.fromisoformat(state["r"]),
        phase=Phase(state["p"]),
        expected=state["e"],
        prev_hash=state["v"],
        last_id=state["l"],
        latest=state["t"],
        seen=state["s"],
        resume=state["o"],
        after=(state["a"][0], state["a"][1]) if state["a"] else None,
        records=records,
        pending=pending,
        problems=problems,
        first=Finding(Problem(first["kind"]), first["detail"], first["seq"], first["decisionId"])
        if first
        else None,
    )
