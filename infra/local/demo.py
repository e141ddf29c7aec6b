"""`python -m infra.local.demo` (`make demo`): every kind of decision, live, against `make run`.

Reads .local/stack.json and the personas the stack seeded (its personasFile) and submits, for
each service, one persona per path: the clean approval, each rule failing (personas that fail
several rules at once count for each), and then each evidence source being unavailable once.
Each is someone new in the persona's situation (fresh identifiers, their departments' records
loaded: a grant is held once per subject, so a second run must not meet the first run's), signed
in as themselves (a token of the stack's identity provider). Prints expected against actual
outcome and failing rules, with the client's round trip and the decision's own latency, then a
summary per service. Exit status: 0 all as expected, 1 a mismatch, 2 the stack is not running.

Then who may apply (demo_applying): an elder in person, their child as agent, a clerk at the
counter, someone refused for applying in another's name, and a second grant refused by a rule.

Then the manual review: two of the referred applications reach the reviewers' queue through
the review workflow; the reviewer CLI (`python -m infra.cli.review`) lists the queue, shows a
task, approves one and rejects the other; the applicant's applications then show the
reviewer's decisions, and the notifications the applicant was sent are read back.

Then supervision: an 80-million-yuan filing is approved at once, drawn for a spot check, found
INVALID by the reviewer (CLI), revoked with its certificate; the enterprise goes on the credit
list, its next filing is rejected by it, and after an administrator's repair it files again.

Each run uses fresh Idempotency-Keys, so every run creates new applications.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from miaopi.cases import UNAVAILABLE
from miaopi.loader import load_catalogue
from miaopi_rules import SERVICES_DIR
from rich.console import Console
from rich.table import Table
from rich.text import Text

from infra.local import (
    demo_applying,
    demo_certificates,
    demo_results,
    demo_review,
    demo_supervision,
    people,
    seed,
)
from infra.local.stack_file import DEFAULT_STACK_FILE, DEFAULT_STATE_DIR, read_stack

OUTCOME_ORDER = {"APPROVED": 0, "REJECTED": 1, "PENDING_REVIEW": 2}
SHORT = {"APPROVED": "APPROVED", "REJECTED": "REJECTED", "PENDING_REVIEW": "PENDING"}
STYLE = {"APPROVED": "green", "REJECTED": "red", "PENDING_REVIEW": "yellow"}
TIMEOUT_S = 30.0


class StackNotRunning(RuntimeError):
    pass


@dataclass
class Row:
    persona: seed.Persona
    down: list[str]  # evidence sources the persona has unavailable
    status: int = 0
    outcome: str = ""
    failing: tuple[str, ...] = ()
    client_ms: float = 0.0
    decision_ms: float | None = None
    error: str = ""
    application_id: str = ""
    #: the applicant's token: whom the persona's application is for, signed in
    token: str = ""

    @property
    def ok(self) -> bool:
        return (
            self.status == 201
            and self.outcome == self.persona.expected_outcome
            and list(self.failing) == self.persona.expected_failing
        )


def unavailable_sources(persona: seed.Persona, sources: dict[tuple[str, str], str]) -> list[str]:
    return sorted(
        sources.get((persona.service_id, alias), alias)
        for alias, value in persona.evidence.items()
        if value == UNAVAILABLE
    )


def select(personas: list[seed.Persona], everything: bool = False) -> list[Row]:
    """One persona per path: per service, the outcomes and every rule failing (from personas
    whose sources all answered), then every source unavailable once (across services)."""
    catalogue = load_catalogue(SERVICES_DIR)
    sources = {
        (sid, alias): e.source for sid, s in catalogue.items() for alias, e in s.evidence.items()
    }
    live = [p for p in personas if not p.bulk]
    if everything:
        return _ordered([Row(p, unavailable_sources(p, sources)) for p in live])
    chosen: list[Row] = []
    for service_id in sorted({p.service_id for p in live}):
        answered = [
            p for p in live if p.service_id == service_id and not unavailable_sources(p, sources)
        ]

        def features(p: seed.Persona) -> set[str]:
            return {f"outcome:{p.expected_outcome}", *(f"rule:{r}" for r in p.expected_failing)}

        todo = set().union(*(features(p) for p in answered)) if answered else set()
        while todo:
            best = max(answered, key=lambda p: (len(features(p) & todo), -len(p.name)))
            chosen.append(Row(best, []))
            todo -= features(best)
    down_todo = {s for p in live for s in unavailable_sources(p, sources)}
    for persona in live:
        down = unavailable_sources(persona, sources)
        if set(down) & down_todo:
            chosen.append(Row(persona, down))
            down_todo -= set(down)
    return _ordered(chosen)


def _ordered(rows: list[Row]) -> list[Row]:
    return sorted(
        rows,
        key=lambda r: (
            r.persona.service_id,
            bool(r.down),
            OUTCOME_ORDER.get(r.persona.expected_outcome, 9),
            r.persona.expected_failing,
        ),
    )


def check_running(info: dict[str, Any]) -> None:
    try:
        requests.get(f"{info['apiUrl']}/services", timeout=5).raise_for_status()
    except requests.RequestException as err:
        raise StackNotRunning(
            f"the API at {info['apiUrl']} does not answer ({type(err).__name__}); "
            "is `make run` still running? (.local/stack.json may be stale)"
        ) from None


def submit_all(rows: list[Row], api_url: str) -> None:
    run = uuid.uuid4().hex[:12]
    session = requests.Session()
    for i, row in enumerate(rows):
        persona = row.persona
        started = time.perf_counter()
        answer = session.post(
            f"{api_url}/services/{persona.service_id}/applications",
            json=persona.application,
            headers={
                "Authorization": f"Bearer {row.token}",
                "Idempotency-Key": f"demo-{run}-{i:03d}",
            },
            timeout=TIMEOUT_S,
        )
        row.client_ms = (time.perf_counter() - started) * 1000
        row.status = answer.status_code
        try:
            body = answer.json()
        except ValueError:
            body = {}
        if answer.status_code != 201:
            row.error = str((body.get("error") or {}).get("code") or answer.reason)
            continue
        decision = body.get("decision") or {}
        row.application_id = str(body.get("applicationId", ""))
        row.outcome = str(body.get("status", ""))
        row.failing = tuple(sorted(r["ruleId"] for r in decision.get("reasons", [])))
        row.decision_ms = decision.get("latencyMs")


def _prefix(service_id: str, rows: list[Row]) -> str:
    """The services' rule-id prefix (EA, GH, ...): short enough for the table."""
    for row in rows:
        if row.persona.service_id == service_id and row.persona.expected_failing:
            return row.persona.expected_failing[0].split("-")[0]
    return service_id[:2].upper()


