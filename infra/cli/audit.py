"""`python -m infra.cli.audit`: the auditors' CLI — query, show, statistics, chain verification,
replay, what-if and export, through the audit API.

    python -m infra.cli.audit decisions --service elderly-allowance --outcome REJECTED --week
    python -m infra.cli.audit decisions --application APP...     # why it was referred, and after
    python -m infra.cli.audit show DEC...
    python -m infra.cli.audit stats --service elderly-allowance --days 30
    python -m infra.cli.audit verify --week                      # every service's chains
    python -m infra.cli.audit replay --week                      # exit 1 if any mismatch
    python -m infra.cli.audit what-if --service elderly-allowance \\
        --rules infra/whatif/elderly-allowance-minimum-age-85.yaml --week
    python -m infra.cli.audit what-if --service elderly-allowance \\
        --rules infra/whatif/elderly-allowance-minimum-age-85-overrides.yaml --week
    python -m infra.cli.audit export --service elderly-allowance --week --format csv -o out.csv

A period is --from [--to] (China dates; --to defaults to today and needs --from), --today,
--week (Monday to today) or --days N (the last N days, today included); the default is the last
7 days. Against the local stack the CLI signs in as the demo user `auditor`; against AWS pass
--api-url and --token. Verification, replay and what-if run next to the records (the API
answers with ids, hashes and outcomes): the auditor needs no table access and personal data
stays in AWS. Exit status: 0 done, 1 the API refused, a chain does not verify or a decision
does not reproduce, 2 no stack running or the API cannot be reached.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from miaopi.workdays import CHINA
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
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
)

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)
out = Console()
STYLE = {"APPROVED": "green", "REJECTED": "red", "PENDING_REVIEW": "yellow", "REVOKED": "magenta"}
Service = Annotated[str | None, typer.Option("--service", "-s", help="a service id")]
From = Annotated[
    dt.datetime | None,
    typer.Option("--from", formats=["%Y-%m-%d"], help="first day (--to defaults to today)"),
]
To = Annotated[
    dt.datetime | None,
    typer.Option("--to", formats=["%Y-%m-%d"], help="last day (needs --from)"),
]
Today = Annotated[bool, typer.Option("--today", help="today only")]
Week = Annotated[bool, typer.Option("--week", help="this week, Monday to today")]
Days = Annotated[int | None, typer.Option("--days", min=1, max=366, help="the last N days")]
PageSize = Annotated[
    int | None,
    typer.Option(
        "--page-size", min=1, help="records the API reads per request [default: the API's]"
    ),
]
EXPORT_COLUMNS = (
    "decisionId",
    "applicationId",
    "serviceId",
    "decidedAt",
    "outcome",
    "decidedBy",
    "deciderId",
    "kind",
    "ruleSetVersion",
    "ruleSetHash",
    "applicationDate",
    "latencyMs",
    "failingRules",
    "reviewOf",
    "revokes",
)


class Outcome(StrEnum):
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    PENDING_REVIEW = "PENDING_REVIEW"
    REVOKED = "REVOKED"


class Lang(StrEnum):
    zh = "zh"
    en = "en"


class Format(StrEnum):
    jsonl = "jsonl"
    csv = "csv"


def period(
    start: dt.datetime | None,
    end: dt.datetime | None,
    today: bool = False,
    week: bool = False,
    days: int | None = None,
) -> tuple[dt.date, dt.date]:
    """The period the options name (China dates, both included). --to alone is refused: it
    would silently be a one-day period."""
    now = dt.datetime.now(CHINA).date()
    if end and not start:
        raise typer.BadParameter("--to needs --from (the period's first day)", param_hint="--to")
    if start:
        return start.date(), (end.date() if end else now)
    if today:
        return now, now
    if week:
        return now - dt.timedelta(days=now.weekday()), now
    return now - dt.timedelta(days=(days or 7) - 1), now


def _services(api: Api, service: str | None) -> list[str]:
    if service:
        return [service]
    return [s["serviceId"] for s in api.call("GET", "/services")["items"]]


def _pages(api: Api, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
    params = dict(params)
    while True:
        page = api.call("GET", path, params=params)
        yield page
        if not page.get("nextToken"):
            return
        params["nextToken"] = page["nextToken"]


def _each_service(
    api: Api,
    service: str | None,
    path: str,
    doing: str,
    first: dt.date,
    last: dt.date,
    page_size: int | None = None,
    done: Callable[[dict[str, Any]], int] = lambda page: len(page["items"]),
    where: Callable[[dict[str, Any]], str] = lambda page: "",
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every page of a period's GET `path` for one service or each, with a progress bar: of
    `total` when the pages say it, advanced by `done(page)`, `where(page)` after the name."""
    try:
        services = _services(api, service)
        with _progress() as progress:
            for service_id in services:
                task = progress.add_task(f"{doing} {service_id}", total=None)
                params: dict[str, Any] = {
                    "serviceId": service_id,
                    "from": first.isoformat(),
                    "to": last.isoformat(),
                }
                if page_size:
                    params["limit"] = page_size
                for page in _pages(api, path, params):
                    progress.update(
                        task,
                        total=page.get("total"),
                        advance=done(page),
                        description=f"{doing} {service_id} {where(page)}".rstrip(),
                    )
                    yield service_id, page
    except ApiError as exc:
        raise fail(exc) from None


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err,
        transient=True,
    )


