"""moto unreachable for 15 s under load (issue 16): every request is answered (a 503 with
Retry-After, never a 500, never a hang past the function's timeout), and nothing is dropped —
after recovery every application answered 201 is there with exactly one decision record, every
decision is chained (no chain position used twice), every automatic approval supervised and
certified, and what a stream gave up on during the outage waited in its OnFailure queue until
it was redriven.

The outage is real: the stack's moto server stops (`LocalStack.moto_outage`: its kept-alive
connections shut, new ones refused) for every caller at once — the functions' workers, the
stream and queue pollers, the departments' stand-ins, the schedules, the workflows moto runs —
and a new server starts on the same port 15 s later with the same data (moto's backends are
module state).

Why the stack runs in this process (not in a StackProcess): the test needs the stack's own
moto server to stop and start it, and the stack's own runtime to hand the failed batches back
to their functions and to run the reconciler as its schedule would. What starting it does to
this process is undone afterwards: moto's patches (moto_server.apply) and MOTO_PORT by
monkeypatch, moto's backends reset (as test_local_persistence does).

Repairs: a batch whose retries ran out is in the StreamFailuresQueue; the test redrives it with
the steps of `python -m infra.cli.redrive redrive` (infra/cli/redrive.py), through the stack's
runtime (the local stack has no Lambda API for the CLI to call). The reconciler then runs once
through the runtime, as its schedule would: it must find nothing left to repair (it looks at
records over a minute old only, so it could not be the repair within this test's time).

The clients' first requests start the authorizer's 4 execution environments at once (one per
client, the runtime's most): none starts during the outage, where it could not fetch the PII
key and would refuse a valid token with a 401 (infra/local/README.md).

About 85 s alone on 2 cores: ~20 s the stack's start and seed, ~10 s the clients' cold starts,
22 s of load with the outage in it, ~25 s for supervision and certificates to catch up with the
load's backlog (they run behind the API), then the redrive and the reconciler's run.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from moto.moto_api._internal.models import moto_api_backend

from infra.cli import redrive
from infra.local import moto_server, people
from infra.local.deploy import AwsClients
from infra.local.schedules import scheduled_event
from infra.local.seed import Persona, read_personas
from infra.local.stack import LocalStack, free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = 4
#: people per client: each approval is someone new (one grant per subject)
PEOPLE = 40
WARM_S = 60.0
LOAD_S = 3.0
OUTAGE_S = 15.0
AFTER_S = 4.0
#: how long the streams may take to catch up after the load
SETTLE_S = 60.0
#: the longest a function may run (template.yaml: the services' functions); a client waits longer
FUNCTION_TIMEOUT_S = 10.0
CLIENT_TIMEOUT_S = 60.0
#: what the test reads of a decision record
DECISION_ATTRIBUTES = ("decisionId", "applicationId", "outcome", "decidedBy", "chainId", "chainSeq")
#: a client's pause after a refusal (far shorter than Retry-After: as many requests as possible)
PAUSE_S = 0.2


@dataclass
class Answer:
    status: str
    retry_after: str | None
    seconds: float
    during_outage: bool


@dataclass
class Load:
    """What the clients sent and were answered."""

    answers: list[Answer] = field(default_factory=list)
    #: application ids answered 201 (or 200 for a same-key retry)
    acknowledged: list[str] = field(default_factory=list)
    warm: list[threading.Event] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    outage: tuple[float, float] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def in_outage(self, started: float, ended: float) -> bool:
        """Whether the request overlapped the outage."""
        return self.outage is not None and started < self.outage[1] and ended > self.outage[0]


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalStack]:
    """The whole local stack in this process, seeded, on free ports; stopped, and what starting
    it changed in this process undone, on the way out."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("MOTO_PORT", "unset")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    for owner, name, _value in moto_server.patches():
        monkeypatch.setattr(owner, name, getattr(owner, name))
    local = LocalStack(
        template=ROOT / "template.yaml",
        port=free_port(),
        moto_port=free_port(),
        stack_name="miaopi-outage",
        state_dir=tmp_path,
    )
    output = (tmp_path / "functions.log").open("w")
    try:
        local.start()
        assert local.runtime is not None
        local.runtime.output = output  # the functions' JSON logs, kept out of the test's output
        yield local
    finally:
        local.stop()
        output.close()
        moto_api_backend.reset()


