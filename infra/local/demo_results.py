"""The demo's results act (结果推送 · 主动送达): a pharmacy chain cancels a closed store's drug
licence; the approval's outcome event reaches the e-licence library's stand-in, which marks the
licence CANCELLED (the address is free again); a second cancellation of it is rejected; the
chain's inbox shows the decision without anyone asking for it."""

from __future__ import annotations

import random
import time
from typing import Any

from rich.console import Console
from rich.rule import Rule
from rich.table import Table

from infra.local import seed
from infra.local.demo_review import STYLE
from infra.local.demo_supervision import Session, _file, _someone, _wait
from infra.local.stack_file import local_client

SERVICE = "drug-license-cancellation"
LIBRARY = "e-licence-library"


def _licence(info: dict[str, Any], number: str) -> dict[str, Any]:
    item = (
        local_client(info, "dynamodb")
        .get_item(
            TableName=info["tables"]["ReferenceDataTable"],
            Key={"source": {"S": LIBRARY}, "key": {"S": number}},
        )
        .get("Item")
        or {}
    )
    record = (item.get("record") or {}).get("M") or {}
    return {k: next(iter(v.values())) for k, v in record.items()}


def inbox_table(console: Console, title: str, items: list[dict[str, Any]]) -> None:
    """Notifications (GET /notifications items) as the demo shows them, newest first."""
    table = Table(title=title)
    for column in ("when", "kind", "application", "outcome", "certificate", "read", "message"):
        table.add_column(column)
    for n in items:
        table.add_row(
            n["occurredAt"][:19],
            n["kind"],
            n["applicationId"],
            f"[{STYLE.get(n['outcome'], 'white')}]{n['outcome']}[/]",
            n.get("certificateNumber") or "—",
            "yes" if n["read"] else "no",
            n["message"]["zh"],
        )
    console.print(table)


def _inbox(console: Console, chain: Session) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = chain.get("/notifications").json().get("items", [])
    inbox_table(console, "the chain's inbox (GET /notifications), newest first", items)
    return items


def run(
    console: Console, info: dict[str, Any], personas: list[seed.Persona], rng: random.Random
) -> bool:
    console.print(Rule("results: the e-licence library and the applicant's inbox"))
    persona, chain = _someone(info, personas, SERVICE, rng)
    number = persona.application["licenceNumber"]
    status = _licence(info, number).get("status")
    console.print(f"a. licence {number} in the e-licence library: {status}")
    first = _file(chain, persona.application, SERVICE)
    console.print(
        f"b. the chain cancels it: [{STYLE.get(first['status'], 'white')}]{first['status']}[/], "
        f"notice {(first.get('certificate') or {}).get('number', '—')}"
    )
    started = time.monotonic()
    if not _wait(lambda: _licence(info, number).get("status") == "CANCELLED"):
        console.print("[red]the e-licence library did not cancel the licence[/]")
        return False
    console.print(
        f"c. the outcome event reached the e-licence library in {time.monotonic() - started:.1f}"
        f" s: licence {number} [red]CANCELLED[/] (the address is free for a new pharmacy)"
    )
    again = _file(chain, persona.application, SERVICE)
    console.print(
        f"d. a second cancellation of it: [{STYLE.get(again['status'], 'white')}]"
        f"{again['status']}[/] " + ", ".join(r["ruleId"] for r in again["decision"]["reasons"])
    )

    def notified() -> bool:
        items = chain.get("/notifications").json().get("items", [])
        return any(n["applicationId"] == first["applicationId"] for n in items)

    delivered = bool(_wait(notified))
    items = _inbox(console, chain)
    return delivered and again["status"] == "REJECTED" and bool(items)