def _query(
    service: str | None,
    first: dt.date,
    last: dt.date,
    outcome: Outcome | None,
    rule_set: str | None,
    decider: str | None,
    subject_hash: str | None,
    whole_history: bool,
) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if service:
        params["serviceId"] = service
    if not whole_history:
        params |= {"from": first.isoformat(), "to": last.isoformat()}
    for name, value in (
        ("outcome", outcome.value if outcome else None),
        ("ruleSetVersion", rule_set),
        ("decider", decider),
        ("subjectHash", subject_hash),
    ):
        if value:
            params[name] = value
    return params


def _styled(outcome: str) -> str:
    return f"[{STYLE.get(outcome, 'white')}]{outcome}[/]"


def _cst(moment: str) -> str:
    return dt.datetime.fromisoformat(moment).astimezone(CHINA).strftime("%m-%d %H:%M:%S")


@app.command()
def decisions(
    service: Service = None,
    outcome: Annotated[Outcome | None, typer.Option(help="only this outcome")] = None,
    rule_set: Annotated[str | None, typer.Option(help="only this rule-set version")] = None,
    decider: Annotated[
        str | None, typer.Option(help="a reviewer's id, supervision, or system")
    ] = None,
    applicant: Annotated[
        str | None,
        typer.Option(
            envvar="MIAOPI_SUBJECT_ID",
            help="the applicant's ID number or credit code (sent in a header, hashed by the API)",
        ),
    ] = None,
    subject_hash: Annotated[str | None, typer.Option(help="the subject's hash")] = None,
    application: Annotated[
        str | None, typer.Option(help="an application's id (APP...): its decisions in order")
    ] = None,
    start: From = None,
    end: To = None,
    today: Today = False,
    week: Week = False,
    days: Days = None,
    limit: Annotated[int, typer.Option(min=1, help="at most this many decisions")] = 500,
    lang: Annotated[Lang, typer.Option(help="language of the reasons")] = Lang.zh,
    as_json: Annotated[bool, typer.Option("--json", help="JSON Lines instead of a table")] = False,
    user: User = "auditor",
    stack_file: StackFile = None,
    api_url: ApiUrl = None,
    token: Token = None,
) -> None:
    """Decisions by service and period, outcome, rule-set version, decider, applicant or
    application, with the rules that failed and why."""
    api = Api.connect(user, stack_file, api_url, token)
    first, last = period(start, end, today, week, days)
    keyed = (decider and decider != "system") or applicant or subject_hash or application
    whole = bool(keyed) and not (start or end or today or week or days)
    params = _query(service, first, last, outcome, rule_set, decider, subject_hash, whole)
    if application:
        params["applicationId"] = application
    params["limit"] = min(limit, 200)
    if applicant:  # a header, never the URL: no access log or proxy keeps the ID number
        api.session.headers["X-Subject-Id"] = applicant
    items: list[dict[str, Any]] = []
    index = ""
    try:
        for page in _pages(api, "/audit/decisions", params):
            index = page["index"]
            items += page["items"]
            if len(items) >= limit:
                break
    except ApiError as exc:
        raise fail(exc) from None
    items = items[:limit]
    if as_json:
        for item in items:
            out.print_json(json.dumps(item, ensure_ascii=False), indent=None)
        return
    scope = application or service or "all services"
    what = f"{scope}, {'all time' if whole else f'{first} to {last}'}"
    table = Table(title=f"decisions - {what} ({len(items)}, index {index})")
    for column in ("decided (CST)", "decision", "service", "outcome", "by", "rules", "why"):
        table.add_column(column, overflow="fold")
    for d in items:
        reasons = d.get("reasons") or []
        table.add_row(
            _cst(d["decidedAt"]),
            d["decisionId"],
            d["serviceId"],
            _styled(d["outcome"]),
            d["decidedBy"] if d["decidedBy"] != "REVIEWER" else f"REVIEWER {d.get('deciderId')}",
            ", ".join(r["ruleId"] for r in reasons),
            "\n".join((r.get("message") or {}).get(lang.value, "") for r in reasons),
        )
    out.print(table)


