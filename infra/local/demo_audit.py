"""`python -m infra.local.demo_audit` (`make audit-demo`): the auditors' act, after `make demo`.

Submits one elderly-allowance approval of each age band (so a what-if has approvals to move),
waits until the chain sequencer has chained them, then runs the auditor CLI as an auditor
would: this week's rejections of the elderly allowance and why, one of them in full, the
service's figures, the verification of every service's chains, the replay of the week, the
what-if of raising the minimum age to 85 (infra/whatif/), and a CSV export.
Exit status: 0 every step as expected, 1 a step failed, 2 the stack is not running.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import subprocess
import sys
import time
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

import requests
from rich.console import Console
from rich.rule import Rule

from infra.local import people, seed
from infra.local.stack_file import DEFAULT_STACK_FILE, id_token, read_stack

ROOT = Path(__file__).resolve().parents[2]
CANDIDATE = ROOT / "infra/whatif/elderly-allowance-minimum-age-85.yaml"
SERVICE = "elderly-allowance"
CHAIN_WAIT_S = 30.0
TIMEOUT_S = 30.0


def cli(console: Console, stack_file: Path, *args: str) -> int:
    """Run the auditor CLI, its output inline."""
    console.print(f"[dim]$ python -m infra.cli.audit {' '.join(args)}[/]")
    command = [sys.executable, "-m", "infra.cli.audit", *args, "--stack-file", str(stack_file)]
    env = {**os.environ, "COLUMNS": str(console.width)}
    return subprocess.run(command, env=env, check=False).returncode


def submit_approvals(console: Console, info: dict[str, object], stack_file: Path) -> int:
    personas = seed.read_personas(Path(str(info.get("personasFile") or "")))
    approvals = [
        p
        for p in personas
        if p.service_id == SERVICE and p.expected_outcome == "APPROVED" and not p.bulk
    ]
    # someone new per age band, each applying for themselves (one grant per subject)
    session = requests.Session()
    for persona in people.fresh(dict(info), approvals, random.Random(uuid.uuid4().int)):
        answer = session.post(
            f"{info['apiUrl']}/services/{SERVICE}/applications",
            json=persona.application,
            headers={
                "Authorization": f"Bearer {people.token(dict(info), persona)}",
                "Idempotency-Key": f"audit-demo-{uuid.uuid4().hex}",
            },
            timeout=TIMEOUT_S,
        )
        answer.raise_for_status()
    console.print(f"{len(approvals)} elderly-allowance approvals submitted, one per age band")
    return len(approvals)


def wait_chained(console: Console, info: dict[str, object], stack_file: Path) -> bool:
    """The sequencer chains a record about a second after its write: wait for none pending."""
    token = id_token("auditor", stack_file=stack_file)
    today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    params = {"serviceId": SERVICE, "from": today, "to": today}
    deadline = time.monotonic() + CHAIN_WAIT_S
    while time.monotonic() < deadline:
        page = requests.get(
            f"{info['apiUrl']}/audit/chains",
            params=params,
            headers={"Authorization": f"Bearer {token}"},
            timeout=TIMEOUT_S,
        ).json()
        if not any(r["pending"] for r in page["items"]):
            console.print("every new record is chained")
            return True
        time.sleep(0.5)
    console.print(f"[red]records still unchained after {CHAIN_WAIT_S:.0f} s[/]")
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.local.demo_audit", description=__doc__)
    parser.add_argument("--stack-file", type=Path, default=DEFAULT_STACK_FILE)
    args = parser.parse_args(argv)
    console = Console() if sys.stdout.isatty() else Console(width=150)
    try:
        info = read_stack(args.stack_file)
    except FileNotFoundError as err:
        console.print(f"[bold red]error:[/] {err}")
        return 2
    console.print(Rule("auditors: every decision explained, untampered, reproducible"))
    submit_approvals(console, info, args.stack_file)
    if not wait_chained(console, info, args.stack_file):
        return 1
    stack = args.stack_file
    export = args.stack_file.parent / "audit-export.csv"
    steps: list[tuple[str, ...]] = [
        ("decisions", "--service", SERVICE, "--outcome", "REJECTED", "--week"),
        ("stats", "--service", SERVICE, "--week"),
        ("verify", "--week"),
        ("replay", "--week"),
        ("what-if", "--service", SERVICE, "--rules", str(CANDIDATE.relative_to(ROOT)), "--week"),
        ("export", "--service", SERVICE, "--week", "--format", "csv", "--output", str(export)),
    ]
    failed = [step[0] for step in steps if cli(console, stack, *step) != 0]
    query = ["decisions", "--service", SERVICE, "--outcome", "REJECTED", "--week", "--json"]
    listed = subprocess.run(
        [sys.executable, "-m", "infra.cli.audit", *query, "--stack-file", str(stack)],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.splitlines()
    if listed and cli(console, stack, "show", json.loads(listed[0])["decisionId"]) != 0:
        failed.append("show")
    console.print(
        f"[bold red]auditors: {', '.join(failed)} failed[/]"
        if failed
        else "[green]auditors: rejections explained, chains verified, the week replayed with "
        "zero mismatches, a what-if run[/]"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
