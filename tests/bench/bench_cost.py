"""The cost of an automatic decision, and each function's first request: the local stack with every
consumer running, moto's DynamoDB metered from inside.

DynamoDB units are counted as DynamoDB bills them, from the items moto holds (moto's own
ConsumedCapacity is a constant): a write is ceil(size / 1 KB) units of the larger of the item
before and after, doubled in a transaction; each global secondary index the write touches costs
ceil(entry / 1 KB) more for its projected entry (two when its key changes: a delete and a put;
none when neither its key nor a projected attribute changes). A read is ceil(size / 4 KB) units,
halved when eventually consistent, doubled in a transaction; a query pays for the total it
returns. Stream reads by Lambda triggers are free (DynamoDB pricing), so the consumers pay only
for what they read and write themselves. Storage: the items' and index entries' bytes plus 100
bytes of overhead each, as DynamoDB sizes a table.
"""

from __future__ import annotations

import http.client
import json
import math
import shutil
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.bench.bench_common import SERVICES, Section, fake_aws, median, quiet_stack

#: on-demand prices, us-east-1 and cn-north-1, as published (a source each; None: not cited)
PRICES: dict[str, dict[str, Any]] = {
    "us-east-1": {
        "currency": "USD",
        "per_million_wru": 0.625,
        "per_million_rru": 0.125,
        "per_gb_month": 0.25,
        "per_gb_second": 0.0000166667,
        "per_million_requests": 0.20,
        "source": "aws.amazon.com/dynamodb/pricing/on-demand (Nov 2024 prices), "
        "aws.amazon.com/lambda/pricing (x86)",
    },
    "cn-north-1": {
        "currency": "CNY",
        "per_million_wru": 11.1538,
        "per_million_rru": None,
        "per_gb_month": None,
        "per_gb_second": None,
        "per_million_requests": None,
        "source": "amazonaws.cn/en/dynamodb/pricing (on-demand write requests); the other "
        "China prices are not cited here",
    },
}
DECISIONS = 30
QUICK_DECISIONS = 12
ROUNDS = 3
QUICK_ROUNDS = 2
#: the async consumers are done when no table was written for this long
QUIET_S = 4.0
DRAIN_TIMEOUT_S = 240.0
KB = 1024
READ_UNIT = 4 * KB
#: DynamoDB's per-item overhead in a table and in each index
ITEM_OVERHEAD = 100


def _size(attrs: dict[str, Any]) -> int:
    from moto.dynamodb.models.utilities import bytesize

    return sum(bytesize(name) + value.size() for name, value in attrs.items())


