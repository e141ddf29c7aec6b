"""The restart section: a local stack restarted with thousands of review tasks waiting.

moto's Step Functions executions die with the stack, so a restart starts the workflow of every
open review task again (infra/local/resume.py). Here one referral goes through the API of a
stack in its own process; its review task is then copied under new ids until `count` tasks wait
(written straight into moto's table: the state a busy stack leaves behind, without submitting
thousands of referrals first); the stack stops (its snapshot), starts again, and the section
measures:

- `restart.ready_s`: from the new process until the stack serves (stack.json written);
- `restart.resumed_s`: from the new process until every task's token is renewed (its workflow
  sent it again and the task function stored the new token), read from the table every second;
- `restart.threads_per_1000_pending`, `restart.rss_mb_per_1000_pending`: the stack process's
  OS threads and resident memory with every workflow waiting, less those of the same process
  before the restart (one task waiting), per 1,000 waiting workflows;
- `restart.progress_lines`: how many progress lines the stack printed while resuming.

Target: `restart.resumed_s` <= 30 s for 2,000 pending reviews.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.bench.bench_common import Section

PENDING = 2000
QUICK_PENDING = 300
#: the longest the resume is waited for
RESUME_TIMEOUT_S = 600.0
TARGET_RESUMED_S = 30.0


def run_restart(quick: bool) -> Section:
    section = Section("restart")
    state_dir = Path(tempfile.mkdtemp(prefix="miaopi-restart-"))
    try:
        _measure(section, QUICK_PENDING if quick else PENDING, state_dir)
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)
    return section


def _process_status(pid: int) -> tuple[int, float]:
    """(OS threads, resident MB) of a process, from /proc."""
    text = Path(f"/proc/{pid}/status").read_text()
    threads = int(re.search(r"^Threads:\s+(\d+)", text, re.M).group(1))  # type: ignore[union-attr]
    rss_kb = int(re.search(r"^VmRSS:\s+(\d+)", text, re.M).group(1))  # type: ignore[union-attr]
    return threads, rss_kb / 1024


def _measure(section: Section, count: int, state_dir: Path) -> None:
    from infra.local.deploy import AwsClients
    from tests.e2e.conftest import StackProcess, connect

    stack = StackProcess(state_dir)
    info = stack.start()
    try:
        api = connect(state_dir, info)
        reviewer = api.client("reviewer")
        persona, citizen = api.fresh_applicant(
            next(
                p
                for p in api.live_personas
                if p.service_id == "graduate-hukou" and p.expected_outcome == "PENDING_REVIEW"
            )
        )
        app_id = citizen.submit("graduate-hukou", persona.application).body["applicationId"]
        task_id = "TSK" + app_id[3:]
        deadline = time.monotonic() + 60
        while reviewer.get(f"/reviews/{task_id}").status != 200:
            assert time.monotonic() < deadline, "the referral's task never came"
            time.sleep(0.2)
        dynamodb = AwsClients.create(info["motoEndpoint"], info["region"]).dynamodb
        tables = info["tables"]
        assert stack.proc is not None
        before = _process_status(stack.proc.pid)  # one workflow waiting
        # copies of the referred application would start their workflows from its stream:
        # copies of its task only (what a resume reads), the application's own referral kept
        _copy_tasks(dynamodb, tables, task_id, count - 1)
    finally:
        stack.stop()  # SIGTERM: the stack saves its snapshot

    log_from = stack.log_path.stat().st_size
    started = time.perf_counter()
    moment = dt.datetime.now(dt.UTC).isoformat()
    info = stack.start()
    ready_s = time.perf_counter() - started
    try:
        assert stack.proc is not None
        pid = stack.proc.pid
        dynamodb = AwsClients.create(info["motoEndpoint"], info["region"]).dynamodb
        renewed = 0
        peak = before
        resumed_s: float | None = None
        while time.perf_counter() - started < RESUME_TIMEOUT_S:
            peak = max(peak, _process_status(pid))
            renewed = _renewed(dynamodb, info["tables"]["ReviewTasksTable"], moment)
            if renewed >= count:
                resumed_s = time.perf_counter() - started
                break
            time.sleep(1.0)
        time.sleep(2.0)  # settled: every workflow waiting
        after = _process_status(pid)
    finally:
        stack.stop()
    log = stack.log_path.read_text(errors="replace")[log_from:]
    progress = len(re.findall(r"resum(?:ing|ed) .*review workflows", log))
    per_1000 = 1000 / count
    section.results.update(
        {
            "restart.pending": count,
            "restart.ready_s": round(ready_s, 1),
            "restart.resumed_s": None if resumed_s is None else round(resumed_s, 1),
            "restart.renewed": renewed,
            "restart.threads_before": before[0],
            "restart.threads_after": after[0],
            "restart.threads_per_1000_pending": round((after[0] - before[0]) * per_1000),
            "restart.rss_mb_per_1000_pending": round((after[1] - before[1]) * per_1000),
            "restart.progress_lines": progress,
            "restart.target_resumed_s": TARGET_RESUMED_S,
            "restart.target_met": resumed_s is not None and resumed_s <= TARGET_RESUMED_S,
        }
    )
    section.tables.append(
        (
            f"restart with {count} review tasks waiting",
            ["", "value"],
            [
                ["serving after (s)", f"{ready_s:.1f}"],
                [
                    "every workflow resumed after (s)",
                    "-" if resumed_s is None else f"{resumed_s:.1f}",
                ],
                ["tokens renewed", f"{renewed} / {count}"],
                ["threads before / after", f"{before[0]} / {after[0]}"],
                ["resident MB before / after", f"{before[1]:.0f} / {after[1]:.0f}"],
                ["progress lines", str(progress)],
            ],
        )
    )
    section.notes.append(
        f"restart.resumed_s target <= {TARGET_RESUMED_S:.0f} s for 2,000 pending: "
        + ("met" if section.results["restart.target_met"] else "NOT met")
    )


def _copy_tasks(dynamodb: Any, tables: dict[str, str], task_id: str, copies: int) -> None:
    """`copies` more open review tasks, copies of one real one under new ids."""
    table = tables["ReviewTasksTable"]
    task = dynamodb.get_item(TableName=table, Key={"taskId": {"S": task_id}})["Item"]
    suffix = task_id[3:]
    items = [_renamed(task, suffix, f"{n:06X}" + suffix[6:]) for n in range(copies)]
    for start in range(0, len(items), 25):
        request = {table: [{"PutRequest": {"Item": i}} for i in items[start : start + 25]]}
        while request:
            request = dynamodb.batch_write_item(RequestItems=request).get("UnprocessedItems")


def _renamed(value: Any, old: str, new: str) -> Any:
    """A DynamoDB JSON item with every string naming `old` naming `new`."""
    if isinstance(value, dict):
        return {k: _renamed(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed(v, old, new) for v in value]
    if isinstance(value, str):
        return value.replace(old, new)
    return value


def _renewed(dynamodb: Any, table: str, moment: str) -> int:
    """How many tasks got their token after `moment`."""
    total = 0
    for page in dynamodb.get_paginator("scan").paginate(
        TableName=table,
        Select="COUNT",
        FilterExpression="tokenAt > :moment",
        ExpressionAttributeValues={":moment": {"S": moment}},
    ):
        total += page["Count"]
    return total
