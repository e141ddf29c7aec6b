"""`make bench` (`python -m tests.bench [--quick] [--only SECTION,...]`); the sections: engine,
zen, cold, aws, http, load, audit, intake, cost, catalogue, restart, journal.

Prints one table per section and a summary, and writes `.bench/results.json`: one flat JSON
object of dotted keys. The machine is small and shared, so every comparison is a ratio of
medians measured in the same run, with the two sides alternated; absolute times are context.

engine.<serviceId>.median_us
    Median µs per call of `miaopi.decide(service, rule_set, application, evidence, date)`
    (full trace) on the service's clean-approval case from its cases.yaml; the application is
    normalized once beforehand, as the submit flow does before deciding. 30 batches of
    ~20 ms per service, the services in turn; median of the per-call means. Also
    `engine.<id>.cpu_us` (process CPU time per call) and `engine.<id>.all_cases_median_us`
    / `all_cases_max_us`: the same over every case of the service (median and slowest; the
    slowest are cases with missing evidence). Target <= 50 µs.
engine.vs_zen_graph_speedup
    The elderly-allowance rules (rulesets/2024-01-01.yaml) as a GoRules JDM graph
    (tests/bench/elderly_allowance.jdm.json: inputNode -> one expressionNode with each rule's
    ZEN condition, word for word (checked) -> outputNode), evaluated with zen-engine's
    `ZenEngine().create_decision(content).evaluate(context)` on the context decide builds
    (app, ev, param, fact, date; the facts derived beforehand, outside the graph's timing).
    Value = median(graph) / median(decide), alternating batches. The graph's booleans are
    checked against decide's trace on every case where each rule passed or failed (the line
    "AGREE"). Also `engine.vs_zen_graph_cpu_ratio` (CPU time per call, steadier: zen's
    evaluate() starts OS threads on each call, so its wall time swings with the load) and
    `engine.vs_zen_graph_trace_speedup` (the graph with {"trace": True}). Target >= 10.
submit.aws_calls_per_auto_decision
    AWS API calls (botocore `before-call` events) made by `miaopi_platform.submission.submit`
    for one APPROVED submission, in process under moto.mock_aws with the tables of
    template.yaml and the synthetic reference data, in a warm container (one Dependencies
    per service function, its PII key secret read beforehand: that one cold-start call is
    reported as `submit.aws_calls_cold_start_per_container`). Median over the approved
    personas; min/max and the other outcomes are reported too. Target 2 (BatchGetItem +
    TransactWriteItems).
submit.http_median_ms, submit.http_p95_ms
    200 sequential POST /services/{id}/applications, round robin over the services
    (keep-alive, a token of the local identity provider, a new Idempotency-Key and a new
    bulk persona each) through infra.local.stack.LocalStack on free ports with a temporary
    state dir, after 3 warm-up requests per service function (the first of each is its cold
    start, reported apart).
    The gateway, the moto server and the client share this process; each function runs in
    its own worker process. A breakdown shows the runtime's invoke time, the decision's own
    latencyMs and the gateway's share. Also `submit.http_concurrent_rps` and
    `submit.http_concurrent_p95_ms`: 4 concurrent clients, 15 applications each, the services
    in turn (each function's four environments warmed one at a time). Every consumer runs
    meanwhile. Targets: sequential p95 <= 60 ms; 4 clients >= 60 req/s with p95 <= 150 ms.
async.approval_to_chained_*, async.approval_to_supervised_*, async.referral_to_queue_*
    In the http section, after the certificates: 20 automatic approvals and 20 referrals one
    after another, each timed from its 201 to its decision's chain position, its supervision
    record, and its review task in the reviewers' queue, read from the tables every 20 ms
    (tests/bench/bench_async.py); median and p95 in ms. The chain sequencer and the review
    starter batch for up to 1 s (MaximumBatchingWindowInSeconds), as Lambda does.
load.*
    tests/bench/bench_load.py: 2,000 submissions (400 with --quick) over 4 clients across the
    six services, every consumer running; then the time from the last answer until every
    decision is chained, every approval supervised and every referral queued (`load.drain_s`,
    target <= 30 s), and every accepted application with exactly one decision record.
    `load.cpu_ms_per_submission`: the CPU time of this process (moto, the gateway, the pollers
    and the bench's clients: `_stack`) and of the functions' workers (`_workers`) from the
    first request until drained, per accepted submission; `load.cpu_ceiling_rps` = cores x
    1000 / that: the rate this machine could not pass whatever the scheduling.
certificate.approval_to_valid_median_ms, certificate.approval_to_valid_p95_ms
    In the http section, after the timed submissions and one warm-up approval (the issuer's
    cold start and the stream's backlog, reported apart): 40 (20 with --quick) automatic
    approvals one after another, each timed from its 201 (certificate ISSUING) to the first
    anonymous GET /certificates/{number} (polled every 10 ms) that says VALID: the decisions
    stream's poller (every 0.25 s locally), the certificate issuer's read, KMS Sign and write.
cold_start.ratio_to_floor
    Import time of a service function (`import app` in functions/service_api: Powertools,
    the platform and its rules, compiled at import) over the import time of its floor
    (`import boto3, pydantic` + Powertools' APIGatewayRestResolver), each in a fresh
    `python -I` with Lambda's sys.path and the template's environment, alternating, medians.
    The key is the deployed configuration (Tracing: Active, so the X-Ray SDK loads);
    `cold_start.trace_disabled.ratio_to_floor` is the same with POWERTOOLS_TRACE_DISABLED.
    `python -X importtime` tables show what dominates. Target <= 1.3.
    `cold_start.bytecode_saves_ms`: the same import with our code compiled at every start (the
    layers copied without bytecode, `python -B`: a layer shipped as source on Lambda's read-only
    /opt) less the import of that copy compiled as layers/layer.mk compiles it for sam build.
audit.chains_verify_total_s, audit.chains_page_max_s, audit.chains_verified
    One service's day of 10,000 decisions (2,000 with --quick: copies of one decided through the
    API, sealed and chained as the sequencer chains them) verified with GET /audit/chains page by
    page (the default page) through the local gateway and the audit function, whose 29 s timeout
    the local runtime enforces: total and per-page seconds. Target: every page < 29 s, every
    chain verified. Also `audit.replay_page_500_*` and `audit.what_if_page_500_*`: the first
    pages of replay and what-if over that day, 500 decisions each.
cost.wcu_per_auto_decision, cost.rcu_per_auto_decision, cost.bytes_stored_per_auto_decision
    The local stack with every consumer running and moto's DynamoDB metered (tests/bench/
    bench_cost.py): 30 automatic approvals (12 with --quick) round robin over the services, until
    no table is written for 4 s; DynamoDB write and read units across every table and index as
    DynamoDB bills them (from item sizes and each index's projection), bytes stored, Lambda
    GB-seconds (memory x each invocation's measured duration) and `cost.per_1000.<region>.*`
    with the prices it names. Target: <= 12 write units per automatic decision. Also
    `cold_start.first_request.<FunctionId>.median_ms`: each function's first invocation on a fresh
    worker (init + handler, the runtime's timing), 3 rounds of one approval per service.
intake.records_per_s_new, intake.records_per_s_unchanged
    The departments' loader (tests/bench/bench_intake.py): the synthetic data set's files of
    every source checked and stored under moto in process, once new and once again unchanged.
catalogue.services_6.*, catalogue.services_200.*
    The local stack (`python -m infra.local.stack`, fresh state) with template.yaml's 6 services
    and with a generated catalogue of 200 (tests/bench/bench_catalogue.py): seconds until ready,
    the process group's resident memory then and after the first GET /services, that request's
    ms; and the 200-service stacks' sizes after the SAM transform (stacks, root and largest
    nested resources; CloudFormation's limit is 500, ours 400).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from tests.bench.bench_common import ROOT, SERVICES, Section

RESULTS_FILE = ROOT / ".bench" / "results.json"
SECTIONS = (
    "engine",
    "zen",
    "cold",
    "aws",
    "http",
    "load",
    "audit",
    "intake",
    "cost",
    "catalogue",
    "restart",
    "journal",
)


def _runner(name: str) -> Callable[[bool], Section]:
    if name == "engine":
        from tests.bench.bench_engine import run_engine

        return run_engine
    if name == "zen":
        from tests.bench.bench_engine import run_zen

        return run_zen
    if name == "cold":
        from tests.bench.bench_cold import run_cold

        return run_cold
    if name == "aws":
        from tests.bench.bench_aws import run_aws

        return run_aws
    if name == "audit":
        from tests.bench.bench_audit import run_audit

        return run_audit
    if name == "load":
        from tests.bench.bench_load import run_load

        return run_load
    if name == "intake":
        from tests.bench.bench_intake import run_intake

        return run_intake
    if name == "cost":
        from tests.bench.bench_cost import run_cost

        return run_cost
    if name == "catalogue":
        from tests.bench.bench_catalogue import run_catalogue

        return run_catalogue
    if name == "journal":
        from tests.bench.bench_journal import run_journal

        return run_journal
    if name == "restart":
        from tests.bench.bench_restart import run_restart

        return run_restart
    from tests.bench.bench_http import run_http

    return run_http


# (key, target text, met? given the value, unit)
Target = tuple[str, str, Callable[[Any], bool], str]
TARGETS: list[Target] = [
    *[(f"engine.{sid}.median_us", "<= 50 µs", lambda v: v <= 50, "µs") for sid in SERVICES],
    ("engine.vs_zen_graph_speedup", ">= 10×", lambda v: v >= 10, "×"),
    ("engine.zen_graph_agrees", "true", lambda v: v is True, ""),
    ("submit.aws_calls_per_auto_decision", "2", lambda v: v <= 2, "calls"),
    ("submit.aws_calls_cold_start_per_container", "-", lambda v: True, "calls"),
    ("submit.http_median_ms", "-", lambda v: True, "ms"),
    ("submit.http_p95_ms", "<= 60 ms", lambda v: v <= 60, "ms"),
    ("submit.http_concurrent_rps", ">= 60 req/s", lambda v: v >= 60, "req/s"),
    ("submit.http_concurrent_p95_ms", "<= 150 ms", lambda v: v <= 150, "ms"),
    *[
        (f"async.{what}_{stat}_ms", "-", lambda v: True, "ms")
        for what in ("approval_to_chained", "approval_to_supervised", "referral_to_queue")
        for stat in ("median", "p95")
    ],
    ("load.unanswered", "0", lambda v: v == 0, ""),
    ("load.applications_not_one_decision", "0", lambda v: v == 0, ""),
    ("load.unchained", "0", lambda v: v == 0, ""),
    ("load.unsupervised", "0", lambda v: v == 0, ""),
    ("load.rps", "-", lambda v: True, "req/s"),
    ("load.p95_ms", "-", lambda v: True, "ms"),
    ("load.drain_s", "<= 30 s", lambda v: v <= 30, "s"),
    ("load.cpu_ms_per_submission", "-", lambda v: True, "ms"),
    ("load.cpu_ceiling_rps", "-", lambda v: True, "req/s"),
    ("certificate.approval_to_valid_median_ms", "-", lambda v: True, "ms"),
    ("certificate.approval_to_valid_p95_ms", "-", lambda v: True, "ms"),
    ("cold_start.ratio_to_floor", "<= 1.3", lambda v: v <= 1.3, "×"),
    ("audit.chains_verified", "true", lambda v: v is True, ""),
    ("audit.chains_page_max_s", "< 29 s", lambda v: v < 29, "s"),
    ("audit.chains_verify_total_s", "-", lambda v: True, "s"),
    ("cold_start.trace_disabled.ratio_to_floor", "-", lambda v: True, "×"),
    ("cost.wcu_per_auto_decision", "<= 12", lambda v: v <= 12, "WCU"),
    ("cost.rcu_per_auto_decision", "-", lambda v: True, "RCU"),
    ("cost.bytes_stored_per_auto_decision", "-", lambda v: True, "B"),
    ("cost.lambda_gb_s_per_auto_decision", "-", lambda v: True, "GB-s"),
    ("cost.per_1000.us-east-1.total_cited", "-", lambda v: True, "USD"),
    ("restart.ready_s", "-", lambda v: True, "s"),
    ("restart.resumed_s", "<= 30 s (2,000)", lambda v: v is not None and v <= 30, "s"),
    ("restart.threads_per_1000_pending", "-", lambda v: True, ""),
    ("restart.rss_mb_per_1000_pending", "-", lambda v: True, "MB"),
    ("journal.off_p95_ms", "-", lambda v: True, "ms"),
    ("journal.on_p95_ms", "-", lambda v: True, "ms"),
    ("journal.snapshots_p95_ms", "-", lambda v: True, "ms"),
    ("journal.snapshot_held_ms_median", "-", lambda v: True, "ms"),
]


def _print_section(console: Console, section: Section) -> None:
    console.rule(f"[bold]{section.name}[/] ({section.seconds:.1f} s)")
    for title, columns, rows in section.tables:
        table = Table(title=title, title_justify="left")
        for i, column in enumerate(columns):
            table.add_column(column, justify="left" if i == 0 else "right")
        for row in rows:
            table.add_row(*(str(v) for v in row))
        console.print(table)
    for note in section.notes:
        console.print(f"  {note}")


def _summary(console: Console, results: dict[str, Any]) -> list[str]:
    table = Table(title="summary", title_justify="left")
    for column in ("metric", "value", "target", "met?"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    missed: list[str] = []
    for key, target, ok, unit in TARGETS:
        if key not in results or results[key] is None:
            continue
        value = results[key]
        met = ok(value)
        if target == "-":
            verdict = "-"
        elif met:
            verdict = "[green]yes[/]"
        else:
            verdict = "[red]NO[/]"
            missed.append(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            shown = str(value).lower()
        else:
            shown = f"{value:g} {unit}"
        table.add_row(key, shown, target, verdict)
    console.print(table)
    return missed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke test)")
    parser.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma-separated sections to run, of {', '.join(SECTIONS)} (default: all)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS_FILE, help="results JSON file")
    args = parser.parse_args(argv)
    wanted = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(wanted) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {', '.join(SECTIONS)}")

    console = Console(width=None if sys.stdout.isatty() else 120)
    results: dict[str, Any] = {
        "meta.started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "meta.python": platform.python_version(),
        "meta.quick": args.quick,
        "meta.sections": [s for s in SECTIONS if s in wanted],
    }
    failed: list[str] = []
    started = time.perf_counter()
    for name in SECTIONS:
        if name not in wanted:
            continue
        t0 = time.perf_counter()
        try:
            section = _runner(name)(args.quick)
        except Exception as exc:  # report and go on: one broken section must not hide the rest
            console.print_exception(max_frames=8)
            failed.append(f"{name}: {type(exc).__name__}: {exc}")
            continue
        section.seconds = time.perf_counter() - t0
        results.update(section.results)
        results[f"meta.seconds.{name}"] = round(section.seconds, 1)
        _print_section(console, section)
    results["meta.seconds.total"] = round(time.perf_counter() - started, 1)
    zen_us = results.get("engine.zen_graph_median_us")
    alone_us = results.get("engine.elderly-allowance.median_us")
    if zen_us and alone_us:
        # decide's batches run slower between zen's (thread churn); against decide measured
        # among its peers in the engine section, the ratio is this one
        results["engine.vs_zen_graph_speedup_vs_engine_section"] = round(zen_us / alone_us, 2)

    console.rule("[bold]summary[/]")
    missed = _summary(console, results)
    if "engine.vs_zen_graph_speedup_vs_engine_section" in results:
        console.print(
            "  zen graph vs decide as timed in the engine section (not interleaved with zen): "
            f"{results['engine.vs_zen_graph_speedup_vs_engine_section']:g}×"
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    try:
        shown = args.output.resolve().relative_to(Path.cwd())
    except ValueError:
        shown = args.output
    console.print(
        f"{len(missed)} target(s) missed{': ' + ', '.join(missed) if missed else ''}; "
        f"results in {shown} ({results['meta.seconds.total']:.0f} s)"
    )
    for line in failed:
        console.print(f"[red]section failed[/] {line}")
    return 1 if failed else 0


if __name__ == "__main__":
    code = main()
    # Skip the interpreter's teardown: freeing moto's in-memory AWS (tens of thousands of
    # objects) adds minutes on a busy machine, and every child process is already stopped.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
