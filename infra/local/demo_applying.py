"""The demo's act on who may apply (实名认证, 本人或代办, 线下办事厅) and one grant per subject.

Five applications for elders, each by someone new (fresh identifiers, their records loaded):
1. an elder applies in person: approved;
2. the same elder applies again: rejected by the one-grant rule, which says where the first is;
3. a child of an elder's household applies as agent: approved, and the elder sees it;
4. a clerk of the Bao'an civil affairs bureau applies at the counter for an elder present, after
   reading their ID card: approved, channel COUNTER, and the elder sees it when they sign in;
5. a citizen submits an application in another person's name: 403, nothing written.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from typing import Any

import requests
from rich.console import Console
from rich.rule import Rule
from rich.table import Table

from infra.local import people, seed
from infra.local.demo_review import STYLE
from infra.local.stack_file import sign_in

ELDERLY = "elderly-allowance"
TIMEOUT_S = 30.0


@dataclass
class Act:
    who: str
    expected: str
    status: int = 0
    outcome: str = ""
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome == self.expected


def _clean_elder(personas: list[seed.Persona], with_agent: bool) -> seed.Persona:
    return next(
        p
        for p in personas
        if p.service_id == ELDERLY
        and p.expected_outcome == "APPROVED"
        and not p.expected_failing
        and isinstance(p.application.get("agent"), dict) == with_agent
        and not p.bulk
    )


def _submit(api: str, token: str, form: dict[str, Any], act: Act, **headers: str) -> str:
    answer = requests.post(
        f"{api}/services/{ELDERLY}/applications",
        json=form,
        headers={
            "Authorization": f"Bearer {token}",
            "Idempotency-Key": f"demo-applying-{uuid.uuid4().hex}",
            **headers,
        },
        timeout=TIMEOUT_S,
    )
    body: dict[str, Any] = answer.json()
    act.status = answer.status_code
    if answer.status_code != 201:
        act.outcome = f"{answer.status_code}"
        error = body.get("error", {})
        act.detail = f"{error.get('code')}: {error.get('message')}"
        return ""
    act.outcome = body["status"]
    submitted = body.get("submittedBy") or {}
    reasons = [f"{r['ruleId']} {r['message']['zh']}" for r in body["decision"]["reasons"]]
    act.detail = "; ".join([f"{submitted.get('capacity')}, {submitted.get('channel')}", *reasons])
    return str(body["applicationId"])


def _sees(api: str, token: str, application_id: str) -> bool:
    answer = requests.get(
        f"{api}/applications", headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT_S
    )
    return application_id in {a["applicationId"] for a in answer.json().get("items", [])}


def run(
    console: Console, info: dict[str, Any], personas: list[seed.Persona], rng: random.Random
) -> bool:
    console.print(
        Rule("who may apply, and one grant per subject (实名认证 · 本人或代办 · 一人一证)")
    )
    api = info["apiUrl"]
    alone, household, present, other = people.fresh(
        info,
        [
            _clean_elder(personas, with_agent=False),
            _clean_elder(personas, with_agent=True),
            _clean_elder(personas, with_agent=False),
            _clean_elder(personas, with_agent=False),
        ],
        rng,
    )
    acts: list[Act] = []
    seen: list[bool] = []

    in_person = Act("an elder, in person", "APPROVED")
    _submit(api, people.token(info, alone), alone.application, in_person)
    again = Act("the same elder, again", "REJECTED")
    _submit(api, people.token(info, alone), alone.application, again)
    acts += [in_person, again]

    agent = household.application["agent"]
    as_agent = Act(f"their child ({agent['relation']}), as agent", "APPROVED")
    agent_token = people.person_token(info, agent["idNumber"], agent["name"])
    app_id = _submit(api, agent_token, household.application, as_agent)
    seen.append(_sees(api, people.token(info, household), app_id))
    acts.append(as_agent)

    at_counter = Act("a clerk at the counter (ID card read)", "APPROVED")
    clerk = sign_in(info, "clerk")
    app_id = _submit(
        api, clerk, present.application, at_counter, **{"Counter-Identity-Check": "ID_CARD_READER"}
    )
    seen.append(_sees(api, people.token(info, present), app_id))
    acts.append(at_counter)

    refused = Act("a citizen, in another person's name", "403")
    _submit(api, sign_in(info, "citizen"), other.application, refused)
    acts.append(refused)

    table = Table(title="applications for elders", title_justify="left")
    for column in ("submitted by", "expected", "actual", "capacity, channel · reasons"):
        table.add_column(column)
    for act in acts:
        mark = "✓" if act.ok else "✗"
        style = "bold red" if not act.ok else STYLE.get(act.outcome, "magenta")
        table.add_row(act.who, act.expected, f"[{style}]{act.outcome} {mark}[/]", act.detail)
    console.print(table)
    ok = all(a.ok for a in acts) and all(seen)
    console.print(
        "[green]who may apply: in person, as agent and at the counter accepted (the elders see "
        "theirs), another's name refused, a second grant rejected[/]"
        if ok
        else "[bold red]who may apply: not as expected[/]"
    )
    return ok
