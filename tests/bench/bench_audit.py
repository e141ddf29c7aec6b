"""Audit verification at volume: one service's day of 10,000 decisions, verified through the
local stack's gateway and audit function (whose 29 s timeout the runtime enforces), a page at a
time; then a few pages of replay and what-if over the same day."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any, cast

from infra.local.template import LocalTemplate
from tests.bench.bench_common import TEMPLATE, Section, fake_aws, median, percentile, quiet_stack

SERVICE = "elderly-allowance"
#: the day's decisions: 10,000 (2,000 with --quick)
DECISIONS, QUICK_DECISIONS = 10_000, 2_000
#: the audit function's timeout, as template.yaml gives it: no page may come near it
_TEMPLATE = LocalTemplate.load(TEMPLATE)
TIMEOUT_S = float(
    _TEMPLATE.properties("AuditFunction").get("Timeout")
    or _TEMPLATE.raw["Globals"]["Function"]["Timeout"]
)
#: replay and what-if pages measured (each the API's largest page: 500 decisions)
SAMPLE_PAGES = 3
WHAT_IF = Path(__file__).resolve().parents[2] / "infra/whatif/elderly-allowance-minimum-age-85.yaml"


def run_audit(quick: bool) -> Section:
    section = Section("audit")
    state_dir = Path(tempfile.mkdtemp(prefix="miaopi-bench-audit-"))
    try:
        with fake_aws(MOTO_PORT=None):  # start_moto sets MOTO_PORT; restored after
            _measure(section, QUICK_DECISIONS if quick else DECISIONS, state_dir)
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)
    return section


class _Api:
    """GET and POST against the local gateway as the demo auditor, timed."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url, self.token = base_url, token

    def call(
        self, method: str, path: str, body: Any = None, **query: Any
    ) -> tuple[int, Any, float]:
        url = (
            f"{self.base_url}{path}?{urllib.parse.urlencode(query)}"
            if query
            else self.base_url + path
        )
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Content-Type", "application/json")
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                status, payload = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, payload = exc.code, exc.read()
        seconds = time.perf_counter() - started
        return status, json.loads(payload) if payload else None, seconds


def _measure(section: Section, count: int, state_dir: Path) -> None:
    import boto3
    from miaopi.workdays import CHINA

    import infra.local.seed as seed
    from infra.local.stack_file import STACK_FILE_NAME, id_token

    with quiet_stack("miaopi-bench-audit", state_dir) as (stack, _moto_log):
        assert stack.pollers is not None
        stack_file = state_dir / STACK_FILE_NAME
        base_url = stack.info["apiUrl"]
        dynamodb = boto3.client("dynamodb", endpoint_url=stack.info["motoEndpoint"])
        tables = stack.info["tables"]
        personas = seed.read_personas(Path(stack.info.get("personasFile") or ""))
        model = _one_decision(base_url, stack.info, personas)
        record = _wait_chained(dynamodb, tables["DecisionsTable"], model)
        # the sequencer (and supervision) would chain or follow every record written below in
        # the background, during the measurement: the day is written chained, as it would be
        stack.pollers.stop()
        stack.pollers.join()
        day = dt.datetime.now(CHINA).date() - dt.timedelta(days=1)
        started = time.perf_counter()
        heads = _write_day(dynamodb, tables["DecisionsTable"], record, day, count)
        for chain_id, (seq, link, at) in heads.items():
            dynamodb.put_item(
                TableName=tables["ChainHeadsTable"],
                Item={
                    "chainId": {"S": chain_id},
                    "seq": {"N": str(seq)},
                    "hash": {"S": link},
                    "updatedAt": {"S": at},
                },
            )
        write_s = time.perf_counter() - started
        api = _Api(base_url, id_token("auditor", stack_file=stack_file))
        _verify(section, api, day, count, heads)
        _sample(section, api, day)
        section.notes.append(
            f"{count} decisions of {SERVICE} on {day} (copies of one decided through the API, "
            f"sealed, chained as the sequencer chains: {len(heads)} chains) written in "
            f"{write_s:.0f} s; the stack's pollers stopped first (they would chain and supervise "
            "the copies during the measurement); through the local gateway and the audit "
            f"function, whose {TIMEOUT_S:.0f} s timeout the local runtime enforces"
        )


def _one_decision(base_url: str, stack_info: dict[str, Any], personas: list[Any]) -> str:
    """One automatic approval, submitted by whom it is for (who may apply)."""
    from infra.local import people

    persona = next(
        p for p in personas if p.service_id == SERVICE and p.expected_outcome == "APPROVED"
    )
    token = people.token(stack_info, persona)
    request = urllib.request.Request(
        f"{base_url}/services/{SERVICE}/applications",
        data=json.dumps(persona.application).encode(),
        method="POST",
    )
    for name, value in {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Idempotency-Key": f"bench-audit-{uuid.uuid4().hex}",
    }.items():
        request.add_header(name, value)
    with urllib.request.urlopen(request, timeout=30) as response:
        return str(json.loads(response.read())["decision"]["decisionId"])


def _wait_chained(dynamodb: Any, table: str, decision_id: str) -> dict[str, Any]:
    from miaopi_platform.aws.dynamo import from_item

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        item = dynamodb.get_item(TableName=table, Key={"decisionId": {"S": decision_id}})["Item"]
        if "hash" in item:
            return dict(from_item(item))
        time.sleep(0.2)
    raise RuntimeError("the sequencer did not chain the model decision within 60 s")