class Meter:
    """Wraps moto's DynamoDB backend: every write and read, in units, by table and index."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.write_units: Counter[str] = Counter()
        self.read_units: defaultdict[str, float] = defaultdict(float)
        self.requests: Counter[str] = Counter()
        self.last_write = time.monotonic()
        self.local = threading.local()
        self.saved: list[tuple[Any, str, Any]] = []

    def reset(self) -> None:
        with self.lock:
            self.write_units.clear()
            self.read_units.clear()
            self.requests.clear()

    # ------------------------------------------------------------------ writes
    def _write(self, backend: Any, table_name: str, key: dict[str, Any] | None, run: Any) -> Any:
        from moto.dynamodb.models.dynamo_type import DynamoType

        table = backend.get_table(table_name)

        def current(item_key: dict[str, Any]) -> dict[str, Any] | None:
            hash_value = DynamoType(item_key[table.hash_key_attr])
            range_value = (
                DynamoType(item_key[table.range_key_attr]) if table.range_key_attr else None
            )
            try:
                found = table.get_item(hash_value, range_value)
            except Exception:
                return None
            return dict(found.attrs) if found is not None else None

        before = current(key) if key is not None else None
        result = run()
        after_item = (
            table.get_item(
                DynamoType(key[table.hash_key_attr]) if key else None,
                DynamoType(key[table.range_key_attr]) if key and table.range_key_attr else None,
            )
            if key is not None
            else None
        )
        after = dict(after_item.attrs) if after_item is not None else None
        self._count_write(table, before, after)
        return result

    def _count_write(self, table: Any, before: dict | None, after: dict | None) -> None:
        factor = 2 if getattr(self.local, "transaction", False) else 1
        size = max(_size(before or {}), _size(after or {}))
        with self.lock:
            self.last_write = time.monotonic()
            self.requests[f"write {table.name}"] += 1
            self.write_units[table.name] += factor * max(1, math.ceil(size / KB))
            for index in table.global_indexes:
                units = _index_write_units(table, index, before, after)
                if units:
                    self.write_units[f"{table.name}/{index.name}"] += units

    # ------------------------------------------------------------------ reads
    def _count_read(self, table_name: str, index: str | None, sizes: list[int]) -> None:
        consistent = getattr(self.local, "consistent", False)
        factor = 2.0 if getattr(self.local, "transaction", False) else 1.0
        if not consistent and factor == 1.0:
            factor = 0.5
        if getattr(self.local, "per_item", True):
            units = sum(factor * max(1, math.ceil(s / READ_UNIT)) for s in sizes) if sizes else 0
        else:
            units = factor * max(1, math.ceil(sum(sizes) / READ_UNIT))
        name = f"{table_name}/{index}" if index else table_name
        with self.lock:
            self.requests[f"read {name}"] += 1
            self.read_units[name] += units

    # ------------------------------------------------------------------ hooks
    def install(self) -> None:
        from moto.dynamodb.models import DynamoDBBackend
        from moto.dynamodb.responses import DynamoHandler

        meter = self

        def wrap(cls: Any, name: str, make: Callable[[Any], Any]) -> None:
            original = getattr(cls, name)
            self.saved.append((cls, name, original))
            setattr(cls, name, make(original))

        def put_item(original: Any) -> Any:
            def put(backend: Any, table_name: str, item_attrs: dict[str, Any], *a: Any, **k: Any):
                table = backend.get_table(table_name)
                key = {
                    n: item_attrs[n]
                    for n in (table.hash_key_attr, table.range_key_attr)
                    if n and n in item_attrs
                }
                return meter._write(
                    backend,
                    table_name,
                    key,
                    lambda: original(backend, table_name, item_attrs, *a, **k),
                )

            return put

        def keyed(original: Any) -> Any:
            def call(backend: Any, table_name: str, key: dict[str, Any], *a: Any, **k: Any):
                return meter._write(
                    backend, table_name, key, lambda: original(backend, table_name, key, *a, **k)
                )

            return call

        def transaction(original: Any) -> Any:
            def call(backend: Any, *a: Any, **k: Any) -> Any:
                meter.local.transaction = True
                try:
                    return original(backend, *a, **k)
                finally:
                    meter.local.transaction = False

            return call

        def get_item(original: Any) -> Any:
            def call(backend: Any, table_name: str, keys: dict[str, Any], *a: Any, **k: Any):
                item = original(backend, table_name, keys, *a, **k)
                meter._count_read(table_name, None, [_size(item.attrs)] if item else [])
                return item

            return call

        def query(original: Any) -> Any:
            def call(backend: Any, table_name: str, *a: Any, **k: Any) -> Any:
                result = original(backend, table_name, *a, **k)
                index = k.get("index_name")
                meter.local.consistent = bool(k.get("consistent_read"))
                meter.local.per_item = False
                try:
                    meter._count_read(table_name, index, [_size(i.attrs) for i in result[0]])
                finally:
                    meter.local.per_item = True
                    meter.local.consistent = False
                return result

            return call

        def handler(original: Any, consistent: Callable[[dict[str, Any]], bool]) -> Any:
            def call(self_: Any) -> Any:
                meter.local.consistent = consistent(self_.body)
                try:
                    return original(self_)
                finally:
                    meter.local.consistent = False

            return call

        def batch_consistent(body: dict[str, Any]) -> bool:
            return any(r.get("ConsistentRead") for r in body.get("RequestItems", {}).values())

        wrap(DynamoDBBackend, "put_item", put_item)
        wrap(DynamoDBBackend, "update_item", keyed)
        wrap(DynamoDBBackend, "delete_item", keyed)
        wrap(DynamoDBBackend, "transact_write_items", transaction)
        wrap(DynamoDBBackend, "get_item", get_item)
        wrap(DynamoDBBackend, "query", query)
        wrap(
            DynamoHandler, "get_item", lambda o: handler(o, lambda b: bool(b.get("ConsistentRead")))
        )
        wrap(DynamoHandler, "batch_get_item", lambda o: handler(o, batch_consistent))
        if hasattr(DynamoHandler, "transact_get_items"):
            wrap(DynamoHandler, "transact_get_items", lambda o: handler(o, lambda b: True))

    def uninstall(self) -> None:
        for cls, name, original in reversed(self.saved):
            setattr(cls, name, original)
        self.saved.clear()


def _entry(table: Any, index: Any, attrs: dict[str, Any] | None) -> dict[str, Any] | None:
    """The index entry of an item (its projected attributes), or None when not in the index."""
    if attrs is None or any(name not in attrs for name in index.schema_key_attrs):
        return None
    projection = (index.projection or {}).get("ProjectionType", "ALL")
    if projection == "ALL":
        return attrs
    keep = set(index.table_key_attrs) | set(index.schema_key_attrs)
    if projection == "INCLUDE":
        keep |= set(index.projection.get("NonKeyAttributes", []))
    return {name: value for name, value in attrs.items() if name in keep}


def _index_write_units(table: Any, index: Any, before: dict | None, after: dict | None) -> int:
    old, new = _entry(table, index, before), _entry(table, index, after)
    if old is None and new is None:
        return 0
    if old is None or new is None:
        return max(1, math.ceil(_size(old or new or {}) / KB))
    keys_changed = any(old[name] != new[name] for name in index.schema_key_attrs)
    if keys_changed:
        return max(1, math.ceil(_size(old) / KB)) + max(1, math.ceil(_size(new) / KB))
    if old == new:
        return 0
    return max(1, math.ceil(max(_size(old), _size(new)) / KB))


def _stored(backend: Any) -> dict[str, int]:
    """Bytes stored per table and per index, with DynamoDB's 100-byte overhead per item."""
    out: dict[str, int] = {}
    for table in backend.tables.values():
        items = list(table.all_items())
        out[table.name] = sum(_size(i.attrs) + ITEM_OVERHEAD for i in items)
        for index in table.global_indexes:
            entries = [_entry(table, index, dict(i.attrs)) for i in items]
            out[f"{table.name}/{index.name}"] = sum(
                _size(e) + ITEM_OVERHEAD for e in entries if e is not None
            )
    return out