def submitting(
    api_url: str,
    token: Callable[[Persona], str],
    crowd: list[Persona],
    load: Load,
    warm: threading.Event,
) -> None:
    """One applicant's client: submits one new person's application after another as fast as
    answered; after a 503 it tries again with the same Idempotency-Key, and reads its last
    application between submissions."""
    session = requests.Session()
    queue = list(crowd)
    key = uuid.uuid4().hex
    last: tuple[str, dict[str, str]] | None = None

    def send(method: str, path: str, **kwargs: Any) -> requests.Response | None:
        started = time.monotonic()
        try:
            answer = session.request(method, f"{api_url}{path}", timeout=CLIENT_TIMEOUT_S, **kwargs)
            status, retry_after = str(answer.status_code), answer.headers.get("Retry-After")
        except requests.RequestException as err:
            answer, status, retry_after = None, type(err).__name__, None
        ended = time.monotonic()
        with load.lock:
            outage = load.in_outage(started, ended)
            load.answers.append(Answer(status, retry_after, ended - started, outage))
        return answer

    while not load.stop.is_set() and queue:
        person = queue[0]
        auth = {"Authorization": f"Bearer {token(person)}"}
        answer = send(
            "POST",
            f"/services/{person.service_id}/applications",
            json=person.application,
            headers={**auth, "Idempotency-Key": key},
        )
        if answer is not None and answer.status_code in (200, 201):
            last = (str(answer.json()["applicationId"]), auth)
            with load.lock:
                load.acknowledged.append(last[0])
            warm.set()
            queue.pop(0)
            key = uuid.uuid4().hex
        elif answer is None or answer.status_code != 503:
            queue.pop(0)  # not worth a retry: the next person
            key = uuid.uuid4().hex
        else:
            time.sleep(PAUSE_S)
        if last is not None:
            send("GET", f"/applications/{last[0]}", headers=last[1])


def scan(clients: AwsClients, table: str, *attributes: str) -> list[dict[str, Any]]:
    """The table's items, only `attributes` of each: a decision record's trace and evidence
    would make every look cost the stack a second under moto's DynamoDB lock."""
    items: list[dict[str, Any]] = []
    names = {f"#a{i}": name for i, name in enumerate(attributes)}
    paginator = clients.dynamodb.get_paginator("scan")
    for page in paginator.paginate(
        TableName=table, ProjectionExpression=", ".join(names), ExpressionAttributeNames=names
    ):
        items += page["Items"]
    return items


@dataclass
class EndState:
    applications: set[str]
    decisions: list[dict[str, Any]]
    supervised: set[str]
    certified: set[str]
    #: entries in the stream failures queue
    failures: int

    @property
    def unchained(self) -> list[str]:
        return [d["decisionId"]["S"] for d in self.decisions if "chainSeq" not in d]

    @property
    def approvals(self) -> list[str]:
        return [
            d["decisionId"]["S"]
            for d in self.decisions
            if d["outcome"]["S"] == "APPROVED" and d.get("decidedBy", {}).get("S") == "SYSTEM"
        ]

    @property
    def unsupervised(self) -> list[str]:
        return [d for d in self.approvals if d not in self.supervised]

    @property
    def uncertified(self) -> list[str]:
        return [d for d in self.approvals if d not in self.certified]

    @property
    def undone(self) -> tuple[int, int, int]:
        return len(self.unchained), len(self.unsupervised), len(self.uncertified)

    @property
    def complete(self) -> bool:
        return self.undone == (0, 0, 0)


def end_state(stack: LocalStack, clients: AwsClients) -> EndState:
    tables = stack.info["tables"]
    return EndState(
        applications={
            i["applicationId"]["S"]
            for i in scan(clients, tables["ApplicationsTable"], "applicationId")
        },
        decisions=scan(clients, tables["DecisionsTable"], *DECISION_ATTRIBUTES),
        supervised={
            i["decisionId"]["S"] for i in scan(clients, tables["SupervisionTable"], "decisionId")
        },
        certified={
            i["decisionId"]["S"]
            for i in scan(clients, tables["CertificatesTable"], "decisionId")
            if "decisionId" in i
        },
        failures=int(
            clients.sqs.get_queue_attributes(
                QueueUrl=stack.info["queues"]["StreamFailuresQueue"],
                AttributeNames=["ApproximateNumberOfMessages"],
            )["Attributes"]["ApproximateNumberOfMessages"]
        ),
    )


def settle(stack: LocalStack, clients: AwsClients) -> EndState:
    """The end state once the pollers have caught up: unchanged for 2 s (or after SETTLE_S)."""
    deadline = time.monotonic() + SETTLE_S
    state, unchanged_since = end_state(stack, clients), time.monotonic()
    while time.monotonic() - unchanged_since < 2.0 and time.monotonic() < deadline:
        time.sleep(0.5)
        now = end_state(stack, clients)
        if (now.undone, now.failures) != (state.undone, state.failures):
            unchanged_since = time.monotonic()
        state = now
    return state


def redrive_failures(stack: LocalStack, clients: AwsClients) -> tuple[int, int]:
    """Every entry of the stream failures queue handed back to its function through the stack's
    runtime (infra.cli.redrive's own steps); (entries seen, entries redriven)."""
    assert stack.runtime is not None
    runtime = stack.runtime
    by_arn = {spec.arn: lid for lid, spec in runtime.functions.items()}

    def invoke(function_arn: str, event: dict[str, Any]) -> dict[str, Any]:
        result = runtime.invoke(by_arn[function_arn], event)
        if not result.ok:
            return {"functionError": result.function_error}
        return dict(result.payload or {})

    queue_url = stack.info["queues"]["StreamFailuresQueue"]
    entries = redrive.entries(clients.sqs, queue_url)
    done = sum(
        redrive.redrive_entry(clients.sqs, clients.dynamodbstreams, queue_url, entry, invoke)
        for entry in entries
    )
    return len(entries), done


