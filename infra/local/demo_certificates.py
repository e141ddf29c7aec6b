"""The demo's certificates act (电子证照): an elder's allowance is approved and its certificate
signed within a second or two; anyone (a bank, no sign-in) verifies it through the public
endpoint, and a changed byte fails; the elder saves the printable PDF; an administrator lists the
elder on the credit list, the approval is revoked, and the same certificate now verifies as
REVOKED; the elder's inbox told each step as it happened."""

from __future__ import annotations

import copy
import datetime as dt
import random
import time
from pathlib import Path
from typing import Any

import requests
from rich.console import Console
from rich.rule import Rule

from infra.local import seed
from infra.local.demo_results import inbox_table
from infra.local.demo_review import STYLE
from infra.local.demo_supervision import TIMEOUT_S, Session, _file, _someone, _wait
from infra.local.stack_file import id_token

ELDERLY = "elderly-allowance"


def _verify(api: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST /certificates/verify as anyone: no token."""
    answer = requests.post(f"{api}/certificates/verify", json=body, timeout=TIMEOUT_S)
    verified: dict[str, Any] = answer.json()
    return verified


def _status(api: str, number: str) -> str:
    answer = requests.get(f"{api}/certificates/{number}", timeout=TIMEOUT_S)
    return str(answer.json().get("status")) if answer.status_code == 200 else "—"


def _shown(answer: dict[str, Any]) -> str:
    colour = "green" if answer.get("valid") else "red"
    return (
        f"[{colour}]valid={answer.get('valid')}[/] signature={answer.get('signature')} "
        f"status={answer.get('status')}"
    )


def _inbox(console: Console, elder: Session, application_id: str) -> list[dict[str, Any]]:
    items = _inbox_items(elder, application_id)
    inbox_table(console, "the elder's inbox (GET /notifications), newest first", items)
    return items


def run(
    console: Console,
    info: dict[str, Any],
    stack_file: Path,
    personas: list[seed.Persona],
    rng: random.Random,
) -> bool:
    console.print(Rule("certificates: signed, verified by anyone, printed, revoked"))
    api = info["apiUrl"]
    persona, elder = _someone(info, personas, ELDERLY, rng)
    approved = _file(elder, persona.application, ELDERLY)
    certificate = approved.get("certificate") or {}
    number = str(certificate.get("number"))
    console.print(
        f"a. an elderly allowance: [{STYLE.get(approved['status'], 'white')}]"
        f"{approved['status']}[/], certificate {number} {certificate.get('status')}, "
        f"verify at {certificate.get('verificationPath')}"
    )
    started = time.monotonic()
    if not _wait(lambda: _status(api, number) == "VALID"):
        console.print("[red]the certificate was not signed[/]")
        return False
    console.print(f"b. signed and VALID {time.monotonic() - started:.1f} s after the approval")

    path = f"/applications/{approved['applicationId']}/certificate"
    document = elder.get(path).json()
    genuine = _verify(api, {"document": document})
    console.print(f"c. a bank verifies the downloaded certificate (no sign-in): {_shown(genuine)}")
    forged = copy.deepcopy(document)
    forged["payload"]["issuedOn"] = "2020-01-01"
    changed = _verify(api, {"document": forged})
    console.print(f"d. the same with its issue date changed: {_shown(changed)}")

    printed = elder.http.get(api + path, headers={"Accept": "application/pdf"}, timeout=TIMEOUT_S)
    saved = stack_file.parent / "certificates" / f"{number}.pdf"
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_bytes(printed.content)
    console.print(
        f"e. the elder prints it: {printed.status_code} {printed.headers.get('Content-Type')}, "
        f"{len(printed.content):,} bytes, saved to {saved} (its QR code is the signed certificate)"
    )

    admin = Session(api, id_token("admin", stack_file=stack_file))
    listed = admin.post(
        "/credit-list/entries",
        {
            "subjectId": persona.application["idNumber"],
            "reasonCode": "COURT_JUDGMENT",
            "reason": {"zh": "示意：法院判决 (demo)", "en": "illustrative: court judgment (demo)"},
            "validUntil": (dt.date.today() + dt.timedelta(days=30)).isoformat(),
        },
    )
    console.print(f"f. an administrator lists the elder on the credit list: {listed.status_code}")
    started = time.monotonic()
    revoked = _wait(
        lambda: (answer := _verify(api, {"document": document}))["status"] == "REVOKED" and answer
    )
    if not revoked:
        console.print("[red]the certificate was not revoked[/]")
        return False
    took = time.monotonic() - started
    pdf = {"Accept": "application/pdf"}
    reprint = elder.http.get(api + path, headers=pdf, timeout=TIMEOUT_S).status_code
    console.print(
        f"g. {took:.1f} s later the same certificate verifies: {_shown(revoked)}; "
        f"printing it again: {reprint} (a revoked certificate is not printed)"
    )
    kinds = {"DECIDED", "CERTIFICATE_ISSUED", "REVOKED"}
    _wait(lambda: kinds <= {n["kind"] for n in _inbox_items(elder, approved["applicationId"])})
    items = _inbox(console, elder, approved["applicationId"])
    return (
        bool(genuine.get("valid"))
        and changed.get("signature") == "SIGNATURE_MISMATCH"
        and printed.content.startswith(b"%PDF-")
        and revoked.get("valid") is False
        and kinds <= {n["kind"] for n in items}
    )


def _inbox_items(elder: Session, application_id: str) -> list[dict[str, Any]]:
    items = elder.get("/notifications").json().get("items", [])
    return [n for n in items if n["applicationId"] == application_id]
