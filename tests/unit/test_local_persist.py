"""The local stack's snapshot directory: whole snapshots only, even after a crash mid-swap."""

from __future__ import annotations

from pathlib import Path

from infra.local.persist import SnapshotStore, TableData


def test_a_crash_between_the_two_renames_leaves_the_previous_snapshot(tmp_path: Path) -> None:
    # Given a saved snapshot
    store = SnapshotStore.for_stack(tmp_path, "stack")
    store.save([TableData("Things", "stack-Things", ['{"id": {"S": "1"}}'])], {"seeded": None})
    # When a later save died after moving it aside and before moving the new one in
    store.directory.replace(store.directory.with_name("stack.old"))
    # Then the previous snapshot is still the one found
    manifest = store.manifest()
    assert manifest is not None
    assert manifest["tables"] == {"Things": {"table": "stack-Things", "items": 1}}


def test_a_new_snapshot_replaces_the_old_one_whole(tmp_path: Path) -> None:
    # Given a snapshot of two tables
    store = SnapshotStore.for_stack(tmp_path, "stack")
    store.save(
        [TableData("A", "stack-A", ['{"id": {"S": "1"}}']), TableData("B", "stack-B", [])], None
    )
    # When the next one has only one table
    store.save([TableData("A", "stack-A", [])], None)
    # Then no file of the first one is left, and nothing temporary either
    assert sorted(p.name for p in store.directory.iterdir()) == ["A.jsonl", "manifest.json"]
    assert sorted(p.name for p in store.directory.parent.iterdir()) == ["stack"]