def _rules(rules: tuple[str, ...] | list[str], most: int = 3) -> str:
    shown = ", ".join(rules[:most])
    return shown + (f", +{len(rules) - most}" if len(rules) > most else "") if rules else "—"


def render(console: Console, rows: list[Row]) -> None:
    prefixes = {r.persona.service_id: _prefix(r.persona.service_id, rows) for r in rows}
    table = Table(title="miaopi demo: one persona per decision path", title_justify="left")
    for name, width, justify in (
        ("Svc", 3, "left"),
        ("Persona", 36, "left"),
        ("Expected", 8, "left"),
        ("Actual", 10, "left"),
        ("Failing rules", 30, "left"),
        ("Source down", 18, "left"),
        ("RTT ms", 6, "right"),
        ("Decide ms", 9, "right"),
    ):
        table.add_column(
            name,
            justify=justify,  # type: ignore[arg-type]
            no_wrap=True,
            overflow="ellipsis",
            min_width=min(width, 10),
            max_width=width,
        )
    previous = None
    for row in rows:
        persona = row.persona
        if previous is not None and previous != persona.service_id:
            table.add_section()
        previous = persona.service_id
        expected = persona.expected_outcome
        if row.status != 201:
            actual = Text(f"{row.status} {row.error} ✗", style="bold red")
        else:
            mark = "✓" if row.ok else "✗"
            actual = Text(f"{SHORT.get(row.outcome, row.outcome)} {mark}")
            actual.stylize("bold red" if not row.ok else STYLE.get(row.outcome, ""))
        rules = Text(_rules(row.failing if row.status == 201 else persona.expected_failing))
        if row.status == 201 and list(row.failing) != persona.expected_failing:
            rules = Text(f"{_rules(row.failing)} ≠ {_rules(persona.expected_failing)}", "red")
        table.add_row(
            prefixes[persona.service_id],
            persona.name,
            Text(SHORT.get(expected, expected), style=STYLE.get(expected, "")),
            actual,
            rules,
            ", ".join(row.down) or "",
            f"{row.client_ms:.0f}",
            f"{row.decision_ms:.1f}" if row.decision_ms is not None else "—",
        )
    console.print(table)

    summary = Table(title="per service", title_justify="left")
    for name, justify in (
        ("Svc", "left"),
        ("Service", "left"),
        ("n", "right"),
        ("approved", "right"),
        ("rejected", "right"),
        ("pending", "right"),
        ("✗", "right"),
        ("median RTT ms", "right"),
        ("median decide ms", "right"),
    ):
        summary.add_column(name, justify=justify)  # type: ignore[arg-type]
    by_service: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_service[row.persona.service_id].append(row)
    groups = [(prefixes[s], s, rs) for s, rs in sorted(by_service.items())]
    groups.append(("", "all", rows))
    for prefix, service_id, group in groups:
        if service_id == "all":
            summary.add_section()
        outcomes = Counter(r.outcome for r in group)
        bad = sum(not r.ok for r in group)
        decided = [r.decision_ms for r in group if r.decision_ms is not None]
        summary.add_row(
            prefix,
            service_id,
            str(len(group)),
            str(outcomes["APPROVED"]),
            str(outcomes["REJECTED"]),
            str(outcomes["PENDING_REVIEW"]),
            Text(str(bad), style="bold red" if bad else "green"),
            f"{statistics.median(r.client_ms for r in group):.0f}",
            f"{statistics.median(decided):.1f}" if decided else "—",
        )
    console.print(summary)