def _write_day(
    dynamodb: Any, table: str, model: dict[str, Any], day: dt.date, count: int
) -> dict[str, tuple[int, str, str]]:
    """`count` copies of `model` decided through `day` (China), sealed as writers seal
    records, and chained in decidedAt order as the sequencer chains them; the heads."""
    from miaopi.workdays import CHINA
    from miaopi_platform.aws.clock import iso
    from miaopi_platform.aws.dynamo import to_item
    from miaopi_platform.records.decision import sealed
    from miaopi_platform.records.indexes import chain_of
    from miaopi_platform.records.items import DecisionRecord
    from miaopi_platform.records.seal import GENESIS, NOT_CONTENT, link_hash

    start = dt.datetime.combine(day, dt.time(0, 0), tzinfo=CHINA)
    step = dt.timedelta(days=1) / (count + 1)
    heads: dict[str, tuple[int, str, str]] = defaultdict(lambda: (0, GENESIS, ""))
    batch: list[dict[str, Any]] = []
    for n in range(count):
        copy = {k: v for k, v in model.items() if k not in NOT_CONTENT}
        copy["decisionId"] = "DEC" + uuid.uuid4().hex[:21].upper()
        decided = start + step * (n + 1)
        copy["decidedAt"] = iso(decided)
        copy = dict(sealed(cast(DecisionRecord, copy)))
        chain_id = chain_of(copy)
        seq, prev, _ = heads[chain_id]
        chained_at = iso(decided + dt.timedelta(seconds=1))
        link = link_hash(chain_id, seq + 1, prev, copy["contentHash"])
        copy |= {
            "chainId": chain_id,
            "chainSeq": seq + 1,
            "prevHash": prev,
            "hash": link,
            "chainedAt": chained_at,
        }
        heads[chain_id] = (seq + 1, link, chained_at)
        batch.append({"PutRequest": {"Item": to_item(copy)}})
        if len(batch) == 25 or n == count - 1:
            request = {table: batch}
            while request:
                request = dynamodb.batch_write_item(RequestItems=request).get("UnprocessedItems")
            batch = []
    return dict(heads)


def _verify(
    section: Section, api: _Api, day: dt.date, count: int, heads: dict[str, tuple[int, str, str]]
) -> None:
    period = {"serviceId": SERVICE, "from": day.isoformat(), "to": day.isoformat()}
    seconds: list[float] = []
    statuses: dict[int, int] = {}
    verdicts: dict[str, dict[str, Any]] = {}
    token: str | None = None
    started = time.perf_counter()
    while True:
        status, page, took = api.call(
            "GET", "/audit/chains", **period, **({"nextToken": token} if token else {})
        )
        seconds.append(took)
        statuses[status] = statuses.get(status, 0) + 1
        if status != 200:
            break
        verdicts |= {i["chainId"]: i for i in page["items"]}
        token = page.get("nextToken")
        if not token:
            break
    total = time.perf_counter() - started
    verified = all(v["verified"] and v["complete"] for v in verdicts.values())
    records = sum(v["records"] for v in verdicts.values())
    section.results["audit.chains_decisions"] = count
    section.results["audit.chains_verify_total_s"] = round(total, 1)
    section.results["audit.chains_pages"] = len(seconds)
    section.results["audit.chains_page_median_s"] = round(median(seconds), 2)
    section.results["audit.chains_page_max_s"] = round(max(seconds), 2)
    section.results["audit.chains_verified"] = verified and statuses == {200: len(seconds)}
    section.results["audit.chains_records"] = records
    section.tables.append(
        (
            f"GET /audit/chains over one day of {count} decisions ({len(heads)} chains, "
            "default page)",
            ["what", "value"],
            [
                ["pages", len(seconds)],
                ["total (s)", f"{total:.1f}"],
                ["per page: median / p95 / max (s)", _spread(seconds)],
                ["statuses", statuses],
                ["records walked", records],
                ["every chain verified", verified],
            ],
        )
    )


def _sample(section: Section, api: _Api, day: dt.date) -> None:
    """The first pages of replay and what-if over the day, 500 decisions each."""
    period = {"serviceId": SERVICE, "from": day.isoformat(), "to": day.isoformat()}
    rows = []
    for what in ("replays", "what-if"):
        seconds: list[float] = []
        statuses: set[int] = set()
        token: str | None = None
        for _ in range(SAMPLE_PAGES):
            more = {"nextToken": token} if token else {}
            if what == "replays":
                status, page, took = api.call("GET", "/audit/replays", **period, limit=500, **more)
            else:
                body = {**period, "ruleSet": WHAT_IF.read_text(encoding="utf-8"), "limit": 500}
                status, page, took = api.call("POST", "/audit/what-if", {**body, **more})
            seconds.append(took)
            statuses.add(status)
            token = (page or {}).get("nextToken")
            if status != 200 or not token:
                break
        key = "replay" if what == "replays" else "what_if"
        section.results[f"audit.{key}_page_500_median_s"] = round(median(seconds), 2)
        section.results[f"audit.{key}_page_500_max_s"] = round(max(seconds), 2)
        rows.append([f"/audit/{what}", len(seconds), _spread(seconds), sorted(statuses)])
    section.tables.append(
        (
            "replay and what-if: the first pages of the day (500 decisions a page)",
            ["route", "pages", "median / p95 / max (s)", "statuses"],
            rows,
        )
    )


def _spread(seconds: list[float]) -> str:
    return f"{median(seconds):.2f} / {percentile(seconds, 95):.2f} / {max(seconds):.2f}"
