"""Submit latency through the local gateway: moto server, the function runtime, real HTTP.

Each application is submitted by whom it is for (one may apply only for oneself), a new person
each time; their tokens are minted and authorized (a GET /applications: API Gateway caches the
authorizer's answer per token) before the timed requests, so the figures are a signed-in
person's submit, as before sign-in moved to the identity provider.
"""

from __future__ import annotations

import http.client
import json
import random
import shutil
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from tests.bench.bench_async import Effects
from tests.bench.bench_common import (
    SERVICES,
    Section,
    child_pids,
    fake_aws,
    median,
    percentile,
    quiet_stack,
)

#: the 4 concurrent clients' applications, per client (the services in turn)
CONCURRENT_PER_CLIENT = 15
#: applications whose consumers' effects are timed (async.*), per kind
ASYNC_SAMPLES = 20


class Client:
    """One keep-alive HTTP/1.1 connection to the gateway, posting applications."""

    def __init__(self, base_url: str, token: str) -> None:
        url = urlsplit(base_url)
        self.host, self.port, self.prefix = url.hostname or "127.0.0.1", url.port, url.path
        self.token = token
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        #: the last submission's answer (201/200), for its certificate number
        self.last: dict[str, Any] = {}

    def submit(
        self, service_id: str, application: dict[str, Any], token: str | None = None
    ) -> tuple[int, float, str, float | None]:
        """(status, ms, outcome, the decision's own latencyMs) of one POST, a fresh key each;
        signed in with `token` if given."""
        body = json.dumps(application, ensure_ascii=False).encode()
        headers = {
            "Authorization": f"Bearer {token or self.token}",
            "Content-Type": "application/json",
            "Idempotency-Key": f"bench-{uuid.uuid4().hex}",
        }
        path = f"{self.prefix}/services/{service_id}/applications"
        started = time.perf_counter()
        try:
            self.conn.request("POST", path, body=body, headers=headers)
            response = self.conn.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()  # a dropped keep-alive connection: reconnect once
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            self.conn.request("POST", path, body=body, headers=headers)
            response = self.conn.getresponse()
            payload = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        outcome, inside = "-", None
        if response.status in (200, 201):
            document = json.loads(payload)
            self.last = document
            outcome = str(document.get("status", "-"))
            inside = (document.get("decision") or {}).get("latencyMs")
        return response.status, elapsed, outcome, inside

    def sign_in(self, token: str) -> int:
        """GET /applications with `token`: the gateway calls the authorizer and caches its
        answer for the token. The status (200 when the token is let in)."""
        headers = {"Authorization": f"Bearer {token}"}
        self.conn.request("GET", f"{self.prefix}/applications?limit=1", headers=headers)
        response = self.conn.getresponse()
        response.read()
        return response.status

    def certificate_status(self, number: str) -> str:
        """GET /certificates/{number}, no token: the certificate's status, or the HTTP status."""
        self.conn.request("GET", f"{self.prefix}/certificates/{number}")
        response = self.conn.getresponse()
        payload = response.read()
        if response.status != 200:
            return str(response.status)
        return str(json.loads(payload).get("status"))

    def close(self) -> None:
        self.conn.close()


class Applicant(NamedTuple):
    """A persona and a token of whom its application is for."""

    persona: Any
    token: str


class _Timed:
    """Wraps Runtime.invoke: how long each invocation took inside the runtime (function + IPC)."""

    def __init__(self, invoke: Any) -> None:
        self.invoke = invoke
        self.durations: list[float] = []

    def __call__(self, function_id: str, event: Any, request_id: str | None = None) -> Any:
        result = self.invoke(function_id, event, request_id)
        self.durations.append(result.duration_ms)
        return result


def run_http(quick: bool) -> Section:
    section = Section("http")
    state_dir = Path(tempfile.mkdtemp(prefix="miaopi-bench-"))
    try:
        with fake_aws(MOTO_PORT=None):  # start_moto sets MOTO_PORT; restored after
            _measure(section, quick, state_dir)
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)
    return section


