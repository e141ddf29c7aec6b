"""The demo's manual-review act: referred applications -> the queue -> the reviewer CLI ->
the applicant sees the reviewer's decision and gets a notification."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests
from rich.console import Console
from rich.rule import Rule
from rich.table import Table

from infra.local.stack_file import id_token

QUEUE_WAIT_S = 30.0
TIMEOUT_S = 30.0
STYLE = {"APPROVED": "green", "REJECTED": "red", "PENDING_REVIEW": "yellow"}


def task_id(application_id: str) -> str:
    return "TSK" + application_id.removeprefix("APP")


def cli(console: Console, stack_file: Path, *args: str) -> int:
    """Run the reviewer CLI as a reviewer would, its output inline."""
    command = [sys.executable, "-m", "infra.cli.review", *args, "--stack-file", str(stack_file)]
    console.print(f"[dim]$ python -m infra.cli.review {' '.join(args)}[/]")
    env = {**os.environ, "COLUMNS": str(console.width)}
    return subprocess.run(command, env=env, check=False).returncode


def wait_for_tasks(api_url: str, token: str, ids: list[str]) -> set[str]:
    """The review workflow delivers tasks in about a second: wait until they are queued."""
    session = requests.Session()
    headers = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + QUEUE_WAIT_S
    found: set[str] = set()
    while time.monotonic() < deadline:
        for tid in set(ids) - found:
            answer = session.get(f"{api_url}/reviews/{tid}", headers=headers, timeout=TIMEOUT_S)
            if answer.status_code == 200:
                found.add(tid)
        if found == set(ids):
            break
        time.sleep(0.25)
    return found


def run(
    console: Console,
    info: dict[str, Any],
    stack_file: Path,
    referred: dict[str, str],
) -> bool:
    """`referred`: application id -> its applicant's token."""
    console.print(Rule("manual review: referred applications go to a person"))
    if len(referred) < 2:
        console.print("[red]fewer than two referred applications: nothing to review[/]")
        return False
    chosen = list(referred)[:2]
    api = info["apiUrl"]
    reviewer = id_token("reviewer", stack_file=stack_file)
    started = time.perf_counter()
    found = wait_for_tasks(api, reviewer, [task_id(a) for a in chosen])
    waited = time.perf_counter() - started
    if len(found) != len(chosen):
        console.print(f"[red]the review tasks did not reach the queue in {QUEUE_WAIT_S:.0f} s[/]")
        return False
    console.print(f"{len(found)} review tasks queued {waited:.1f} s after the last decision")
    first, second = (task_id(a) for a in chosen)
    steps = [
        ("queue",),
        ("show", first),
        ("decide", first, "approve", "--comment", "paper originals checked at the counter"),
    ]
    session = requests.Session()
    headers = {"Authorization": f"Bearer {reviewer}"}
    rule = session.get(f"{api}/reviews/{second}", headers=headers, timeout=TIMEOUT_S).json()
    referred_rules = rule.get("referredRules") or [rule["trace"][0]["ruleId"]]
    steps.append(("decide", second, "reject", "--reason", referred_rules[0]))
    for step in steps:
        if cli(console, stack_file, *step) != 0:
            return False
    console.print(Rule("the applicant's view"))
    table = Table(title="the applicants' applications after review", title_justify="left")
    for column in ("application", "status", "decided by", "reasons", "certificate"):
        table.add_column(column)
    ok = True
    for application_id, expected in zip(chosen, ("APPROVED", "REJECTED"), strict=True):
        headers = {"Authorization": f"Bearer {referred[application_id]}"}
        body = session.get(
            f"{api}/applications/{application_id}", headers=headers, timeout=TIMEOUT_S
        ).json()
        decision = body.get("decision", {})
        ok = ok and body.get("status") == expected and decision.get("decidedBy") == "REVIEWER"
        status = body.get("status", "?")
        table.add_row(
            application_id,
            f"[{STYLE.get(status, 'white')}]{status}[/]",
            decision.get("decidedBy", ""),
            ", ".join(f"{r['ruleId']} {r['message']['zh']}" for r in decision.get("reasons", []))
            or "—",
            (body.get("certificate") or {}).get("number", "—"),
        )
    console.print(table)
    if cli(console, stack_file, "notifications", "--decided-by", "REVIEWER") != 0:
        return False
    console.print(
        "[green]manual review: both decisions recorded by the workflow and seen by the applicant[/]"
        if ok
        else "[bold red]manual review: the applicant does not see the reviewer's decisions[/]"
    )
    return ok
