"""`python -m infra.cli.review`: the reviewers' CLI — the queue, one task, a decision.

    python -m infra.cli.review queue [--service graduate-hukou] [--status OPEN]
    python -m infra.cli.review show TSK...
    python -m infra.cli.review decide TSK... approve --comment "checked the paper diploma"
    python -m infra.cli.review decide TSK... reject --reason GH-FULL-TIME
    python -m infra.cli.review decide SPT... invalid --reason EA-HUKOU     (a spot check)
    python -m infra.cli.review notifications [--supervisors]

Against the local stack it signs in as the demo user `reviewer`; against AWS pass --api-url and
--token (the CLI then loads nothing of the local stack). Exit status: 0 done, 1 the API refused
(the error is printed), 2 no stack running or the API cannot be reached.
"""

from __future__ import annotations

import json
import time
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from infra.cli.client import (
    Api,
    ApiError,
    ApiUrl,
    StackFile,
    Token,
    User,
    err,
    fail,
    local_stack,
)

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)
out = Console()
STYLE = {"APPROVED": "green", "REJECTED": "red", "PENDING_REVIEW": "yellow", "REVOKED": "red"}


class Status(StrEnum):
    OPEN = "OPEN"
    DECIDING = "DECIDING"
    DECIDED = "DECIDED"


class Choice(StrEnum):
    """approve/reject a referral; valid/invalid for a spot check of an approval."""

    approve = "approve"
    reject = "reject"
    valid = "valid"
    invalid = "invalid"


