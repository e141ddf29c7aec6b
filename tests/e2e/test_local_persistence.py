"""The local stack keeps its tables across a restart: same data, same users, no replayed events.

The stacks run in this process (so the test sees what the pollers deliver), with the functions
replaced by a recorder: this is about the stack, not the handlers. moto's backends are
process-global, so they are reset after each stack, as a new `make run` process starts empty.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from moto.core import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends
from moto.moto_api._internal.models import moto_api_backend

from infra.local import moto_server
from infra.local.deploy import AwsClients
from infra.local.idp import Issuer, LocalIdentity, demo_user
from infra.local.persist import SnapshotStore
from infra.local.runtime import Invocation, Runtime
from infra.local.stack import LocalStack, free_port
from infra.local.stack_file import STACK_FILE_NAME, token_for

pytestmark = pytest.mark.e2e

STACK = "miaopi-persist-test"
APPLICATION = {
    "applicationId": {"S": "APP-PERSIST-1"},
    "status": {"S": "PENDING_REVIEW"},
    "amount": {"N": "1234.50"},
    "digest": {"B": b"\x00\xffbinary"},
    "tags": {"SS": ["a", "b"]},
    "detail": {"M": {"blob": {"B": b"\x01"}, "steps": {"L": [{"S": "x"}, {"NULL": True}]}}},
}
REFERENCE = {"source": {"S": "test.source"}, "key": {"S": "K-1"}, "record": {"M": {}}}


def wait_for(condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


class Deliveries:
    """Stands in for every function: records the keys of the stream records it is given."""

    def __init__(self) -> None:
        self.keys: list[str] = []

    def record(self, event: dict[str, Any]) -> Invocation:
        for record in event.get("Records", []):
            if "dynamodb" in record:
                self.keys += [v["S"] for v in record["dynamodb"]["Keys"].values() if "S" in v]
        return Invocation(str(uuid.uuid4()), {"batchItemFailures": []}, None, 0.0, False)


@pytest.fixture
def deliveries(monkeypatch: pytest.MonkeyPatch) -> Iterator[Deliveries]:
    recorder = Deliveries()

    def invoke(runtime: Runtime, function_id: str, event: dict[str, Any]) -> Invocation:
        return recorder.record(event)

    monkeypatch.setattr(Runtime, "invoke", invoke)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("MOTO_PORT", "unset")  # start_moto sets it: undone after the test
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    # start_moto patches moto in this process (moto_server.apply): undone after the test too
    for target, name, _value in moto_server.patches():
        monkeypatch.setattr(target, name, getattr(target, name))
    yield recorder
    moto_api_backend.reset()


def started(state_dir: Path, hooks: list[str] | None = None, **options: Any) -> LocalStack:
    """A stack on free ports without reference data; `hooks` collects its restore hook calls."""
    stack = LocalStack(
        port=free_port(),
        moto_port=free_port(),
        stack_name=STACK,
        seed=False,
        state_dir=state_dir,
        **options,
    )
    if hooks is not None:
        stack.restore_hooks.append(
            lambda deployment, clients, stopping: hooks.append(deployment.stack_name)
        )
    return stack.start()


def stopped(stack: LocalStack) -> None:
    stack.stop()
    moto_api_backend.reset()  # the next stack's moto starts empty, as in a new process


def clients_of(stack: LocalStack) -> AwsClients:
    return AwsClients.create(stack.endpoint_url, "us-east-1")


def sub_of(stack: LocalStack, username: str) -> str:
    """The demo user's account id at the stack's identity provider (the `sub` of its tokens)."""
    user = demo_user(username)
    assert user is not None
    return Issuer.described(stack.info["idp"]).subject_id(user.identity(stack.stack_name))


def test_restart_restores_tables_and_users_without_replaying_streams(
    tmp_path: Path, deliveries: Deliveries
) -> None:
    """Given a stack with an application, a reference record and the citizen's sub,
    When it stops and a new stack starts on the same state dir,
    Then the items are back byte for byte, the citizen has the same sub, the restore hooks ran,
    and the stream pollers deliver new writes but none of the restored items."""
    # Given
    first = started(tmp_path, snapshot_interval=0.2)
    try:
        c = clients_of(first)
        tables = first.info["tables"]
        c.dynamodb.put_item(TableName=tables["ApplicationsTable"], Item=APPLICATION)
        c.dynamodb.put_item(TableName=tables["ReferenceDataTable"], Item=REFERENCE)
        wait_for(lambda: "APP-PERSIST-1" in deliveries.keys)  # the pollers do see writes
        wait_for(lambda: not backlog(first))  # and every mapping has processed it
        store = SnapshotStore.for_stack(tmp_path, STACK)
        wait_for(  # saved while running, not only on stop
            lambda: (
                (store.manifest() or {}).get("tables", {}).get("ApplicationsTable")
                == {"table": tables["ApplicationsTable"], "items": 1}
            )
        )
        citizen_sub = sub_of(first, "citizen")
        assert first.restored is False
    finally:
        stopped(first)
    deliveries.keys.clear()

    # When
    hooks: list[str] = []
    second = started(tmp_path, hooks)
    try:
        assert second.restored_hooks_done.wait(30)  # they run once the stack serves
        c = clients_of(second)
        tables = second.info["tables"]
        application = c.dynamodb.get_item(
            TableName=tables["ApplicationsTable"],
            Key={"applicationId": APPLICATION["applicationId"]},
        ).get("Item")
        reference = c.dynamodb.get_item(
            TableName=tables["ReferenceDataTable"],
            Key={"source": REFERENCE["source"], "key": REFERENCE["key"]},
        ).get("Item")
        second_sub = sub_of(second, "citizen")
        c.dynamodb.put_item(
            TableName=tables["ApplicationsTable"],
            Item={"applicationId": {"S": "APP-AFTER-RESTART"}, "status": {"S": "PENDING_REVIEW"}},
        )
        wait_for(lambda: "APP-AFTER-RESTART" in deliveries.keys)
        time.sleep(0.5)  # would a restored record still come?
    finally:
        stopped(second)

    # Then
    assert second.restored is True
    assert hooks == [STACK]
    assert application == APPLICATION
    assert reference == REFERENCE
    assert second_sub == citizen_sub
    assert deliveries.keys == ["APP-AFTER-RESTART"]


def backlog(stack: LocalStack) -> list[str]:
    """The stream records of the applications some poller has not processed yet (their keys)."""
    assert stack.pollers is not None
    table = stack.info["tables"]["ApplicationsTable"]
    first = stack.pollers.unprocessed().get(table)
    shard = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].get_table(table).stream_shard
    if first is None or shard is None:
        return []
    records = shard.items[max(0, first - shard.starting_sequence_number) :]
    return [r.to_json()["dynamodb"]["Keys"]["applicationId"]["S"] for r in records]


def test_what_no_poller_processed_before_a_stop_is_delivered_after_the_restart(
    tmp_path: Path, deliveries: Deliveries
) -> None:
    """Given a stack whose pollers stopped before an application was written (a stop, or a
    crash, with a stream backlog),
    When it stops and a new stack starts on the same state dir,
    Then the application is delivered to the pollers after the restart, once for each of its
    mappings, and nothing else is."""
    # Given
    first = started(tmp_path)
    try:
        assert first.pollers is not None
        first.pollers.stop()
        first.pollers.join()
        table = first.info["tables"]["ApplicationsTable"]
        clients_of(first).dynamodb.put_item(TableName=table, Item=APPLICATION)
        mappings = sum(
            1 for poller in first.pollers.pollers if getattr(poller, "table_name", None) == table
        )
    finally:
        stopped(first)
    assert deliveries.keys == []
    store = SnapshotStore.for_stack(tmp_path, STACK)
    assert (store.manifest() or {})["streams"] == {"ApplicationsTable": 1}

    # When
    second = started(tmp_path)
    try:
        wait_for(lambda: deliveries.keys.count("APP-PERSIST-1") == mappings)
        time.sleep(0.5)  # would it come again?
    finally:
        stopped(second)

    # Then
    assert mappings >= 1
    assert deliveries.keys == ["APP-PERSIST-1"] * mappings


def test_fresh_start_discards_the_saved_tables(tmp_path: Path, deliveries: Deliveries) -> None:
    """Given a saved stack with an application,
    When a stack starts with fresh=True (`--fresh`),
    Then its tables are empty, no restore hook runs, and stopping it saves the empty tables."""
    # Given
    first = started(tmp_path)
    try:
        table = first.info["tables"]["ApplicationsTable"]
        clients_of(first).dynamodb.put_item(TableName=table, Item=APPLICATION)
    finally:
        stopped(first)
    store = SnapshotStore.for_stack(tmp_path, STACK)
    assert (store.manifest() or {})["tables"]["ApplicationsTable"]["items"] == 1

    # When
    hooks: list[str] = []
    fresh = started(tmp_path, hooks, fresh=True)
    try:
        items = clients_of(fresh).dynamodb.scan(TableName=table)["Items"]
    finally:
        stopped(fresh)

    # Then
    assert fresh.restored is False
    assert items == []
    assert hooks == []
    assert (store.manifest() or {})["tables"]["ApplicationsTable"]["items"] == 0


def test_the_identity_provider_keeps_its_key_so_a_token_outlives_a_restart(
    tmp_path: Path, deliveries: Deliveries
) -> None:
    """Given a token of the citizen minted while a stack ran,
    When a new stack starts on the same state dir,
    Then its identity provider publishes the same key, and the token verifies against it."""
    # Given
    first = started(tmp_path)
    try:
        token = token_for(demo_identity(first), tmp_path / STACK_FILE_NAME)
        first_keys = jwks_of(first)
    finally:
        stopped(first)

    # When
    second = started(tmp_path)
    try:
        second_keys = jwks_of(second)
        key = jwt.PyJWKSet.from_dict(second_keys).keys[0]
        claims = jwt.decode(token, key, algorithms=["RS256"], options={"verify_aud": False})
    finally:
        stopped(second)

    # Then
    assert second_keys == first_keys
    assert claims["sub"] == sub_of(second, "citizen")


def demo_identity(stack: LocalStack) -> LocalIdentity:
    user = demo_user("citizen")
    assert user is not None
    return user.identity(stack.stack_name)


def jwks_of(stack: LocalStack) -> dict[str, Any]:
    answer = requests.get(stack.info["idp"]["jwksUrl"], timeout=10)
    assert answer.status_code == 200
    keys: dict[str, Any] = answer.json()
    return keys
