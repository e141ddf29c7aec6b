"""Handlers under moto, with tables built from template.yaml and the synthetic reference data.

Each function module is imported the way Lambda would: with exactly its template environment,
and with its own copy of the platform's routers (in Lambda every function is its own process).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.util
import json
import random
import sys
from collections.abc import Callable, Iterator
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from miaopi.engine import applicant_identifiers
from miaopi.errors import ApplicationInvalid, UnknownService
from miaopi.forms import normalize
from miaopi_platform.aws.api import PRINCIPAL_ID
from miaopi_platform.catalogue.services import find
from miaopi_platform.identity.context import Assurance, Identity, Role, SubjectType
from miaopi_platform.privacy.pii import PiiHasher
from moto import mock_aws
from stdnum.cn import uscc

from infra.local.deploy import AwsClients, Deployment, deploy_in_process
from infra.local.events import api_gateway_event
from infra.local.seed import Persona, fresh_copy, generate, put_all, reference_items

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


def caller_context(
    sub: str,
    *roles: str,
    assurance: Assurance | None = None,
    subject_type: SubjectType = SubjectType.PERSON,
) -> dict[str, str]:
    """What the API's authorizer passes the functions for a caller (`requestContext.authorizer`):
    the principal and the identity context; staff (with roles) at L3, citizens at L2."""
    identity = Identity(
        subject=sub,
        subject_type=subject_type,
        subject_id_hash=hashlib.sha256(sub.encode()).hexdigest(),
        assurance=assurance or (Assurance.L3 if roles else Assurance.L2),
        roles=frozenset(Role.parse(r) for r in roles),
    )
    return {PRINCIPAL_ID: sub, **identity.to_context()}


def staff(sub: str, *roles: str, assurance: Assurance | None = None) -> dict[str, str]:
    return caller_context(sub, *roles, assurance=assurance)


CITIZEN = caller_context("11111111-aaaa-bbbb-cccc-000000000001")
OTHER = caller_context("22222222-aaaa-bbbb-cccc-000000000002")


class Stack:
    def __init__(
        self,
        deployment: Deployment,
        clients: AwsClients,
        personas: list[Persona],
        env_patch: pytest.MonkeyPatch,
    ) -> None:
        self.env_patch = env_patch
        self.deployment = deployment
        self.clients = clients
        self.personas = personas
        self._modules: dict[str, ModuleType] = {}
        self._rng = random.Random(2026)

    def env(self, function_id: str) -> dict[str, str]:
        return dict(self.deployment.functions[function_id].environment)

    def table(self, env_name: str) -> str:
        """A table's name, as the functions that use it are told (template.yaml)."""
        for function in self.deployment.functions.values():
            if env_name in function.environment:
                return str(function.environment[env_name])
        raise KeyError(env_name)

    def module(self, function_id: str) -> ModuleType:
        if function_id in self._modules:
            return self._modules[function_id]
        spec_fn = self.deployment.functions[function_id]
        for name, value in spec_fn.environment.items():
            self.env_patch.setenv(name, value)
        routers = ("routes", "submit_route")  # module-level routers: fresh for each function
        for name in [m for m in sys.modules if m.rsplit(".", 1)[-1] in routers]:
            del sys.modules[name]
            package, _, attribute = name.rpartition(".")
            if package in sys.modules:  # `from package import routes` looks here first
                vars(sys.modules[package]).pop(attribute, None)
        path = spec_fn.code_uri / "app.py"
        spec = importlib.util.spec_from_file_location(f"fn_{function_id}", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        self._modules[function_id] = module
        return module

    def clear(self, *env_names: str) -> None:
        """Empty the tables the tests write, keeping the reference data."""
        for env_name in env_names:
            table = self.table(env_name)
            keys = [
                k["AttributeName"]
                for k in self.clients.dynamodb.describe_table(TableName=table)["Table"]["KeySchema"]
            ]
            for item in self.items(env_name):
                self.clients.dynamodb.delete_item(TableName=table, Key={k: item[k] for k in keys})

    def items(self, env_name: str) -> list[dict[str, Any]]:
        answer = self.clients.dynamodb.scan(TableName=self.table(env_name))
        return list(answer["Items"])

    @cached_property
    def hasher(self) -> PiiHasher:
        env = next(iter(self.deployment.functions.values())).environment
        return PiiHasher.from_secret(self.clients.secretsmanager, env["PII_KEY_SECRET_ARN"])

    def applicant(
        self, service_id: str, application: Any, sub: str = CITIZEN[PRINCIPAL_ID]
    ) -> dict[str, str]:
        """The caller context of whom `application` is for (its service's first way of
        applying: the person, the enterprise), signed in on account `sub`; the citizen's for a
        body that is no form at all (the request is refused before it is looked at)."""
        try:
            service = find(service_id)
            form = normalize(service.form_model, application)
            [(_way, identifier), *_] = applicant_identifiers(service, form, {})
        except (UnknownService, ApplicationInvalid, ValueError):
            return CITIZEN
        kind = SubjectType.LEGAL_PERSON if uscc.is_valid(identifier) else SubjectType.PERSON
        identity = Identity(sub, kind, self.hasher.digest(identifier), Assurance.L2)
        return {PRINCIPAL_ID: sub, **identity.to_context()}

    def fresh(self, persona: Persona) -> Persona:
        """Someone new in the persona's situation (seed.fresh_copy), their departments' records
        loaded: for a test that decides the same kind of case more than once (one grant per
        subject would refuse the same person a second time)."""
        copy = fresh_copy(persona, self._rng)
        env = next(iter(self.deployment.functions.values())).environment
        reference, credit = reference_items([copy], self.hasher.digest)
        put_all(self.clients.dynamodb, env["REFERENCE_TABLE"], reference)
        put_all(self.clients.dynamodb, env["CREDIT_LIST_TABLE"], credit)
        return copy

    def persona(self, service_id: str, outcome: str, failing: list[str] | None = None) -> Persona:
        for persona in self.personas:
            matches = persona.service_id == service_id and persona.expected_outcome == outcome
            if matches and (failing is None or persona.expected_failing == sorted(failing)):
                return persona
        raise LookupError(f"no persona {service_id} {outcome} {failing}")


@pytest.fixture(scope="module")
def deployed() -> Iterator[Stack]:
    """One deployment and reference data per test module; see `stack` for per-test state."""
    with (
        pytest.MonkeyPatch.context() as monkeypatch,
        mock_aws(config={"stepfunctions": {"execute_state_machine": True}}),
    ):
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        monkeypatch.setenv("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")
        monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
        deployment = deploy_in_process(TEMPLATE, "miaopi-it")
        clients = AwsClients.create()
        from miaopi_platform.applications.flow import CHINA
        from miaopi_platform.privacy.pii import PiiHasher

        env = deployment.functions["ApplicationsFunction"].environment
        hasher = PiiHasher.from_secret(clients.secretsmanager, env["PII_KEY_SECRET_ARN"])
        personas, _ = generate(dt.datetime.now(CHINA).date(), copies=0)
        reference, credit = reference_items(personas, hasher.digest)
        put_all(clients.dynamodb, env["REFERENCE_TABLE"], reference)
        put_all(clients.dynamodb, env["CREDIT_LIST_TABLE"], credit)
        yield Stack(deployment, clients, personas, monkeypatch)


@pytest.fixture
def stack(deployed: Stack) -> Stack:
    """The module's deployment with empty applications and decisions tables."""
    deployed.clear("APPLICATIONS_TABLE", "DECISIONS_TABLE", "GRANTS_TABLE")
    return deployed


Invoke = Callable[..., dict[str, Any]]


@pytest.fixture
def audit(stack: Stack, invoke: Invoke, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Decisions made, chained by the sequencer and read through the audit API, with empty
    chain heads (tests/integration/test_audit_api.py: Audit). Audit tests write hundreds of
    records: moto's transactions get the local stack's O(items touched) rollback snapshot
    (infra/local/moto_server.py) instead of copying whole tables and streams per write."""
    import moto.dynamodb.models as dynamodb_models

    from infra.local import moto_server
    from tests.integration.test_audit_api import Audit

    monkeypatch.setattr(dynamodb_models, "copy", moto_server._TablesNotCopied())
    monkeypatch.setattr(
        dynamodb_models.DynamoDBBackend, "transact_write_items", moto_server.transact_write_items
    )
    stack.clear("CHAIN_HEADS_TABLE")
    return Audit(stack, invoke)


@pytest.fixture
def invoke(stack: Stack) -> Invoke:
    """Call a function's handler with an API Gateway proxy event, as the gateway would."""

    def call(
        function_id: str,
        method: str,
        resource: str,
        path: str,
        *,
        body: Any = None,
        raw_body: str | None = None,
        headers: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
        path_parameters: dict[str, str] | None = None,
        caller: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        module = stack.module(function_id)
        headers = dict(headers or {})
        if body is not None and not any(h.lower() == "content-type" for h in headers):
            headers["Content-Type"] = "application/json"  # as a client sending JSON does
        event = api_gateway_event(
            method=method,
            resource=resource,
            path=path,
            headers=list(headers.items()),
            query=list((query or {}).items()),
            path_parameters=path_parameters,
            body=raw_body if raw_body is not None else (None if body is None else json.dumps(body)),
            authorizer=caller,
        )
        response: dict[str, Any] = module.lambda_handler(event, _Context(function_id))
        headers = {k.lower(): v[-1] for k, v in (response.get("multiValueHeaders") or {}).items()}
        headers |= {k.lower(): v for k, v in (response.get("headers") or {}).items()}
        response["headers"] = headers
        is_json = headers.get("content-type", "").startswith("application/json")
        response["json"] = (
            json.loads(response["body"]) if is_json and response.get("body") else None
        )
        return response

    return call


class _Context:
    def __init__(self, name: str) -> None:
        self.function_name = name
        self.memory_limit_in_mb = 512
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
        self.aws_request_id = "00000000-0000-0000-0000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def insert_event(*items: dict[str, Any], key: str = "decisionId") -> dict[str, Any]:
    """A DynamoDB stream batch of INSERT records for stored items (DynamoDB JSON)."""
    return {
        "Records": [
            {
                "eventID": f"{n}",
                "eventName": "INSERT",
                "eventSource": "aws:dynamodb",
                "dynamodb": {
                    "Keys": {key: item[key]},
                    "NewImage": item,
                    "SequenceNumber": f"{100000 + n:021d}",
                    "StreamViewType": "NEW_IMAGE",
                },
            }
            for n, item in enumerate(items)
        ]
    }
