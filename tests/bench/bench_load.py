"""A bounded load run on the local stack: a fixed number of submissions, then the backlog.

4 clients (keep-alive connections, as many phones behind one network) submit 2,000 applications
(400 with --quick) across the six services in turn, every consumer running; each application is
a bulk persona's (a persona is used again, with a new Idempotency-Key, when a service's run
out), signed in with its own token (the authorizer runs once per token, as for a new phone).
Then, from the last answer on, the tables are read (the stack's own moto, no API request) until
every accepted application's decision is chained, every automatic approval supervised and every
referral's review task in the reviewers' queue: the time that took is the drain. At the end,
every accepted application must have exactly one decision record (byApplication index).
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from miaopi_platform.records.indexes import BY_APPLICATION

from tests.bench.bench_async import Effects
from tests.bench.bench_common import (
    SERVICES,
    CpuSplit,
    Section,
    fake_aws,
    median,
    percentile,
    quiet_stack,
)
from tests.bench.bench_http import Client

CLIENTS = 4
REQUESTS = 2000
QUICK_REQUESTS = 400
#: seconds the drain is waited for at most after the last answer
DRAIN_TIMEOUT_S = 300.0


def run_load(quick: bool) -> Section:
    section = Section("load")
    state_dir = Path(tempfile.mkdtemp(prefix="miaopi-load-"))
    try:
        with fake_aws(MOTO_PORT=None):  # start_moto sets MOTO_PORT; restored after
            _measure(section, QUICK_REQUESTS if quick else REQUESTS, state_dir)
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)
    return section


def _measure(section: Section, count: int, state_dir: Path) -> None:
    import infra.local.seed as seed
    from infra.local import people
    from infra.local.stack_file import STACK_FILE_NAME, id_token

    clients: list[Client] = []
    with quiet_stack("miaopi-load", state_dir) as (stack, moto_log):
        try:
            personas = [p for p in seed.read_personas(Path(stack.info["personasFile"])) if p.bulk]
            rng = random.Random(2018)
            rng.shuffle(personas)
            by_service = {sid: [p for p in personas if p.service_id == sid] for sid in SERVICES}
            base_url = stack.info["apiUrl"]
            token = id_token("citizen", stack_file=state_dir / STACK_FILE_NAME)
            clients = [Client(base_url, token) for _ in range(CLIENTS)]

            # every client's applications, the services in turn; tokens minted beforehand
            plan: list[list[tuple[str, Any, str]]] = [[] for _ in clients]
            used = dict.fromkeys(SERVICES, 0)
            for n in range(count):
                i = n % CLIENTS
                sid = SERVICES[(i + n // CLIENTS) % len(SERVICES)]
                persona = by_service[sid][used[sid] % len(by_service[sid])]
                used[sid] += 1
                plan[i].append((sid, persona, people.token(stack.info, persona)))

            # each service function's environments started one at a time (see bench_http)
            warm = [p for sid in SERVICES for p in by_service[sid][-CLIENTS:]]
            for k in range(1, CLIENTS + 1):
                for sid in SERVICES:
                    ramp = [p for p in warm if p.service_id == sid][:k]
                    threads = [
                        threading.Thread(
                            target=c.submit,
                            args=(sid, p.application, people.token(stack.info, p)),
                        )
                        for c, p in zip(clients, ramp, strict=False)
                    ]
                    for t in threads:
                        t.start()
                    for t in threads:
                        t.join()
            effects = Effects.of(stack)
            time.sleep(2.0)  # the warm-up's own backlog

            answers: list[list[tuple[int, float, str, str, str]]] = [[] for _ in clients]
            failures: list[str] = []
            last_answer = [0.0]

            def run(i: int) -> None:
                for sid, persona, persona_token in plan[i]:
                    try:
                        status, ms, outcome, _ = clients[i].submit(
                            sid, persona.application, persona_token
                        )
                    except Exception as exc:  # not answered: counted, the run goes on
                        failures.append(type(exc).__name__)
                        continue
                    last_answer[0] = max(last_answer[0], time.perf_counter())
                    document = clients[i].last if status in (200, 201) else {}
                    decision = document.get("decision") or {}
                    answers[i].append(
                        (
                            status,
                            ms,
                            outcome,
                            str(document.get("applicationId", "")),
                            str(decision.get("decisionId", "")),
                        )
                    )

            threads = [threading.Thread(target=run, args=(i,)) for i in range(len(clients))]
            cpu_before = CpuSplit.now()
            started = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            cpu_submitting = CpuSplit.now() - cpu_before
            wall = last_answer[0] - started
            done = [a for client_answers in answers for a in client_answers]
            created = [a for a in done if a[0] == 201]
            expected = {
                "chained": [a[4] for a in created if a[4]],
                "supervised": [a[4] for a in created if a[2] == "APPROVED"],
                "queued": [a[3] for a in created if a[2] == "PENDING_REVIEW"],
            }
            since_last = time.perf_counter() - last_answer[0]
            drained = effects.wait(expected, DRAIN_TIMEOUT_S)
            cpu_all = CpuSplit.now() - cpu_before
            drain = {what: None if s is None else s + since_last for what, s in drained.items()}
            left = {
                "chained": len(set(expected["chained"]) - effects.chained(expected["chained"])),
                "supervised": len(
                    set(expected["supervised"]) - effects.supervised(expected["supervised"])
                ),
                "queued": len(set(expected["queued"]) - effects.queued(expected["queued"])),
            }
            records = _decision_records(effects, [a[3] for a in created])
            moto_errors = moto_log.errors
        finally:
            for c in clients:
                c.close()

    latencies = [a[1] for a in done]
    statuses: dict[int, int] = {}
    for a in done:
        statuses[a[0]] = statuses.get(a[0], 0) + 1
    not_one = sum(1 for n in records.values() if n != 1)
    drain_values = [v for v in drain.values() if v is not None]
    r = section.results
    r["load.requests"] = count
    r["load.clients"] = len(clients)
    r["load.unanswered"] = count - len(done)
    r["load.created"] = len(created)
    r["load.non_201"] = len(done) - len(created)
    r["load.rps"] = round(len(done) / wall, 1) if wall > 0 else None
    r["load.median_ms"] = round(median(latencies), 1) if latencies else None
    r["load.p95_ms"] = round(percentile(latencies, 95), 1) if latencies else None
    r["load.p99_ms"] = round(percentile(latencies, 99), 1) if latencies else None
    r["load.applications_not_one_decision"] = not_one
    r["load.unchained"] = left["chained"]
    r["load.unsupervised"] = left["supervised"]
    r["load.not_in_review_queue"] = left["queued"]
    for what, key in [("chained", "chain"), ("supervised", "supervision"), ("queued", "review")]:
        value = drain[what]
        r[f"load.drain_{key}_s"] = None if value is None else round(value, 1)
    r["load.drain_s"] = round(max(drain_values), 1) if len(drain_values) == len(drain) else None
    r["load.moto_server_errors"] = moto_errors
    if created:
        # what a submission costs the machine, its effects included: the ceiling of the rate
        # any scheduling could reach here, with every core busy and nothing else running
        per = {
            "stack": cpu_all.stack_s / len(created) * 1000,
            "workers": cpu_all.workers_s / len(created) * 1000,
        }
        total_ms = per["stack"] + per["workers"]
        cores = os.process_cpu_count() or 1  # the cores this process may use
        r["load.cpu_ms_per_submission"] = round(total_ms, 1)
        r["load.cpu_ms_per_submission_stack"] = round(per["stack"], 1)
        r["load.cpu_ms_per_submission_workers"] = round(per["workers"], 1)
        r["load.cpu_ms_per_submission_while_submitting"] = round(
            (cpu_submitting.stack_s + cpu_submitting.workers_s) / len(created) * 1000, 1
        )
        r["load.cores"] = cores
        r["load.cpu_ceiling_rps"] = round(cores * 1000 / total_ms, 1)
        section.tables.append(
            (
                "CPU per accepted submission, its effects included (from the first request until"
                " drained)",
                ["process", "CPU ms", "share"],
                [
                    [
                        "stack (moto, gateway, pollers; the bench's clients, its observer)",
                        f"{per['stack']:.1f}",
                        f"{per['stack'] / total_ms:.0%}",
                    ],
                    [
                        "function workers",
                        f"{per['workers']:.1f}",
                        f"{per['workers'] / total_ms:.0%}",
                    ],
                    ["total", f"{total_ms:.1f}", "100%"],
                    [f"ceiling on {cores} cores (req/s)", f"{cores * 1000 / total_ms:.1f}", "-"],
                ],
            )
        )
    section.tables.append(
        (
            f"{count} submissions over {len(clients)} clients, the six services in turn",
            ["answered", "201", "req/s", "median ms", "p95 ms", "p99 ms", "HTTP statuses"],
            [
                [
                    len(done),
                    len(created),
                    r["load.rps"],
                    r["load.median_ms"],
                    r["load.p95_ms"],
                    r["load.p99_ms"],
                    statuses,
                ]
            ],
        )
    )
    section.tables.append(
        (
            "the backlog after the last answer (s until every effect was in the tables)",
            ["effect", "expected", "drained after (s)", "left at the end"],
            [
                [
                    what,
                    len(expected[what]),
                    drain[what] if drain[what] is None else f"{drain[what]:.1f}",
                    left[what],
                ]
                for what in expected
            ],
        )
    )
    section.notes.append(
        f"accepted applications without exactly one decision record: {not_one}; not answered: "
        f"{count - len(done)} ({', '.join(sorted(set(failures))) or 'none'}); moto server "
        f"errors: {moto_errors}"
    )


def _decision_records(effects: Effects, application_ids: list[str]) -> dict[str, int]:
    """How many decision records each application has (byApplication index)."""
    counts: dict[str, int] = {}
    for application_id in dict.fromkeys(application_ids):
        answer = effects.dynamodb.query(
            TableName=effects.decisions,
            IndexName=BY_APPLICATION,
            KeyConditionExpression="applicationId = :a",
            ExpressionAttributeValues={":a": {"S": application_id}},
            Select="COUNT",
        )
        counts[application_id] = int(answer["Count"])
    return counts