def test_moto_unreachable_for_15_s_under_load_drops_nothing(stack: LocalStack) -> None:
    # Given 4 applicants' clients submitting approvable applications (each a new person) as fast
    # as they are answered, every one past its cold start
    info = stack.info
    clients = AwsClients.create(stack.endpoint_url, "us-east-1")
    approvable = [
        p
        for p in read_personas(Path(info["personasFile"]))
        if not p.bulk and p.expected_outcome == "APPROVED"
    ][:CLIENTS]
    rng = random.Random(uuid.uuid4().int)
    crowds = [people.fresh(info, [persona] * PEOPLE, rng) for persona in approvable]
    tokens: dict[str, str] = {}

    def token(person: Persona) -> str:
        key = repr(person.application)
        if key not in tokens:
            tokens[key] = people.token(info, person)
        return tokens[key]

    load = Load(warm=[threading.Event() for _ in crowds])
    threads = [
        threading.Thread(target=submitting, args=(info["apiUrl"], token, crowd, load, load.warm[i]))
        for i, crowd in enumerate(crowds)
    ]
    redriven = 0
    try:
        for thread in threads:
            thread.start()
        for warm in load.warm:
            assert warm.wait(WARM_S), "a client got no 201 before the outage"
        time.sleep(LOAD_S)

        # When moto is unreachable for 15 s (its server stopped, then started again on its port)
        down = time.monotonic()
        with load.lock:
            load.outage = (down, float("inf"))
        stack.moto_outage(OUTAGE_S)
        with load.lock:
            load.outage = (down, time.monotonic())
        time.sleep(AFTER_S)
        load.stop.set()
        for thread in threads:
            thread.join(CLIENT_TIMEOUT_S)

        # and, once the streams have caught up, what they gave up on meanwhile is redriven from
        # its OnFailure queue
        settled = settle(stack, clients)
        deadline = time.monotonic() + SETTLE_S
        failures_queue = stack.info["queues"]["StreamFailuresQueue"]
        state, left = settled, settled.failures
        # (until the queue is empty too: a poller can give a batch up after the state is whole)
        while (not state.complete or left) and time.monotonic() < deadline:
            redriven += redrive_failures(stack, clients)[1]
            time.sleep(1.0)
            state = end_state(stack, clients)
            left = len(redrive.entries(clients.sqs, failures_queue))

        # and the reconciler runs, as its schedule would
        assert stack.schedules is not None and stack.runtime is not None
        [schedule] = [s for s in stack.schedules.schedules if s.function_id == "ReconcilerFunction"]
        reconciled = stack.runtime.invoke(
            schedule.function_id, scheduled_event(schedule, "us-east-1", datetime.now(UTC))
        )
    finally:
        load.stop.set()
        for thread in threads:
            thread.join(CLIENT_TIMEOUT_S)

    outage = [a for a in load.answers if a.during_outage]
    statuses = Counter(a.status for a in load.answers)
    print(
        f"{len(load.answers)} requests, {len(outage)} during the outage: {dict(statuses)}, "
        f"the slowest in {max((a.seconds for a in outage), default=0):.2f} s; "
        f"{len(load.acknowledged)} acknowledged, {len(state.approvals)} approvals; "
        f"left undone by the outage (unchained, unsupervised, uncertified): {settled.undone}, "
        f"{settled.failures} batches in the failures queue, {redriven} redriven; "
        f"reconciler {reconciled.payload}"
    )

    # Then every request during the outage was answered 503 with Retry-After, within the
    # function's timeout, and no request at all got a 5xx other than that or no answer
    assert outage, "no request overlapped the outage"
    assert [a.status for a in outage if a.status != "503" and not a.status.startswith("2")] == []
    assert all(a.retry_after and int(a.retry_after) > 0 for a in outage if a.status == "503")
    assert max(a.seconds for a in outage) < FUNCTION_TIMEOUT_S
    assert not {s for s in statuses if not s.isdigit() or (s[0] == "5" and s != "503")}, statuses

    # And every application answered 201 is there with exactly one decision record
    per_application = Counter(d["applicationId"]["S"] for d in state.decisions)
    assert set(load.acknowledged) <= state.applications
    assert {a: per_application[a] for a in load.acknowledged if per_application[a] != 1} == {}

    # And every decision is chained, no chain position twice, every approval supervised and
    # certified, nothing left in the failures queue, and the reconciler finds nothing to repair
    assert state.approvals, "no approval to supervise"
    assert state.unchained == []
    positions = Counter((d["chainId"]["S"], d["chainSeq"]["N"]) for d in state.decisions)
    assert [p for p, n in positions.items() if n > 1] == []
    assert state.unsupervised == []
    assert state.uncertified == []
    assert left == 0
    assert reconciled.ok, reconciled.error
    assert reconciled.payload["ReconciledChainPositions"] == 0
    assert reconciled.payload["ReconciledSupervisionRecords"] == 0
    assert reconciled.payload["ReconcileRefused"] == 0
