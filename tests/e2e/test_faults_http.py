"""Injected faults between the functions and moto: a slow, hung or unreachable dependency is a
503 with Retry-After within the function's timeout, never a 500 or the runtime's 502, and a
retry with the same Idempotency-Key finds what was recorded without a duplicate.

The stack here is its own, in this process: moto on loopback, template.yaml deployed, the
functions in worker processes whose AWS endpoint is a fault proxy (infra/local/fault_proxy.py)
in front of moto, and the local gateway. Each test gets fresh execution environments (a new
runtime), so a cold start is a cold start. Faults are bounded and cleared after every test.

The runtime kills a function at its template timeout and the gateway then answers 502, as
Lambda and API Gateway do: a 503 is the function's own answer, within its time.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from miaopi_platform.privacy.pii import PiiHasher
from moto.server import ThreadedMotoServer

from infra.local.authorizer import Authorizers
from infra.local.deploy import AwsClients, Deployment, deploy
from infra.local.fault_proxy import Fault, FaultProxy
from infra.local.gateway import Gateway
from infra.local.idp import IdentityProvider, Issuer
from infra.local.runtime import Runtime
from infra.local.seed import (
    Persona,
    fresh_copy,
    generate,
    persona_identity,
    put_all,
    reference_items,
)
from infra.local.stack import free_port
from infra.local.template import LocalTemplate

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
DYNAMODB = "DynamoDB_20120810."
WRITE = "DynamoDB_20120810.TransactWriteItems"
SECRET = "secretsmanager.GetSecretValue"
SERVICE = "elderly-allowance"
STACK = "miaopi-faults"
#: the client waits longer than any function may run (template.yaml's longest timeout is 60 s)
CLIENT_TIMEOUT_S = 90.0


@dataclass
class FaultStack:
    deployment: Deployment
    clients: AwsClients
    proxy: FaultProxy
    personas: list[Persona]
    issuer: Issuer
    endpoint: str
    hasher: PiiHasher

    def persona(self, service_id: str, outcome: str) -> Persona:
        """Someone new in the situation of the service's persona with `outcome`, their
        departments' records loaded: each test's approval is its own (one grant per subject)."""
        seeded = next(
            p
            for p in self.personas
            if p.service_id == service_id and p.expected_outcome == outcome and not p.bulk
        )
        person = fresh_copy(seeded, random.Random(uuid.uuid4().int))
        env = self.deployment.functions["ApplicationsFunction"].environment
        reference, credit = reference_items([person], self.hasher.digest)
        put_all(self.clients.dynamodb, env["REFERENCE_TABLE"], reference)
        put_all(self.clients.dynamodb, env["CREDIT_LIST_TABLE"], credit)
        return person

    def sub_of(self, persona: Persona) -> str:
        """The account id of whom the persona's application is for."""
        return self.issuer.subject_id(persona_identity(persona))

    def applications_of(self, applicant_sub: str) -> list[dict[str, Any]]:
        table = self.deployment.tables["ApplicationsTable"]
        answer = self.clients.dynamodb.scan(
            TableName=table,
            FilterExpression="applicantId = :a",
            ExpressionAttributeValues={":a": {"S": applicant_sub}},
        )
        return list(answer["Items"])


@pytest.fixture(scope="module")
def faults(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultStack]:
    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    endpoint = f"http://127.0.0.1:{port}"
    proxy = FaultProxy(endpoint).start()
    idp = IdentityProvider(tmp_path_factory.mktemp("idp")).start()
    try:
        clients = AwsClients.create(endpoint, REGION)
        template = LocalTemplate.load(ROOT / "template.yaml")
        parameters = idp.parameters(template)
        deployment = deploy(template, clients, stack_name=STACK, parameters=parameters)
        from miaopi_platform.applications.flow import CHINA

        env = deployment.functions["ApplicationsFunction"].environment
        hasher = PiiHasher.from_secret(clients.secretsmanager, env["PII_KEY_SECRET_ARN"])
        personas, _ = generate(dt.datetime.now(CHINA).date(), copies=0)
        reference, credit = reference_items(personas, hasher.digest)
        put_all(clients.dynamodb, env["REFERENCE_TABLE"], reference)
        put_all(clients.dynamodb, env["CREDIT_LIST_TABLE"], credit)
        yield FaultStack(deployment, clients, proxy, personas, idp.issuer, endpoint, hasher)
    finally:
        idp.stop()
        proxy.stop()
        moto.stop()


@dataclass
class Api:
    base_url: str
    issuer: Issuer

    def submit(self, persona: Persona, key: str) -> requests.Response:
        """The persona's application, submitted by whom it is for."""
        token = self.issuer.mint(persona_identity(persona))
        return requests.post(
            f"{self.base_url}/services/{persona.service_id}/applications",
            json=persona.application,
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
            timeout=CLIENT_TIMEOUT_S,
        )