class _Invocations:
    """Wraps Runtime.invoke: each invocation's function, duration and whether it was cold."""

    def __init__(self, invoke: Any) -> None:
        self.invoke = invoke
        self.lock = threading.Lock()
        self.calls: list[tuple[str, float, bool]] = []

    def __call__(self, function_id: str, event: Any, request_id: str | None = None) -> Any:
        result = self.invoke(function_id, event, request_id)
        with self.lock:
            self.calls.append((function_id, result.duration_ms, result.cold_start))
        return result


def _post(base_url: str, path: str, token: str, body: Any | None = None) -> tuple[int, Any]:
    url = urlsplit(base_url)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=60)
    headers = {"Authorization": f"Bearer {token}"}
    payload = None
    if body is not None:
        payload = json.dumps(body, ensure_ascii=False).encode()
        headers |= {"Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex}
    try:
        conn.request("POST" if body is not None else "GET", url.path + path, payload, headers)
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    return response.status, (json.loads(data) if data else None)


def _wait_quiet(meter: Meter) -> float:
    """Seconds until no table was written for QUIET_S (the consumers caught up)."""
    started = time.monotonic()
    while time.monotonic() - started < DRAIN_TIMEOUT_S:
        time.sleep(0.5)
        if time.monotonic() - meter.last_write >= QUIET_S:
            break
    return time.monotonic() - started


def run_cost(quick: bool) -> Section:
    section = Section("cost")
    state_dir = Path(tempfile.mkdtemp(prefix="miaopi-bench-cost-"))
    meter = Meter()
    try:
        with fake_aws(MOTO_PORT=None):
            meter.install()
            try:
                _measure(section, quick, state_dir, meter)
            finally:
                meter.uninstall()
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)
    return section


