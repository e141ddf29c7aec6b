"""The local stack's periodic snapshot (infra/local/persist.py) with its journal: a snapshot
holds every table as it is at one point of the journal, whether or not a table was written
since the last one (only the written ones are read again, under the DynamoDB lock)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.moto_api._internal.models import moto_api_backend

from infra.local import moto_server
from infra.local.journal import Journal
from infra.local.persist import PeriodicSnapshot, SnapshotStore
from infra.local.stack import free_port, start_moto

TABLES = {"HotTable": "hot", "ColdTable": "cold"}


@pytest.fixture
def moto(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Journal]]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("MOTO_PORT", "unset")  # start_moto sets it: undone after the test
    for target, name, _value in moto_server.patches():
        monkeypatch.setattr(target, name, getattr(target, name))
    journal = Journal(tmp_path / "journal")
    port = free_port()
    server = start_moto("127.0.0.1", port, journal=journal)
    try:
        dynamodb = boto3.client(
            "dynamodb",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        for name in TABLES.values():
            dynamodb.create_table(
                TableName=name,
                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        yield dynamodb, journal
    finally:
        server.stop()
        journal.close()
        moto_api_backend.reset()


def saved(store: SnapshotStore) -> dict[str, set[str]]:
    """The item ids of each table in the snapshot on disk."""
    directory = store.directory
    return {
        logical_id: {
            json.loads(line)["id"]["S"]
            for line in (directory / f"{logical_id}.jsonl").read_text().splitlines()
        }
        for logical_id in TABLES
    }


def put(dynamodb: Any, table: str, item_id: str) -> None:
    dynamodb.put_item(TableName=table, Item={"id": {"S": item_id}})


def test_a_snapshot_holds_the_tables_written_since_the_last_and_those_that_were_not(
    moto: tuple[Any, Journal], tmp_path: Path
) -> None:
    # Given both tables with an item, saved once, and the journal on from there
    dynamodb, journal = moto
    put(dynamodb, "hot", "h1")
    put(dynamodb, "cold", "c1")
    store = SnapshotStore(tmp_path / "data")
    snapshots = PeriodicSnapshot(store, TABLES, "us-east-1", interval=0, journal=journal)
    assert snapshots.save()
    journal.active = True
    first_generation = store.manifest()["meta"]["journalFrom"]  # type: ignore[index]

    # When only the hot table is written, then the stack saves again, and once more unchanged
    put(dynamodb, "hot", "h2")
    dynamodb.update_item(
        TableName="hot",
        Key={"id": {"S": "h1"}},
        UpdateExpression="SET n = :n",
        ExpressionAttributeValues={":n": {"N": "1"}},
    )
    assert snapshots.save()
    unchanged = snapshots.save()

    # Then the snapshot holds the hot table's new item and the cold table's item as before, its
    # journal starts after those writes (the generations they were in are gone), and nothing
    # was written a third time
    assert saved(store) == {"HotTable": {"h1", "h2"}, "ColdTable": {"c1"}}
    hot = (store.directory / "HotTable.jsonl").read_text()
    assert '"n": {"N": "1"}' in hot
    meta = store.manifest()["meta"]  # type: ignore[index]
    assert meta["journalFrom"] > first_generation
    assert min(journal.generations()) >= meta["journalFrom"]
    assert unchanged is False


def test_a_table_written_after_a_snapshot_that_was_not_saved_is_in_the_next_one(
    moto: tuple[Any, Journal], tmp_path: Path
) -> None:
    # Given a saved snapshot, then a write to the cold table and a save that fails on disk
    dynamodb, journal = moto
    put(dynamodb, "cold", "c1")
    store = SnapshotStore(tmp_path / "data")
    snapshots = PeriodicSnapshot(store, TABLES, "us-east-1", interval=0, journal=journal)
    assert snapshots.save()
    journal.active = True
    put(dynamodb, "cold", "c2")
    original = store.save

    def full_disk(*args: Any, **kwargs: Any) -> None:
        raise OSError("no space left on device")

    store.save = full_disk  # type: ignore[method-assign]
    with pytest.raises(OSError):
        snapshots.save()
    store.save = original  # type: ignore[method-assign]

    # When the hot table is written and the next save succeeds
    put(dynamodb, "hot", "h1")
    assert snapshots.save()

    # Then the cold table's write that missed the failed save is in it too
    assert saved(store) == {"HotTable": {"h1"}, "ColdTable": {"c1", "c2"}}


def test_every_kind_of_write_reaches_the_snapshot_and_only_the_written_items_are_read_again(
    moto: tuple[Any, Journal], tmp_path: Path
) -> None:
    # Given a hot table of three items and a cold one of fifty, saved once
    dynamodb, journal = moto
    for item_id in ("h1", "h2", "h3"):
        put(dynamodb, "hot", item_id)
    for n in range(50):
        put(dynamodb, "cold", f"c{n}")
    store = SnapshotStore(tmp_path / "data")
    snapshots = PeriodicSnapshot(store, TABLES, "us-east-1", interval=0, journal=journal)
    assert snapshots.save()
    journal.active = True

    # When one item is deleted, one added in a transaction, two in a batch with a delete, and
    # one cold item changed, then the stack saves again
    dynamodb.delete_item(TableName="hot", Key={"id": {"S": "h1"}})
    dynamodb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": "hot", "Item": {"id": {"S": "t1"}}}},
            {
                "Update": {
                    "TableName": "cold",
                    "Key": {"id": {"S": "c7"}},
                    "UpdateExpression": "SET seen = :yes",
                    "ExpressionAttributeValues": {":yes": {"BOOL": True}},
                }
            },
        ]
    )
    dynamodb.batch_write_item(
        RequestItems={
            "hot": [
                {"PutRequest": {"Item": {"id": {"S": "b1"}}}},
                {"PutRequest": {"Item": {"id": {"S": "b2"}}}},
                {"DeleteRequest": {"Key": {"id": {"S": "h2"}}}},
            ]
        }
    )
    assert snapshots.save()

    # Then the snapshot is the tables as they are, and only the six written items were read
    # again under the DynamoDB lock (not the cold table's fifty)
    assert saved(store) == {
        "HotTable": {"h3", "t1", "b1", "b2"},
        "ColdTable": {f"c{n}" for n in range(50)},
    }
    assert '"seen": {"BOOL": true}' in (store.directory / "ColdTable.jsonl").read_text()
    assert snapshots.last_read == {"hot": 5, "cold": 1}


def test_more_writes_than_the_journal_notes_between_snapshots_read_every_table_whole(
    moto: tuple[Any, Journal], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a saved snapshot of one item, and a journal that notes at most two writes in between
    dynamodb, journal = moto
    put(dynamodb, "hot", "h0")
    store = SnapshotStore(tmp_path / "data")
    snapshots = PeriodicSnapshot(store, TABLES, "us-east-1", interval=0, journal=journal)
    assert snapshots.save()
    monkeypatch.setattr("infra.local.journal.MAX_NOTED", 2)

    # When three items and a cold one are written, then the stack saves
    for item_id in ("h1", "h2", "h3"):
        put(dynamodb, "hot", item_id)
    put(dynamodb, "cold", "c1")
    assert snapshots.save()

    # Then every table was read whole (the item nobody wrote too), and every write is in it
    assert saved(store) == {"HotTable": {"h0", "h1", "h2", "h3"}, "ColdTable": {"c1"}}
    assert snapshots.last_read == {"hot": 4, "cold": 1}


def test_a_write_synced_after_its_generation_was_rotated_fails_nothing_and_stays_in_it(
    tmp_path: Path,
) -> None:
    # Given an active journal with a write handed to its file (under the lock, not synced yet)
    journal = Journal(tmp_path / "journal")
    journal.active = True
    first = journal.generation
    handed = journal.append({"X-Amz-Target": "DynamoDB_20120810.PutItem"}, b'{"TableName":"t"}')

    # When a snapshot rotates the journal before the writer syncs, and the writer syncs then
    journal.rotate()
    Journal.sync(handed)
    journal.sync(journal.append({"X-Amz-Target": "DynamoDB_20120810.PutItem"}, b"{}"))

    # Then nothing fails, and each write is in its own generation's file
    lines = {
        g: (tmp_path / "journal" / f"{g:06d}.jsonl").read_text().splitlines()
        for g in (first, first + 1)
    }
    assert [len(lines[first]), len(lines[first + 1])] == [1, 1]
    assert json.loads(lines[first][0])["h"]["X-Amz-Target"].endswith("PutItem")