def _measure(section: Section, quick: bool, state_dir: Path) -> None:
    import infra.local.seed as seed
    from infra.local import people
    from infra.local.stack_file import STACK_FILE_NAME, id_token

    clients: list[Client] = []
    started = time.perf_counter()
    with quiet_stack("miaopi-bench", state_dir) as (stack, moto_log):
        start_s = time.perf_counter() - started
        port, moto_port = stack.port, stack.moto_port
        try:
            timed = _Timed(stack.runtime.invoke)
            stack.runtime.invoke = timed
            personas = seed.read_personas(Path(stack.info["personasFile"]))
            bulk = [p for p in personas if p.bulk]
            token = id_token("citizen", stack_file=state_dir / STACK_FILE_NAME)
            base_url = stack.info["apiUrl"]
            rng = random.Random(2018)  # every path of every service, in a reproducible order
            queues: dict[str, list[Any]] = {}
            for sid in SERVICES:
                queues[sid] = [p for p in bulk if p.service_id == sid]
                rng.shuffle(queues[sid])

            client = Client(base_url, token)
            clients.append(client)
            refused_tokens: list[int] = []

            def take(sid: str) -> Applicant:
                """The next persona of the service, signed in as whom its application is for."""
                persona = queues[sid].pop()
                applicant = Applicant(persona, people.token(stack.info, persona))
                status = client.sign_in(applicant.token)
                if status != 200:
                    refused_tokens.append(status)
                return applicant

            def submit(c: Client, sid: str, a: Applicant) -> tuple[int, float, str, float | None]:
                return c.submit(sid, a.persona.application, a.token)

            # Warm-up: a few requests per service function (the first is the cold start).
            cold_ms: list[float] = []
            warm_statuses: list[int] = []
            for sid in SERVICES:
                for i in range(3):
                    status, ms, _, _ = submit(client, sid, take(sid))
                    warm_statuses.append(status)
                    if i == 0:
                        cold_ms.append(ms)

            # Sequential, round robin over the services, every persona a new one.
            count = 60 if quick else 200
            sequence = [SERVICES[i % len(SERVICES)] for i in range(count)]
            applicants = [take(sid) for sid in sequence]
            latencies: list[float] = []
            decide_ms: list[float] = []
            timed.durations.clear()
            statuses: dict[int, int] = {}
            outcomes: dict[str, list[float]] = {}
            for sid, applicant in zip(sequence, applicants, strict=True):
                status, ms, outcome, inside = submit(client, sid, applicant)
                if inside is not None:
                    decide_ms.append(inside)
                statuses[status] = statuses.get(status, 0) + 1
                latencies.append(ms)
                outcomes.setdefault(outcome, []).append(ms)

            invoke_ms = list(timed.durations)

            # Four concurrent clients across the services, as a population of phones would be.
            # Each function's extra environments are started one at a time (k concurrent requests
            # with k - 1 warm workers start one more): four cold starts at once on two cores would
            # run into the runtime's 10 s init timeout.
            concurrency = 4
            workers = [Client(base_url, token) for _ in range(concurrency)]
            clients.extend(workers)
            for k in range(2, concurrency + 1):
                for sid in SERVICES:
                    ramp = {id(c): take(sid) for c in workers[:k]}
                    _in_parallel(
                        workers[:k],
                        lambda c, ramp=ramp, sid=sid: [submit(c, sid, ramp[id(c)])],
                    )
            per_client = 10 if quick else CONCURRENT_PER_CLIENT
            bursts = {
                id(c): [
                    (sid, take(sid))
                    for sid in (SERVICES[(i + j) % len(SERVICES)] for j in range(per_client))
                ]
                for i, c in enumerate(workers)
            }

            def burst(c: Client) -> list[tuple[int, float, str, float | None]]:
                return [submit(c, sid, a) for sid, a in bursts[id(c)]]

            t0 = time.perf_counter()
            results = _in_parallel(workers, burst)
            wall = time.perf_counter() - t0
            concurrent = [r for rs in results for r in rs]
            concurrent_ok = sum(1 for r in concurrent if r[0] == 201)

            # Approval to a VALID signed certificate: an automatic approval's answer says ISSUING;
            # the certificate issuer (decisions stream) signs it; polled anonymously every 10 ms.
            approved = [
                p for sid in SERVICES for p in queues[sid] if p.expected_outcome == "APPROVED"
            ]
            rng.shuffle(approved)
            # the first waits for the issuer's cold start and the stream's backlog of the timed
            # submissions above: a warm-up, reported apart
            warm_valid_ms, _ = _approval_to_valid(client, approved[:1], people.token, stack.info)
            to_valid_ms, not_valid = _approval_to_valid(
                client, approved[1 : 21 if quick else 41], people.token, stack.info
            )
            # The consumers' lag: one application at a time, from its 201 to each effect.
            samples = ASYNC_SAMPLES // 2 if quick else ASYNC_SAMPLES
            referred = [
                p for sid in SERVICES for p in queues[sid] if p.expected_outcome == "PENDING_REVIEW"
            ]
            rng.shuffle(referred)
            lags = _async_lags(
                client,
                Effects.of(stack),
                approved[41 : 41 + samples],
                referred[:samples],
                lambda persona: people.token(stack.info, persona),
            )
            moto_errors = moto_log.errors
        finally:
            for c in clients:
                c.close()

    leftover = child_pids()
    section.results["submit.http_median_ms"] = round(median(latencies), 2)
    section.results["submit.http_p95_ms"] = round(percentile(latencies, 95), 2)
    section.results["submit.http_requests"] = count
    section.results["submit.http_non_201"] = count - statuses.get(201, 0)
    section.results["submit.http_cold_first_request_ms_median"] = round(median(cold_ms), 1)
    section.results["submit.http_concurrent_clients"] = concurrency
    section.results["submit.http_concurrent_rps"] = round(len(concurrent) / wall, 1)
    section.results["submit.http_concurrent_median_ms"] = round(
        median([r[1] for r in concurrent]), 2
    )
    section.results["submit.http_concurrent_p95_ms"] = round(
        percentile([r[1] for r in concurrent], 95), 2
    )
    section.results["submit.http_sequential_rps"] = round(1000 / median(latencies), 1)
    section.results["submit.http_stack_start_s"] = round(start_s, 1)
    section.results["submit.http_stray_processes"] = len(leftover)
    fifth = max(1, count // 5)
    section.results["submit.http_first_fifth_median_ms"] = round(median(latencies[:fifth]), 2)
    section.results["submit.http_last_fifth_median_ms"] = round(median(latencies[-fifth:]), 2)
    section.results["submit.http_invoke_median_ms"] = round(median(invoke_ms), 2)
    section.results["submit.http_in_submit_before_write_median_ms"] = (
        round(median(decide_ms), 2) if decide_ms else None
    )
    section.results["submit.http_moto_server_errors"] = moto_errors
    lag_rows = []
    for what, lag_values in lags.items():
        lag_ms: list[float] = [v for v in lag_values if v is not None]
        if lag_ms:
            section.results[f"async.{what}_median_ms"] = round(median(lag_ms), 1)
            section.results[f"async.{what}_p95_ms"] = round(percentile(lag_ms, 95), 1)
        section.results[f"async.{what}_missing"] = len(lag_values) - len(lag_ms)
        lag_rows.append(
            [
                what.replace("_", " "),
                len(lag_ms),
                f"{median(lag_ms):.0f}" if lag_ms else "-",
                f"{percentile(lag_ms, 95):.0f}" if lag_ms else "-",
                f"{max(lag_ms):.0f}" if lag_ms else "-",
                len(lag_values) - len(lag_ms),
            ]
        )
    section.tables.append(
        (
            "the consumers' lag (ms, from the 201 to the effect in the tables; one application "
            "at a time)",
            ["effect", "n", "median", "p95", "max", "not in 30 s"],
            lag_rows,
        )
    )
    if to_valid_ms:
        section.results["certificate.approval_to_valid_median_ms"] = round(median(to_valid_ms), 1)
        section.results["certificate.approval_to_valid_p95_ms"] = round(
            percentile(to_valid_ms, 95), 1
        )
        section.tables.append(
            (
                "approval to a VALID signed certificate (ms, client: 201 APPROVED to GET "
                "/certificates/{number} VALID)",
                ["approvals", "median", "p95", "max", "not VALID in 30 s"],
                [
                    [
                        len(to_valid_ms),
                        f"{median(to_valid_ms):.0f}",
                        f"{percentile(to_valid_ms, 95):.0f}",
                        f"{max(to_valid_ms):.0f}",
                        not_valid,
                    ]
                ],
            )
        )
        section.notes.append(
            "certificates: the first approval after the timed submissions (the issuer's cold "
            "start and the decisions stream's backlog) took "
            + (f"{warm_valid_ms[0]:.0f} ms" if warm_valid_ms else "over 30 s")
            + ", excluded above"
        )
    rows = [
        [
            "sequential, all",
            count,
            f"{median(latencies):.1f}",
            f"{percentile(latencies, 95):.1f}",
            f"{max(latencies):.1f}",
        ],
    ]
    for outcome, values in sorted(outcomes.items()):
        rows.append(
            [
                f"  {outcome}",
                len(values),
                f"{median(values):.1f}",
                f"{percentile(values, 95):.1f}",
                f"{max(values):.1f}",
            ]
        )
    conc_ms = [r[1] for r in concurrent]
    rows.append(
        [
            f"{concurrency} concurrent clients, the services in turn",
            len(concurrent),
            f"{median(conc_ms):.1f}",
            f"{percentile(conc_ms, 95):.1f}",
            f"{max(conc_ms):.1f}",
        ]
    )
    section.tables.append(
        (
            "POST /services/{id}/applications through the local gateway (ms)",
            ["requests", "n", "median", "p95", "max"],
            rows,
        )
    )
    section.tables.append(
        (
            "where the sequential time goes (medians, ms)",
            ["part", "ms"],
            [
                ["HTTP round trip (client)", f"{median(latencies):.1f}"],
                [
                    "runtime invoke (worker: handler + its AWS calls to moto + IPC)",
                    f"{median(invoke_ms):.1f}",
                ],
                [
                    "submit() before the write (normalize, BatchGetItem, decide; latencyMs)",
                    f"{median(decide_ms):.1f}" if decide_ms else "-",
                ],
                [
                    "gateway + client (round trip - invoke)",
                    f"{median(latencies) - median(invoke_ms):.1f}",
                ],
                [
                    f"first {fifth} requests / last {fifth}",
                    f"{median(latencies[:fifth]):.1f} / {median(latencies[-fifth:]):.1f}",
                ],
            ],
        )
    )
    section.notes.append(
        f"stack started in {start_s:.1f} s (moto server, deploy, seed, users) on ports "
        f"{port}/{moto_port}, state in a temporary dir; warm-up 3 requests per function "
        f"(first = cold start, median {median(cold_ms):.0f} ms); HTTP statuses {statuses}; "
        f"{concurrency} clients: {len(concurrent) / wall:.1f} requests/s "
        f"({concurrent_ok}/{len(concurrent)} created) vs {1000 / median(latencies):.1f}/s "
        f"sequential; moto server errors (logged by werkzeug, retried by botocore): {moto_errors};"
        f" stray child processes after stop: {len(leftover)}"
    )
    if any(s not in (200, 201) for s in warm_statuses):
        section.notes.append(f"[red]warm-up statuses {warm_statuses}[/]")
    if refused_tokens:
        section.notes.append(f"[red]applicants' tokens not let in: statuses {refused_tokens}[/]")


def _approval_to_valid(
    client: Client, approved: list[Any], token_of: Any, info: dict[str, Any]
) -> tuple[list[float], int]:
    """For each persona (an automatic approval): ms from its 201 to its certificate VALID."""
    out: list[float] = []
    missed = 0
    for persona in approved:
        status, _ms, outcome, _ = client.submit(
            persona.service_id, persona.application, token_of(info, persona)
        )
        number = (client.last.get("certificate") or {}).get("number")
        if status != 201 or outcome != "APPROVED" or not number:
            continue
        approved_at = time.perf_counter()
        deadline = approved_at + 30
        while time.perf_counter() < deadline:
            if client.certificate_status(number) == "VALID":
                out.append((time.perf_counter() - approved_at) * 1000)
                break
            time.sleep(0.01)
        else:
            missed += 1
    return out, missed


def _async_lags(
    client: Client,
    effects: Effects,
    approvals: list[Any],
    referrals: list[Any],
    token_of: Any,
) -> dict[str, list[float | None]]:
    """ms from each 201 to its decision chained and supervised (approvals) and to its review
    task in the reviewers' queue (referrals); None when not within 30 s."""
    lags: dict[str, list[float | None]] = {
        "approval_to_chained": [],
        "approval_to_supervised": [],
        "referral_to_queue": [],
    }
    for persona, expected in [(p, "APPROVED") for p in approvals] + [
        (p, "PENDING_REVIEW") for p in referrals
    ]:
        status, _ms, outcome, _ = client.submit(
            persona.service_id, persona.application, token_of(persona)
        )
        if status != 201 or outcome != expected:
            continue
        if expected == "APPROVED":
            decision_id = str(client.last["decision"]["decisionId"])
            done = effects.wait({"chained": [decision_id], "supervised": [decision_id]}, 30)
            lags["approval_to_chained"].append(_ms_or_none(done["chained"]))
            lags["approval_to_supervised"].append(_ms_or_none(done["supervised"]))
        else:
            done = effects.wait({"queued": [str(client.last["applicationId"])]}, 30)
            lags["referral_to_queue"].append(_ms_or_none(done["queued"]))
    return lags


def _ms_or_none(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def _in_parallel(clients: list[Client], work: Any) -> list[Any]:
    results: list[Any] = [None] * len(clients)
    errors: list[BaseException] = []

    def run(i: int, c: Client) -> None:
        try:
            results[i] = work(c)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results