def _measure(section: Section, quick: bool, state_dir: Path, meter: Meter) -> None:
    from moto.dynamodb.models import dynamodb_backends

    import infra.local.seed as seed
    from infra.local import people

    with quiet_stack("miaopi-bench-cost", state_dir) as (stack, _moto_log):
        runtime = stack.runtime
        invocations = _Invocations(runtime.invoke)
        runtime.invoke = invocations
        personas = seed.read_personas(Path(stack.info["personasFile"]))
        approved = [p for p in personas if p.bulk and p.expected_outcome == "APPROVED"]
        by_service: dict[str, list[Any]] = defaultdict(list)
        for persona in approved:
            by_service[persona.service_id].append(persona)
        base_url = stack.info["apiUrl"]
        specs = runtime.functions

        def submit(persona: Any) -> int:
            token = people.token(stack.info, persona)
            status, _ = _post(
                base_url,
                f"/services/{persona.service_id}/applications",
                token,
                persona.application,
            )
            return status

        # First requests: one approval per service on fresh workers, ROUNDS times; every
        # function the path reaches starts cold once per round (the consumers too).
        rounds = QUICK_ROUNDS if quick else ROUNDS
        for _ in range(rounds):
            runtime.recycle()
            invocations.calls.clear()
            for sid in SERVICES:
                assert submit(by_service[sid].pop()) == 201
            _wait_quiet(meter)
            for fid, ms, cold in list(invocations.calls):
                if cold:
                    section.results.setdefault(f"_first.{fid}", []).append(ms)
        first = {
            k.removeprefix("_first."): section.results.pop(k)
            for k in list(section.results)
            if k.startswith("_first.")
        }

        # The cost: DECISIONS automatic approvals round robin over the services, warm.
        count = QUICK_DECISIONS if quick else DECISIONS
        backend = dynamodb_backends[stack.info.get("accountId", "123456789012")][stack.region]
        stored_before = _stored(backend)
        meter.reset()
        invocations.calls.clear()
        statuses = Counter(
            submit(by_service[SERVICES[i % len(SERVICES)]].pop()) for i in range(count)
        )
        drained_s = _wait_quiet(meter)
        stored_after = _stored(backend)
        calls = list(invocations.calls)

    assert statuses == {201: count}, statuses
    _report(section, count, meter, calls, specs, stored_before, stored_after, first, drained_s)


