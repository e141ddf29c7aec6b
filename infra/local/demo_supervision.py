"""The demo's supervision act (事后监管).

1. Re-verification without a person: an elder's allowance is approved; a court then lists the
   subject; the credit list's stream re-checks the approvals under supervision and revokes it;
   the subject's next application is rejected by the credit list.
2. A spot check (双随机): an 80-million-yuan filing is approved at once and drawn for a spot
   check; the reviewer finds it rests on false data and marks it INVALID with the CLI; the
   approval and its certificate are revoked, the enterprise goes on the credit list, and its
   next filing is rejected by it. An administrator repairs the entry (信用修复) and it files
   again."""

from __future__ import annotations

import datetime as dt
import random
import time
import uuid
from pathlib import Path
from typing import Any

import requests
from rich.console import Console
from rich.rule import Rule
from rich.table import Table

from infra.local import people, seed
from infra.local.demo_review import STYLE, cli
from infra.local.stack_file import id_token

SERVICE = "enterprise-investment-filing"
ELDERLY = "elderly-allowance"
#: above the service's "major project" risk factor (50 million yuan): always spot-checked
MAJOR_INVESTMENT = "80000000.00"
#: the rule the (simulated) forged business registration broke
FALSE_DATA_RULE = "EF-REGISTERED"
WAIT_S = 30.0
TIMEOUT_S = 30.0


class Session:
    def __init__(self, api: str, token: str) -> None:
        self.api = api
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"

    def get(self, path: str) -> requests.Response:
        return self.http.get(self.api + path, timeout=TIMEOUT_S)

    def post(self, path: str, body: Any, **headers: str) -> requests.Response:
        return self.http.post(self.api + path, json=body, headers=headers, timeout=TIMEOUT_S)


def _wait(predicate: Any) -> Any:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    return None


def _someone(
    info: dict[str, Any], personas: list[seed.Persona], service: str, rng: random.Random
) -> tuple[seed.Persona, Session]:
    """Someone new in the situation of the service's clean approval, signed in as themselves
    (a demo run never meets the grant or the credit listing of an earlier run)."""
    clean = next(
        p
        for p in personas
        if p.service_id == service and p.expected_outcome == "APPROVED" and not p.expected_failing
    )
    [persona] = people.fresh(info, [clean], rng)
    return persona, Session(info["apiUrl"], people.token(info, persona))


def recheck_act(console: Console, persona: seed.Persona, citizen: Session, admin: Session) -> bool:
    """联合惩戒: a court lists an elder already approved; the credit list's stream re-checks the
    approvals under supervision and revokes it without a person (the grant released with it);
    the next application is rejected by the credit list; repair lets them apply again."""
    approved = _file(citizen, persona.application, ELDERLY)
    console.print(
        f"a. an elderly allowance: [{STYLE.get(approved['status'], 'white')}]"
        f"{approved['status']}[/], certificate "
        f"{(approved.get('certificate') or {}).get('number', '—')}"
    )
    subject = persona.application["idNumber"]
    listed = admin.post(
        "/credit-list/entries",
        {
            "subjectId": subject,
            "reasonCode": "COURT_JUDGMENT",
            "reason": {
                "zh": "法院判决：失信被执行人(示意)",
                "en": "Court: judgment defaulter (demo)",
            },
            "validUntil": (dt.date.today() + dt.timedelta(days=365)).isoformat(),
        },
    )
    console.print(f"b. an administrator lists the subject (court judgment): {listed.status_code}")

    def revoked() -> dict[str, Any] | None:
        body: dict[str, Any] = citizen.get(f"/applications/{approved['applicationId']}").json()
        return body if body.get("status") == "REVOKED" else None

    after = _wait(revoked)
    if after is None:
        console.print("[red]the re-check did not revoke the approval[/]")
        return False
    reasons = ", ".join(r["ruleId"] for r in after["decision"]["reasons"])
    console.print(
        f"c. the credit list's stream re-checked the approvals under supervision: "
        f"[red]REVOKED[/] by the system ({reasons}), certificate "
        f"{after['certificate']['status']}"
    )
    again = _file(citizen, persona.application, ELDERLY)
    console.print(
        f"d. the next application: [{STYLE.get(again['status'], 'white')}]{again['status']}[/] "
        + ", ".join(f"{r['ruleId']} {r['message']['zh']}" for r in again["decision"]["reasons"])
    )
    admin.post("/credit-list/repair", {"subjectId": subject, "reason": "已履行判决 (demo)"})
    return again["status"] == "REJECTED" and "CREDIT" in reasons