@app.command()
def show(
    decision_id: Annotated[str, typer.Argument(help="the decision id (DEC...)")],
    lang: Annotated[Lang, typer.Option(help="language of the reasons")] = Lang.zh,
    as_json: Annotated[bool, typer.Option("--json", help="the raw JSON")] = False,
    user: User = "auditor",
    stack_file: StackFile = None,
    api_url: ApiUrl = None,
    token: Token = None,
) -> None:
    """One decision: why, what each rule saw, the evidence, its chain position, whether its
    hashes verify and whether it replays."""
    api = Api.connect(user, stack_file, api_url, token)
    try:
        d = api.call("GET", f"/audit/decisions/{decision_id}")
    except ApiError as exc:
        raise fail(exc) from None
    if as_json:
        out.print_json(json.dumps(d, ensure_ascii=False))
        return
    chain, hashes, replayed = d.get("chain"), d["hashes"], d["replay"]
    ok = {True: "[green]yes[/]", False: "[bold red]NO[/]", None: "-"}
    head = (
        f"[bold]{d['decisionId']}[/]  {_styled(d['outcome'])}  by {d['decidedBy']}"
        f" {d.get('deciderId') or ''}  {d.get('kind') or ''}\n"
        f"service {d['serviceId']}   application {d['applicationId']}   "
        f"applied {d.get('applicationDate')}\n"
        f"decided {_cst(d['decidedAt'])} CST in {d.get('latencyMs')} ms   rule set "
        f"{d['ruleSetVersion']} {d['ruleSetHash'][:23]}\n"
        f"subject {d.get('subjectHash', '')[:16]}...   "
        + (f"reviews {d['reviewOf']}" if d.get("reviewOf") else "")
        + (f"revokes {d['revokes']}" if d.get("revokes") else "")
        # the API masks a comment's personal data for anyone but its author
        + (f"\ncomment: {escape(d['comment'])}" if d.get("comment") else "")
    )
    out.print(Panel(head, title="decision"))
    position = (
        f"chain {chain['chainId']} position {chain['seq']}\n"
        f"hash {chain['hash']}\nprev {chain['prevHash']}"
        if chain
        else "[yellow]not chained yet[/]"
    )
    out.print(
        Panel(
            f"{position}\ncontent matches its hash: {ok[hashes['contentMatches']]}   "
            f"link hash: {ok[hashes.get('linkMatches')]}   "
            f"predecessor: {ok[hashes.get('predecessorMatches')]}\n"
            f"replay: {replayed['status']}"
            + (f" -> {replayed['replayedOutcome']}" if replayed.get("replayedOutcome") else "")
            + (f" ({replayed['note']})" if replayed.get("note") else "")
            + "".join(
                f"\n  {x['field']}: recorded {x['recorded']} replayed {x['replayed']}"
                for x in replayed.get("differences", [])
            ),
            title="tamper evidence and replay",
        )
    )
    if d.get("reasons"):
        reasons = Table(title="why")
        for column in ("rule", "result", "reason", "legal basis"):
            reasons.add_column(column, overflow="fold")
        for r in d["reasons"]:
            basis = r.get("legalBasis") or {}
            reasons.add_row(
                r["ruleId"],
                r.get("result") or "",
                (r.get("message") or {}).get(lang.value, ""),
                f"{basis.get('citation', '')} {basis.get('article') or ''}",
            )
        out.print(reasons)
    if d.get("trace"):
        trace = Table(title="what each rule saw (personal data masked)")
        for column in ("rule", "result", "values"):
            trace.add_column(column, overflow="fold")
        for t in d["trace"]:
            style = {"PASS": "green", "FAIL": "red", "NOT_APPLICABLE": "dim"}.get(
                t["result"], "yellow"
            )
            trace.add_row(
                t["ruleId"],
                f"[{style}]{t['result']}[/]",
                json.dumps(t.get("values", {}), ensure_ascii=False),
            )
        out.print(trace)
    if d.get("evidence"):
        evidence = Table(title="evidence snapshot (personal data masked)")
        for column in ("alias", "source", "status", "record"):
            evidence.add_column(column, overflow="fold")
        for e in d["evidence"]:
            record = json.dumps(e.get("record"), ensure_ascii=False) if e.get("record") else ""
            evidence.add_row(e["alias"], e["source"], e["status"], record)
        out.print(evidence)
    if d.get("application"):
        out.print(
            Panel(
                json.dumps(d["application"], ensure_ascii=False, indent=1),
                title="application (personal data masked)",
            )
        )