def _report(
    section: Section,
    count: int,
    meter: Meter,
    calls: list[tuple[str, float, bool]],
    specs: dict[str, Any],
    stored_before: dict[str, int],
    stored_after: dict[str, int],
    first: dict[str, list[float]],
    drained_s: float,
) -> None:
    results = section.results
    wcu = sum(meter.write_units.values()) / count
    rcu = sum(meter.read_units.values()) / count
    stored = {k: (stored_after.get(k, 0) - stored_before.get(k, 0)) / count for k in stored_after}
    stored_total = sum(v for v in stored.values() if v > 0)
    gb_s: Counter[str] = Counter()
    invokes: Counter[str] = Counter()
    for fid, ms, _cold in calls:
        gb_s[fid] += specs[fid].memory / 1024 * ms / 1000
        invokes[fid] += 1
    results["cost.decisions"] = count
    results["cost.wcu_per_auto_decision"] = round(wcu, 2)
    results["cost.rcu_per_auto_decision"] = round(rcu, 2)
    results["cost.bytes_stored_per_auto_decision"] = round(stored_total)
    results["cost.lambda_gb_s_per_auto_decision"] = round(sum(gb_s.values()) / count, 4)
    results["cost.lambda_invocations_per_auto_decision"] = round(sum(invokes.values()) / count, 2)
    results["cost.drain_s"] = round(drained_s, 1)
    results["cost.wcu_by_table"] = {
        k: round(v / count, 2) for k, v in sorted(meter.write_units.items())
    }
    results["cost.rcu_by_table"] = {
        k: round(v / count, 2) for k, v in sorted(meter.read_units.items())
    }
    results["cost.bytes_by_table"] = {k: round(v) for k, v in sorted(stored.items()) if v}
    results["cost.requests_by_table"] = {
        k: round(v / count, 2) for k, v in sorted(meter.requests.items())
    }
    results["cost.gb_s_by_function"] = {k: round(v / count, 5) for k, v in sorted(gb_s.items())}
    for fid, values in sorted(first.items()):
        results[f"cold_start.first_request.{fid}.median_ms"] = round(median(values), 1)
        results[f"cold_start.first_request.{fid}.samples"] = len(values)
    section.tables.append(
        (
            f"DynamoDB units per automatic decision ({count} approvals, every consumer run)",
            ["table / index", "write units", "read units", "bytes stored"],
            [
                [
                    name,
                    f"{meter.write_units.get(name, 0) / count:.2f}",
                    f"{meter.read_units.get(name, 0) / count:.2f}",
                    f"{stored.get(name, 0):.0f}",
                ]
                for name in sorted(set(meter.write_units) | set(meter.read_units) | set(stored))
                if meter.write_units.get(name) or meter.read_units.get(name) or stored.get(name)
            ]
            + [["total", f"{wcu:.2f}", f"{rcu:.2f}", f"{stored_total:.0f}"]],
        )
    )
    section.tables.append(
        (
            "Lambda per automatic decision (memory x measured duration, local runtime)",
            ["function", "invocations", "GB-s"],
            [
                [fid, f"{invokes[fid] / count:.2f}", f"{gb_s[fid] / count:.5f}"]
                for fid in sorted(gb_s)
            ],
        )
    )
    rows = []
    for region, price in PRICES.items():
        parts = {
            "writes": price["per_million_wru"] and wcu * 1000 / 1e6 * price["per_million_wru"],
            "reads": price["per_million_rru"] and rcu * 1000 / 1e6 * price["per_million_rru"],
            "storage (1 month)": price["per_gb_month"]
            and stored_total * 1000 / 2**30 * price["per_gb_month"],
            "Lambda GB-s": price["per_gb_second"]
            and sum(gb_s.values()) / count * 1000 * price["per_gb_second"],
            "Lambda requests": price["per_million_requests"]
            and sum(invokes.values()) / count * 1000 / 1e6 * price["per_million_requests"],
        }
        for what, value in parts.items():
            shown = f"{value:.5f} {price['currency']}" if value else "not cited"
            rows.append([region, what, shown])
            if value:
                key = what.split(" (")[0].replace(" ", "_").lower()
                results[f"cost.per_1000.{region}.{key}"] = round(value, 6)
        cited = [v for v in parts.values() if v]
        rows.append([region, "total of the cited", f"{sum(cited):.5f} {price['currency']}"])
        results[f"cost.per_1000.{region}.total_cited"] = round(sum(cited), 6)
    section.tables.append(("cost per 1,000 automatic decisions", ["region", "item", "cost"], rows))
    section.tables.append(
        (
            "first request of each function on a fresh worker (runtime invoke: init + handler)",
            ["function", "samples", "median ms"],
            [[fid, len(v), f"{median(v):.0f}"] for fid, v in sorted(first.items())],
        )
    )
    section.notes.append(
        "prices: "
        + "; ".join(f"{region}: {price['source']}" for region, price in PRICES.items())
        + ". Stream reads by Lambda are free; Step Functions, EventBridge, KMS and SNS are not"
        " counted. Lambda durations are the local runtime's (the function plus the pipe to it)."
    )