def _file(citizen: Session, application: dict[str, Any], service: str = SERVICE) -> dict[str, Any]:
    answer = citizen.post(
        f"/services/{service}/applications", application, **{"Idempotency-Key": uuid.uuid4().hex}
    )
    body: dict[str, Any] = answer.json()
    return body


def run(
    console: Console,
    info: dict[str, Any],
    stack_file: Path,
    personas: list[seed.Persona],
    rng: random.Random,
) -> bool:
    console.print(Rule("supervision: trust first, check after (信任在先，过程监管)"))
    api = info["apiUrl"]
    reviewer = Session(api, id_token("reviewer", stack_file=stack_file))
    admin = Session(api, id_token("admin", stack_file=stack_file))
    elder, elder_session = _someone(info, personas, ELDERLY, rng)
    if not recheck_act(console, elder, elder_session, admin):
        return False
    # the enterprise files for itself (signed in with its credit code)
    persona, citizen = _someone(info, personas, SERVICE, rng)
    application = {**persona.application, "totalInvestment": MAJOR_INVESTMENT}
    code = application["enterpriseCreditCode"]

    approved = _file(citizen, application)
    console.print(
        f"e. an 80-million-yuan project filing: [{STYLE.get(approved['status'], 'white')}]"
        f"{approved['status']}[/] in {approved['decision']['latencyMs']:.0f} ms, certificate "
        f"{(approved.get('certificate') or {}).get('number', '—')}"
    )
    if approved["status"] != "APPROVED":
        return False
    task_id = "SPT" + approved["applicationId"][3:]
    task = _wait(lambda: reviewer.get(f"/reviews/{task_id}").status_code == 200)
    if not task:
        console.print("[red]the spot check did not reach the queue[/]")
        return False
    console.print(
        "f. supervision re-verified it against fresh data and drew it for a spot check "
        "(the major-project risk factor: rate 1.0; seed and draw recorded)"
    )
    console.print("g. the reviewer finds the business registration forged and marks it INVALID:")
    decided = cli(
        console,
        stack_file,
        "decide",
        task_id,
        "invalid",
        "--reason",
        FALSE_DATA_RULE,
        "--comment",
        "business licence forged (demo)",
    )
    if decided != 0:
        return False
    revoked = citizen.get(f"/applications/{approved['applicationId']}").json()

    def listed() -> dict[str, Any] | None:
        answer = admin.post("/credit-list/lookup", {"subjectId": code})
        return answer.json() if answer.status_code == 200 else None

    entry = _wait(listed)
    again = _file(citizen, {**persona.application})
    table = Table(title="what the applicant and the credit list now show", title_justify="left")
    for column in ("step", "status", "detail"):
        table.add_column(column)
    certificate = revoked.get("certificate") or {}
    table.add_row(
        "the approval",
        f"[{STYLE.get(revoked['status'], 'white')}]{revoked['status']}[/]",
        f"certificate {certificate.get('number', '—')} {certificate.get('status', '')}",
    )
    table.add_row(
        "credit list",
        entry["status"] if entry else "[red]not listed[/]",
        f"{entry['subject']} until {entry['validUntil']}: {entry['reason']['zh']}" if entry else "",
    )
    reasons = ", ".join(
        f"{r['ruleId']} {r['message']['zh']}" for r in again.get("decision", {}).get("reasons", [])
    )
    table.add_row(
        "its next filing",
        f"[{STYLE.get(again.get('status', ''), 'white')}]{again.get('status')}[/]",
        reasons,
    )
    console.print(table)
    ok = (
        revoked["status"] == "REVOKED"
        and certificate.get("status") == "REVOKED"
        and entry is not None
        and again.get("status") == "REJECTED"
        and "EF-CREDIT" in reasons
    )
    repaired = admin.post(
        "/credit-list/repair", {"subjectId": code, "reason": "整改完成，信用修复 (demo)"}
    )
    after = _file(citizen, {**persona.application})
    console.print(
        f"h. an administrator repairs the entry (信用修复): {repaired.json().get('status')}; "
        f"the enterprise files again: [{STYLE.get(after.get('status', ''), 'white')}]"
        f"{after.get('status')}[/]"
    )
    ok = ok and after.get("status") == "APPROVED"
    console.print(
        "[green]supervision: revoked on a spot check, listed, rejected by the credit list, "
        "repaired[/]"
        if ok
        else "[bold red]supervision: not as expected[/]"
    )
    return ok