@app.command()
def stats(
    service: Annotated[str, typer.Option("--service", "-s", help="a service id")],
    start: From = None,
    end: To = None,
    today: Today = False,
    week: Week = False,
    days: Days = None,
    as_json: Annotated[bool, typer.Option("--json", help="the raw JSON")] = False,
    user: User = "auditor",
    stack_file: StackFile = None,
    api_url: ApiUrl = None,
    token: Token = None,
) -> None:
    """A service's figures for a period: volumes, rates, failing rules, latency, reviewer
    overturns, revocations."""
    api = Api.connect(user, stack_file, api_url, token)
    first, last = period(start, end, today, week, days)
    try:
        s = api.call(
            "GET",
            "/audit/stats",
            params={"serviceId": service, "from": first.isoformat(), "to": last.isoformat()},
        )
    except ApiError as exc:
        raise fail(exc) from None
    if as_json:
        out.print_json(json.dumps(s, ensure_ascii=False))
        return

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.1%}"

    system, reviews, latency = s["system"], s["reviews"], s["latencyMs"]
    table = Table(title=f"{service}, {first} to {last}", show_header=False)
    table.add_row("decision records", str(s["total"]))
    table.add_row("by outcome", ", ".join(f"{k} {v}" for k, v in s["byOutcome"].items()))
    table.add_row("the rules' decisions", str(system["decisions"]))
    table.add_row("auto-approval rate", pct(system.get("autoApprovalRate")))
    table.add_row("referral rate", pct(system.get("referralRate")))
    table.add_row("rejection rate", pct(system.get("rejectionRate")))
    table.add_row(
        "decision latency",
        f"median {latency.get('median', '-')} ms, p95 {latency.get('p95', '-')} ms "
        f"({latency['count']})",
    )
    table.add_row(
        "reviewer decisions",
        f"{reviews['decisions']} ({reviews['approved']} approved, {reviews['rejected']} rejected)",
    )
    table.add_row("reviewer overturn rate", pct(reviews.get("overturnRate")))
    table.add_row("spot checks found valid", str(s["spotChecksValid"]))
    table.add_row("revocations", str(s["revocations"]))
    out.print(table)
    if s["topFailingRules"]:
        rules = Table(title="top failing rules (of the rules' decisions)")
        for column in ("rule", "decisions", "share"):
            rules.add_column(column)
        for r in s["topFailingRules"]:
            rules.add_row(r["ruleId"], str(r["count"]), pct(r.get("share")))
        out.print(rules)