def personas_file(explicit: Path | None, info: dict[str, Any]) -> Path:
    """The personas the running stack seeded (its stack.json says where)."""
    if explicit is not None:
        return explicit
    return Path(info.get("personasFile") or DEFAULT_STATE_DIR / "personas.json")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.local.demo", description=__doc__)
    parser.add_argument("--stack-file", type=Path, default=DEFAULT_STACK_FILE)
    parser.add_argument("--personas", type=Path, default=None, help="default: the stack's own")
    parser.add_argument("--all", action="store_true", help="every persona, not one per path")
    parser.add_argument(
        "--no-review",
        action="store_true",
        help="skip the manual-review and supervision parts (reviewer CLI)",
    )
    args = parser.parse_args(argv)
    console = Console() if sys.stdout.isatty() else Console(width=150)

    try:
        info = read_stack(args.stack_file)
        check_running(info)
    except (FileNotFoundError, StackNotRunning) as err:
        console.print(f"[bold red]error:[/] {err}")
        return 2
    source = personas_file(args.personas, info)
    if not source.exists():
        console.print(f"[bold red]error:[/] {source} not found: the stack seeds it (make run)")
        return 2
    personas = seed.read_personas(source)
    rows = select(personas, everything=args.all)
    rng = random.Random(uuid.uuid4().int)
    for row, someone in zip(rows, people.fresh(info, [r.persona for r in rows], rng), strict=True):
        row.persona, row.token = someone, people.token(info, someone)
    started = time.perf_counter()
    submit_all(rows, info["apiUrl"])
    elapsed = time.perf_counter() - started
    render(console, rows)
    bad = [r for r in rows if not r.ok]
    console.print(
        f"{len(rows)} applications, each by whom it is for, in {elapsed:.1f} s against "
        f"{info['apiUrl']}: "
        + (f"[bold red]{len(bad)} not as expected[/]" if bad else "[green]all as expected[/]")
    )
    if bad:
        return 1
    applying = demo_applying.run(console, info, personas, rng)
    if args.no_review:
        return 0 if applying else 1
    referred = {r.application_id: r.token for r in rows if r.outcome == "PENDING_REVIEW"}
    reviewed = demo_review.run(console, info, args.stack_file, referred)
    supervised = demo_supervision.run(console, info, args.stack_file, personas, rng)
    results = demo_results.run(console, info, personas, rng)
    certified = demo_certificates.run(console, info, args.stack_file, personas, rng)
    return 0 if applying and reviewed and supervised and results and certified else 1


if __name__ == "__main__":
    sys.exit(main())
