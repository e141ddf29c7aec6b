"""The chain sequencer in process: every new decision record is appended to its chain once,
whatever the redeliveries and however many sequencers race; a record whose content does not
match its hash is refused."""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any

from miaopi_platform.audit.sequencer import Appended, ChainStore
from miaopi_platform.records.seal import GENESIS, link_hash

from tests.integration.conftest import Stack, _Context
from tests.integration.test_audit_api import Audit, clean


def chains_of(audit: Audit) -> dict[str, list[dict[str, Any]]]:
    chains: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in audit.records():
        if "chainId" in record:
            chains[record["chainId"]].append(record)
    return {c: sorted(r, key=lambda r: r["chainSeq"]) for c, r in chains.items()}


def heads(stack: Stack) -> dict[str, tuple[int, str]]:
    items = stack.items("CHAIN_HEADS_TABLE")
    return {i["chainId"]["S"]: (int(i["seq"]["N"]), i["hash"]["S"]) for i in items}


def assert_valid(chain_id: str, records: list[dict[str, Any]], head: tuple[int, str]) -> None:
    prev = GENESIS
    for n, record in enumerate(records, start=1):
        assert record["chainSeq"] == n and record["prevHash"] == prev
        assert record["hash"] == link_hash(chain_id, n, prev, record["contentHash"])
        prev = record["hash"]
    assert head == (len(records), prev)


def test_every_new_record_is_chained_in_its_day_and_shard(stack: Stack, audit: Audit) -> None:
    # Given a dozen new decision records
    for _ in range(12):
        audit.decide(clean(stack))
    # When their INSERT records reach the sequencer
    answer = audit.chain()
    # Then every record is chained: positions 1..n per chain, each linked to the one before,
    # and each chain's head holds its last position and hash
    assert answer == {"batchItemFailures": []}
    chains = chains_of(audit)
    assert sum(len(c) for c in chains.values()) == 12 and len(chains) > 1
    for chain_id, records in chains.items():
        assert_valid(chain_id, records, heads(stack)[chain_id])
        assert {r["serviceDayShard"] for r in records} == {chain_id}


def test_a_redelivered_batch_chains_nothing_twice(stack: Stack, audit: Audit) -> None:
    # Given a batch of records the sequencer has chained
    for _ in range(5):
        audit.decide(clean(stack))
    items = audit.stack.items("DECISIONS_TABLE")
    assert audit.chain(items) == {"batchItemFailures": []}
    before, heads_before = audit.records(), heads(stack)
    # When the same batch is delivered again (a retry), and the sequencer's own updates
    # come back as MODIFY records
    again = audit.chain(items)
    module = stack.module("ChainSequencerFunction")
    modified = audit.stream_event(audit.stack.items("DECISIONS_TABLE"), event="MODIFY")
    ignored = module.lambda_handler(modified, _Context("sequencer"))
    # Then nothing changes: no record is chained again, no head moves
    assert again == ignored == {"batchItemFailures": []}
    assert audit.records() == before and heads(stack) == heads_before


def test_a_record_whose_content_does_not_match_its_hash_is_refused(
    stack: Stack, audit: Audit
) -> None:
    # Given two new records, one of them altered before the sequencer saw it
    first = audit.decide(clean(stack))["decision"]["decisionId"]
    audit.decide(clean(stack))
    items = sorted(audit.stack.items("DECISIONS_TABLE"), key=lambda i: i["decidedAt"]["S"])
    altered = next(n for n, i in enumerate(items) if i["decisionId"]["S"] == first)
    items[altered]["outcome"] = {"S": "REJECTED"}
    # When the batch reaches the sequencer
    answer = audit.chain(items)
    # Then the altered record is reported as failed (the stream retries it, then the failures
    # queue) and is not chained; the other one is
    failed = [f["itemIdentifier"] for f in answer["batchItemFailures"]]
    assert failed == [f"{altered + 1:021d}"]
    chained = {r["decisionId"] for r in audit.records() if "hash" in r}
    assert first not in chained and len(chained) == 1


def test_sequencers_racing_on_one_chain_leave_one_valid_chain(stack: Stack, audit: Audit) -> None:
    # Given 30 new records of one chain and two sequencers (two execution environments, each
    # with its own cache of heads) appending them at once, interleaved arbitrarily
    audit.decide(clean(stack))
    (first,) = audit.records()
    records = [first, *audit.copies(first, 29)]
    chain_id = first["serviceDayShard"]
    client = _Serialized(stack.clients.dynamodb)  # moto is not thread-safe; AWS is
    decisions, heads_table = stack.table("DECISIONS_TABLE"), stack.table("CHAIN_HEADS_TABLE")
    sequencers = [ChainStore(client, decisions, heads_table) for _ in range(2)]
    results: list[Appended] = []

    def run(sequencer: ChainStore, mine: list[dict[str, Any]]) -> None:
        for record in mine:
            results.append(sequencer.append(chain_id, record["decisionId"], record["contentHash"]))

    threads = [threading.Thread(target=run, args=(sequencers[n], records[n::2])) for n in (0, 1)]
    # When both run
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    # Then every record is chained once, in one gapless chain that verifies
    assert results.count(Appended.CHAINED) == 30
    chain = chains_of(audit)[chain_id]
    assert_valid(chain_id, chain, heads(stack)[chain_id])


def test_a_sequencer_with_a_stale_head_reads_it_again(stack: Stack, audit: Audit) -> None:
    # Given two sequencers; the first has appended a record and caches the head it wrote
    audit.decide(clean(stack))
    (first_record,) = audit.records()
    records = [first_record, *audit.copies(first_record, 2)]
    chain_id = first_record["serviceDayShard"]
    tables = (stack.table("DECISIONS_TABLE"), stack.table("CHAIN_HEADS_TABLE"))
    first, second = (ChainStore(stack.clients.dynamodb, *tables) for _ in range(2))
    assert first.append(chain_id, records[0]["decisionId"], records[0]["contentHash"]) == "CHAINED"
    # When the second appends (the first's cached head is now stale), then the first again
    assert second.append(chain_id, records[1]["decisionId"], records[1]["contentHash"]) == "CHAINED"
    assert first.append(chain_id, records[2]["decisionId"], records[2]["contentHash"]) == "CHAINED"
    # Then the chain has the three records in that order, and a repeat is a no-op
    chain = chains_of(audit)[chain_id]
    assert [r["decisionId"] for r in chain] == [r["decisionId"] for r in records]
    assert_valid(chain_id, chain, heads(stack)[chain_id])
    assert second.append(chain_id, records[0]["decisionId"], records[0]["contentHash"]) == "ALREADY"


class _Serialized:
    """A client whose calls run one at a time (moto's in-process backend is not thread-safe);
    calls of the two threads still interleave in any order."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(**kwargs: Any) -> Any:
            with self._lock:
                return method(**kwargs)

        return call