@app.command()
def verify(
    service: Service = None,
    start: From = None,
    end: To = None,
    today: Today = False,
    week: Week = False,
    days: Days = None,
    show_all: Annotated[bool, typer.Option("--all", help="list empty chains too")] = False,
    page_size: PageSize = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="each chain's report as JSON Lines (full head hash)")
    ] = False,
    user: User = "auditor",
    stack_file: StackFile = None,
    api_url: ApiUrl = None,
    token: Token = None,
) -> None:
    """Verify the hash chains of a period (every service, or one): altered, missing or
    inserted records. Exit 1 if any chain does not verify. A long chain is verified over several
    requests (a page of its positions each); a 503 is asked again."""
    api = Api.connect(user, stack_file, api_url, token)
    first, last = period(start, end, today, week, days)
    chains: dict[str, dict[str, Any]] = {}
    for _, page in _each_service(
        api,
        service,
        "/audit/chains",
        "verifying",
        first,
        last,
        page_size,
        done=lambda page: sum(1 for i in page["items"] if i.get("complete", True)),
        where=_walking,
    ):
        for item in page["items"]:
            # a chain's items come in order: the last is its verdict; its problems are all of theirs
            seen = chains.get(item["chainId"], {}).get("problems", [])
            chains[item["chainId"]] = {**item, "problems": [*seen, *item["problems"]]}
    reports = list(chains.values())
    broken = [r for r in reports if not r["verified"]]
    if as_json:
        for r in reports:
            out.print_json(json.dumps(r, ensure_ascii=False), indent=None)
        raise typer.Exit(1 if broken else 0)
    shown = (
        reports
        if show_all
        else [r for r in reports if r["records"] or r.get("head") or r["problems"]]
    )
    table = Table(title=f"hash chains, {first} to {last}")
    for column in ("chain", "records", "pending", "head", "verified", "first problem"):
        table.add_column(column, overflow="fold")
    for r in shown:
        problem = r.get("firstProblem")
        table.add_row(
            r["chainId"],
            str(r["records"]),
            str(r["pending"] or ""),
            f"{r['head']['seq']} {r['head']['hash'][:12]}" if r.get("head") else "-",
            "[green]yes[/]" if r["verified"] else "[bold red]NO[/]",
            f"{problem['kind']} at {problem.get('seq') or '-'} {problem.get('decisionId') or ''}: "
            f"{problem['detail']}"
            if problem
            else "",
        )
    out.print(table)
    records = sum(r["records"] for r in reports)
    if broken:
        problems = sum(len(r["problems"]) for r in broken)
        err.print(f"[bold red]{len(broken)} chain(s) do not verify[/] ({problems} problems)")
        for r in broken:
            for p in r["problems"]:
                err.print(
                    f"  {r['chainId']}: {p['kind']} at {p.get('seq') or '-'} "
                    f"{p.get('decisionId') or ''} {p['detail']}"
                )
        raise typer.Exit(1)
    out.print(f"[green]{len(reports)} chains verified[/], {records} records")