@pytest.fixture
def api(faults: FaultStack) -> Iterator[Api]:
    """Fresh execution environments (cold starts) behind the gateway; no fault left over. The
    functions reach AWS through the fault proxy; the authorizer reaches it directly (the faults
    are the functions')."""
    deployment = faults.deployment
    runtime = Runtime(deployment.functions, endpoint_url=faults.proxy.url, region=REGION)
    direct = Runtime(deployment.functions, endpoint_url=faults.endpoint, region=REGION)
    routes = [r for spec in deployment.functions.values() for r in spec.api_routes]
    gateway = Gateway(
        routes,
        runtime,
        authorizers=Authorizers.from_deployment(deployment, direct),
        stage=deployment.stage,
        port=0,
    )
    try:
        with gateway:
            yield Api(gateway.base_url, faults.issuer)
    finally:
        faults.proxy.clear()
        runtime.close()
        direct.close()


def assert_unavailable(answer: requests.Response) -> dict[str, Any]:
    """A 503 with Retry-After: the function answered, within its time (not the runtime's 502)."""
    assert answer.status_code == 503, answer.text
    assert int(answer.headers["Retry-After"]) > 0
    error: dict[str, Any] = answer.json()["error"]
    assert error["code"] == "DEPENDENCY_UNAVAILABLE"
    return error


def test_a_hung_database_on_submit_is_a_503_that_says_nothing_was_recorded(
    faults: FaultStack, api: Api
) -> None:
    # Given DynamoDB hangs: no call is answered
    persona = faults.persona(SERVICE, "APPROVED")
    api.submit(faults.persona(SERVICE, "REJECTED"), f"warm-{uuid.uuid4()}")
    faults.proxy.inject(DYNAMODB, Fault.hang())
    before = len(faults.applications_of(faults.sub_of(persona)))

    # When an application is submitted
    answer = api.submit(persona, f"hung-{uuid.uuid4()}")

    # Then the answer is a 503 with Retry-After before the function's timeout, saying that
    # nothing was recorded, and indeed nothing was
    error = assert_unavailable(answer)
    assert [d.get("recorded") for d in error["details"]] == [False]
    faults.proxy.clear()
    assert len(faults.applications_of(faults.sub_of(persona))) == before


def test_a_slow_write_is_a_503_and_a_same_key_retry_returns_the_one_application(
    faults: FaultStack, api: Api
) -> None:
    # Given the application's write reaches DynamoDB but its answer comes far too late
    persona = faults.persona(SERVICE, "APPROVED")
    key = f"slow-{uuid.uuid4()}"
    api.submit(faults.persona(SERVICE, "REJECTED"), f"warm-{uuid.uuid4()}")
    sub = faults.sub_of(persona)
    before = len(faults.applications_of(sub))
    faults.proxy.inject(WRITE, Fault.delay(60))

    # When the application is submitted
    answer = api.submit(persona, key)

    # Then the answer is a 503 with Retry-After within the function's timeout, saying the
    # outcome is unknown (the write was sent, its answer lost)
    error = assert_unavailable(answer)
    assert [d.get("recorded") for d in error["details"]] == ["unknown"]

    # And when the database is back, the same key returns the application the lost write
    # recorded, once
    faults.proxy.clear()
    retry = api.submit(persona, key)
    assert retry.status_code == 200, retry.text
    assert retry.json()["status"] == "APPROVED"
    assert len(faults.applications_of(sub)) == before + 1
    again = api.submit(persona, key)
    assert again.status_code == 200
    assert again.json()["applicationId"] == retry.json()["applicationId"]


def test_the_key_store_unreachable_at_cold_start_is_a_503_then_served_when_it_is_back(
    faults: FaultStack, api: Api
) -> None:
    # Given a new execution environment that cannot reach Secrets Manager
    faults.proxy.inject(SECRET, Fault.refuse())
    persona = faults.persona(SERVICE, "APPROVED")

    # When an application is submitted
    answer = api.submit(persona, f"cold-{uuid.uuid4()}")

    # Then it is a 503 with Retry-After, nothing recorded
    error = assert_unavailable(answer)
    assert [d.get("recorded") for d in error["details"]] == [False]
    assert (SECRET, "refuse") in faults.proxy.hits

    # And once the key store answers again, the same environment fetches the key and decides
    faults.proxy.clear()
    retry = api.submit(persona, f"cold-{uuid.uuid4()}")
    assert retry.status_code == 201, retry.text
    assert retry.json()["status"] == "APPROVED"