@app.command()
def queue(
    service: Annotated[str | None, typer.Option(help="one service's queue")] = None,
    status: Annotated[Status, typer.Option(help="task status")] = Status.OPEN,
    limit: Annotated[int, typer.Option(min=1, max=100, help="tasks per page")] = 50,
    all_pages: Annotated[bool, typer.Option("--all", help="follow every page")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON Lines instead of a table")] = False,
    user: User = "reviewer",
    stack_file: StackFile = None,
    api_url: ApiUrl = None,
    token: Token = None,
) -> None:
    """The review queue, the earliest deadline first."""
    api = Api.connect(user, stack_file, api_url, token)
    params: dict[str, Any] = {"status": status.value, "limit": limit}
    if service:
        params["serviceId"] = service
    items: list[dict[str, Any]] = []
    try:
        while True:
            page = api.call("GET", "/reviews", params=params)
            items += page["items"]
            if not (all_pages and page.get("nextToken")):
                break
            params["nextToken"] = page["nextToken"]
    except ApiError as exc:
        raise fail(exc) from None
    if as_json:
        for item in items:
            out.print_json(json.dumps(item), indent=None)
        return
    table = Table(title=f"review queue - {status.value} ({len(items)})")
    for column in ("task", "service", "kind", "due by", "escalated", "referred by", "decision"):
        table.add_column(column)
    for t in items:
        escalated = "[bold red]ESCALATED[/]" if t.get("escalated") else ""
        outcome = t.get("outcome") or ""
        table.add_row(
            t["taskId"],
            t["serviceId"],
            t["kind"],
            t["dueBy"],
            escalated,
            ", ".join(t.get("referredRules", [])),
            f"[{STYLE.get(outcome, 'white')}]{outcome}[/]" if outcome else "",
        )
    out.print(table)


@app.command()
def show(
    task_id: Annotated[str, typer.Argument(help="the task id (TSK...)")],
    as_json: Annotated[bool, typer.Option("--json", help="the raw JSON")] = False,
    user: User = "reviewer",
    stack_file: StackFile = None,
    api_url: ApiUrl = None,
    token: Token = None,
) -> None:
    """One task: the application, why it was referred, what each rule saw, the evidence."""
    api = Api.connect(user, stack_file, api_url, token)
    try:
        task = api.call("GET", f"/reviews/{task_id}")
    except ApiError as exc:
        raise fail(exc) from None
    if as_json:
        out.print_json(json.dumps(task, ensure_ascii=False))
        return
    application = task["application"]
    head = (
        f"[bold]{task['taskId']}[/]  {task['kind']}  {task['status']}"
        f"{'  [bold red]ESCALATED[/]' if task.get('escalated') else ''}\n"
        f"service {task['serviceId']}   application {task['applicationId']}\n"
        f"due by {task['dueBy']} (end of day, CST)   rule set {task['ruleSetVersion']} "
        f"{task['ruleSetHash'][:19]}"
        # the API masks another reviewer's comment; the author reads their own in clear
        + (f"\ncomment: {escape(task['comment'])}" if task.get("comment") else "")
    )
    out.print(Panel(head, title="review task"))
    reasons = Table(title="why it was referred")
    for column in ("rule", "result", "reason", "remedy"):
        reasons.add_column(column)
    for r in task["reasons"]:
        reasons.add_row(r["ruleId"], r["result"], r["message"]["zh"], r["remedy"]["zh"])
    out.print(reasons)
    trace = Table(title="what each rule saw")
    for column in ("rule", "result", "values", "missing"):
        trace.add_column(column)
    for t in task["trace"]:
        style = {"PASS": "green", "FAIL": "red"}.get(t["result"], "yellow")
        values = json.dumps(t.get("values", {}), ensure_ascii=False)
        trace.add_row(
            t["ruleId"], f"[{style}]{t['result']}[/]", values, ", ".join(t.get("missing", []))
        )
    out.print(trace)
    evidence = Table(title="evidence (snapshot at decision time)")
    for column in ("alias", "source", "status"):
        evidence.add_column(column)
    for e in task["evidence"]:
        evidence.add_row(e["alias"], e["source"], e["status"])
    out.print(evidence)
    out.print(
        Panel(
            json.dumps(application.get("form", {}), ensure_ascii=False, indent=1),
            title="application (personal data masked)",
        )
    )


@app.command()
def decide(
    task_id: Annotated[str, typer.Argument(help="the task id (TSK...)")],
    choice: Annotated[
        Choice, typer.Argument(help="approve or reject (referral); valid or invalid (spot check)")
    ],
    reason: Annotated[
        list[str] | None,
        typer.Option("--reason", "-r", help="a rule id the decision rests on (repeatable)"),
    ] = None,
    comment: Annotated[str | None, typer.Option(help="a note for the record")] = None,
    wait: Annotated[
        bool, typer.Option(help="wait until the workflow has recorded the decision")
    ] = True,
    user: User = "reviewer",
    stack_file: StackFile = None,
    api_url: ApiUrl = None,
    token: Token = None,
) -> None:
    """Decide a task, once. A rejection (or an invalid spot check) names its rules (--reason)."""
    api = Api.connect(user, stack_file, api_url, token)
    body: dict[str, Any] = {"decision": choice.value.upper(), "reasonCodes": reason or []}
    if comment:
        body["comment"] = comment
    try:
        accepted = api.call("POST", f"/reviews/{task_id}/decision", json=body)
    except ApiError as exc:
        raise fail(exc) from None
    outcome = accepted["outcome"]
    out.print(
        f"[{STYLE[outcome]}]{outcome}[/] {task_id}: decision {accepted['decisionId']} "
        "handed to the review workflow"
    )
    if not wait:
        return
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline:
        task = api.call("GET", f"/reviews/{task_id}")
        if task["status"] == "DECIDED":
            out.print(f"recorded at {task['decidedAt']}; the applicant has been notified")
            return
        time.sleep(0.2)
    err.print("[yellow]the workflow has not recorded it yet; check again with `show`[/]")
    raise typer.Exit(1)


@app.command()
def notifications(
    supervisors: Annotated[
        bool, typer.Option("--supervisors", help="the supervisors' overdue notices instead")
    ] = False,
    applicant: Annotated[
        str | None, typer.Option(help="only this applicant's (their user id, `sub`)")
    ] = None,
    decided_by: Annotated[
        str | None, typer.Option(help="only decisions by SYSTEM or REVIEWER")
    ] = None,
    keep: Annotated[bool, typer.Option(help="leave the messages in the queue")] = False,
    stack_file: StackFile = None,
) -> None:
    """Read the notifications the applicants' (or supervisors') topic delivered (local stack)."""
    from infra.local.stack_file import local_client  # the local stack's queues only

    info = local_stack(stack_file)
    name = "SupervisorNotificationsQueue" if supervisors else "ApplicantNotificationsQueue"
    sqs = local_client(info, "sqs")
    url = info["queues"][name]
    table = Table(title="supervisors' notices" if supervisors else "applicants' notifications")
    for column in ("kind", "application", "service", "status / due", "applicant", "at"):
        table.add_column(column)
    seen = 0
    while True:
        messages = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            VisibilityTimeout=0 if keep else 30,
        ).get("Messages", [])
        if not messages:
            break
        for m in messages:
            body = json.loads(m["Body"])
            attributes: dict[str, Any] = m.get("MessageAttributes") or {}
            who = str(attributes.get("applicantId", {}).get("StringValue", ""))
            if (applicant and who != applicant) or (
                decided_by and body.get("decidedBy") != decided_by
            ):
                continue
            seen += 1
            status = body.get("status") or f"due {body.get('dueBy', '')}"
            table.add_row(
                body.get("kind", ""),
                body.get("applicationId", ""),
                body.get("serviceId", ""),
                f"[{STYLE.get(status, 'white')}]{status}[/]",
                who,
                body.get("decidedAt") or body.get("escalatedAt", ""),
            )
            if not keep:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        if keep:
            break
    out.print(table if seen else "no notifications")


if __name__ == "__main__":
    app()