def _walking(page: dict[str, Any]) -> str:
    """Where a chain verification page stopped: its last chain, at which position of its head."""
    if not page["items"]:
        return ""
    item = page["items"][-1]
    head = (item.get("head") or {}).get("seq", 0)
    chain = item["chainId"].split("#", 1)[-1]
    return f"{chain} {item.get('walked', 0)}/{head}"


@app.command()
def replay(
    service: Service = None,
    start: From = None,
    end: To = None,
    today: Today = False,
    week: Week = False,
    days: Days = None,
    page_size: PageSize = None,
    user: User = "auditor",
    stack_file: StackFile = None,
    api_url: ApiUrl = None,
    token: Token = None,
) -> None:
    """Replay a period's decisions from their records (every service, or one). Exit 1 if any
    does not reproduce."""
    api = Api.connect(user, stack_file, api_url, token)
    first, last = period(start, end, today, week, days)
    counts: Counter[str] = Counter()
    mismatches: list[dict[str, Any]] = []
    pages = _each_service(api, service, "/audit/replays", "replaying", first, last, page_size)
    for service_id, page in pages:
        for item in page["items"]:
            counts[item["status"]] += 1
            if item["status"] == "MISMATCH":
                mismatches.append({**item, "serviceId": service_id})
    out.print(
        f"{first} to {last}: [green]{counts['REPRODUCED']} reproduced[/], "
        f"{counts['NOT_REPLAYED']} human decisions or revocations (not replayed), "
        + (f"[bold red]{counts['MISMATCH']} do not reproduce[/]" if mismatches else "0 mismatches")
    )
    if not mismatches:
        return
    table = Table(title="decisions that do not reproduce")
    for column in ("decision", "service", "recorded", "replayed", "differences"):
        table.add_column(column, overflow="fold")
    for m in mismatches:
        table.add_row(
            m["decisionId"],
            m["serviceId"],
            m["recordedOutcome"],
            m.get("replayedOutcome") or "-",
            "\n".join(f"{x['field']}: {x['recorded']} -> {x['replayed']}" for x in m["differences"])
            + (f"\n{m['note']}" if m.get("note") else ""),
        )
    out.print(table)
    raise typer.Exit(1)


@app.command("what-if")
def what_if(
    service: Annotated[str, typer.Option("--service", "-s", help="the rule set's service")],
    rules: Annotated[
        Path,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="the candidate: a rule-set file, or a file of parameter overrides (infra/whatif/)",
        ),
    ],
    start: From = None,
    end: To = None,
    today: Today = False,
    week: Week = False,
    days: Days = None,
    as_json: Annotated[bool, typer.Option("--json", help="the transitions as JSON")] = False,
    page_size: PageSize = None,
    user: User = "auditor",
    stack_file: StackFile = None,
    api_url: ApiUrl = None,
    token: Token = None,
) -> None:
    """Run a candidate rule set over a period's stored applications: how outcomes would change,
    which rules make them change, and examples. Writes nothing."""
    api = Api.connect(user, stack_file, api_url, token)
    first, last = period(start, end, today, week, days)
    body: dict[str, Any] = {
        "serviceId": service,
        "from": first.isoformat(),
        "to": last.isoformat(),
        "ruleSet": rules.read_text(encoding="utf-8"),
    }
    if page_size:
        body["limit"] = page_size
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    evaluated = not_replayed = 0
    candidate: dict[str, Any] = {}
    try:
        with _progress() as progress:
            task = progress.add_task(f"what-if on {service}", total=None)
            while True:
                # what-if writes nothing: a 503 may be asked again
                page = api.call("POST", "/audit/what-if", json=body, retry=True)
                candidate = page["candidate"]
                evaluated += page["evaluated"]
                not_replayed += page["notReplayed"]
                progress.advance(task, page["evaluated"] + page["notReplayed"])
                for t in page["transitions"]:
                    into = merged.setdefault(
                        (t["from"], t["to"]), {"count": 0, "examples": [], "rules": Counter()}
                    )
                    into["count"] += t["count"]
                    into["examples"] = (into["examples"] + t["examples"])[:5]
                    into["rules"].update({r["rule"]: r["count"] for r in t["rules"]})
                if not page.get("nextToken"):
                    break
                body["nextToken"] = page["nextToken"]
    except ApiError as exc:
        raise fail(exc) from None
    order = sorted(merged.items(), key=lambda kv: (kv[0][0] == kv[0][1], -kv[1]["count"]))
    if as_json:
        transitions = [
            {"from": was, "to": now, **t, "rules": dict(t["rules"].most_common())}
            for (was, now), t in order
        ]
        summary = {"candidate": candidate, "evaluated": evaluated, "notReplayed": not_replayed}
        out.print_json(json.dumps({**summary, "transitions": transitions}, ensure_ascii=False))
        return
    out.print(
        f"candidate {candidate.get('version')} ({str(candidate.get('hash'))[:23]}) on {service}, "
        f"{first} to {last}: {evaluated} decisions of the rules re-run, "
        f"{not_replayed} human decisions or revocations left out"
    )
    table = Table(title="how outcomes would change")
    for column in ("from", "to", "decisions", "because", "examples"):
        table.add_column(column, overflow="fold")
    for (was, now), t in order:
        changed = was != now
        table.add_row(
            _styled(was),
            _styled(now) if changed else "[dim](unchanged)[/]",
            str(t["count"]),
            "\n".join(f"{rule} ({n})" for rule, n in t["rules"].most_common()),
            "\n".join(t["examples"]) if changed else "",
        )
    out.print(table)


@app.command()
def export(
    service: Service = None,
    outcome: Annotated[Outcome | None, typer.Option(help="only this outcome")] = None,
    rule_set: Annotated[str | None, typer.Option(help="only this rule-set version")] = None,
    decider: Annotated[
        str | None, typer.Option(help="a reviewer's id, supervision, or system")
    ] = None,
    start: From = None,
    end: To = None,
    today: Today = False,
    week: Week = False,
    days: Days = None,
    fmt: Annotated[Format, typer.Option("--format", help="jsonl or csv")] = Format.jsonl,
    full: Annotated[
        bool, typer.Option(help="each decision in full (trace, evidence; masked), JSON Lines")
    ] = False,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="file (default stdout)")
    ] = None,
    user: User = "auditor",
    stack_file: StackFile = None,
    api_url: ApiUrl = None,
    token: Token = None,
) -> None:
    """Export decisions (the filters of `decisions`) as JSON Lines or CSV."""
    if full and fmt is Format.csv:
        raise typer.BadParameter("--full writes JSON Lines only")
    api = Api.connect(user, stack_file, api_url, token)
    first, last = period(start, end, today, week, days)
    params = _query(service, first, last, outcome, rule_set, decider, None, False)
    params["limit"] = 200
    stream = output.open("w", encoding="utf-8", newline="") if output else sys.stdout
    written = 0
    try:
        writer = csv.DictWriter(stream, EXPORT_COLUMNS, extrasaction="ignore")
        if fmt is Format.csv:
            writer.writeheader()
        with _progress() as progress:
            task = progress.add_task("exporting", total=None)
            for page in _pages(api, "/audit/decisions", params):
                for item in page["items"]:
                    if full:
                        item = api.call("GET", f"/audit/decisions/{item['decisionId']}")
                    if fmt is Format.csv:
                        failing = ";".join(r["ruleId"] for r in item.get("reasons") or [])
                        writer.writerow({**item, "failingRules": failing})
                    else:
                        stream.write(json.dumps(item, ensure_ascii=False) + "\n")
                    written += 1
                progress.advance(task, len(page["items"]))
    except ApiError as exc:
        raise fail(exc) from None
    finally:
        if output:
            stream.close()
    err.print(f"{written} decisions exported" + (f" to {output}" if output else ""))


if __name__ == "__main__":
    app()
