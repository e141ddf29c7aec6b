"""Signing in over HTTP against the local stack: the local identity provider's tokens, verified
by the real authorizer function that the local gateway calls as API Gateway would; bad tokens
refused; staff held to their roles' authorities and to the real-name level staff routes need."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from miaopi_platform.identity.context import Assurance

from infra.local.idp import LocalIdentity
from infra.local.stack_file import issuer, read_stack
from tests.e2e.conftest import PYTHONPATH, ROOT, Api, Client
from tests.e2e.test_review_http import referred, wait_for

UNAUTHORIZED = {"error": {"code": "UNAUTHORIZED", "message": "Unauthorized", "details": []}}
ID_NUMBER = "11010519491231002X"
TRANSPORT = ("ride-hailing-driver-permit", "ride-hailing-vehicle-permit")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def bad_tokens(api: Api) -> dict[str, str]:
    """A token for each way one can be wrong, all of a person who would otherwise be let in."""
    minted = issuer(read_stack(api.stack_file))
    person = LocalIdentity.person(ID_NUMBER, "张三")
    now = int(time.time())
    claims = minted.claims(person)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    head, body, signature = minted.mint(person).split(".")
    raised = {**json.loads(base64.urlsafe_b64decode(body + "==")), "acr": "L3"}
    alg_none = {"alg": "none", "kid": minted.key.kid, "typ": "JWT"}
    return {
        "expired": minted.mint(person, iat=now - 7200, exp=now - 3600),
        "not yet valid": minted.mint(person, iat=now + 3600, nbf=now + 3600),
        "wrong issuer": minted.mint(person, iss="https://sso.example.gov.cn/oidc"),
        "wrong audience": minted.mint(person, aud="another-app"),
        "another key": jwt.encode(
            claims, other, algorithm="RS256", headers={"kid": minted.key.kid}
        ),
        "unknown key id": jwt.encode(claims, other, algorithm="RS256", headers={"kid": "k-2"}),
        "alg none": f"{b64url(json.dumps(alg_none).encode())}.{b64url(json.dumps(claims).encode())}"
        + ".",
        "tampered": f"{head}.{b64url(json.dumps(raised).encode())}.{signature}",
        "a bad ID number": minted.mint(person, id_number="110105194912310021"),
        "not a JWT": "not-a-token",
    }


@pytest.mark.parametrize(
    "kind",
    [
        "expired",
        "not yet valid",
        "wrong issuer",
        "wrong audience",
        "another key",
        "unknown key id",
        "alg none",
        "tampered",
        "a bad ID number",
        "not a JWT",
    ],
)
def test_each_kind_of_bad_token_is_401_in_the_api_s_error_format(api: Api, kind: str) -> None:
    # Given a bad token, and the same person's good one
    bad = Client(api.base_url, bad_tokens(api)[kind])
    good = api.person(ID_NUMBER, "张三")

    # When each lists its applications
    refused = bad.get("/applications")
    accepted = good.get("/applications")

    # Then the bad one is 401 in the error format, and the good one is let in
    assert refused.status == 401, refused.text
    assert refused.body == UNAUTHORIZED
    assert accepted.status == 200


def test_no_token_and_another_scheme_are_401(api: Api) -> None:
    token = api.token("citizen")
    for headers in ({}, {"Authorization": f"Basic {token}"}, {"Authorization": token}):
        answer = requests.get(f"{api.base_url}/applications", headers=headers, timeout=30)
        assert answer.status_code == 401
        assert answer.json() == UNAUTHORIZED


def test_the_token_cli_signs_in_demo_users_personas_and_anyone(api: Api) -> None:
    # Given the CLI's tokens: a demo user, a persona (by name), a person and an enterprise given
    # on the command line, and a staff member with roles at L2
    persona = next(p for p in api.live_personas if p.service_id == "drug-license-cancellation")

    def token(*args: str) -> str:
        command = [sys.executable, "-m", "infra.local.token", *args]
        command += ["--stack-file", str(api.stack_file)]
        env = {"PYTHONPATH": ":".join(str(p) for p in PYTHONPATH), "PATH": "/usr/bin:/bin"}
        done = subprocess.run(
            command, capture_output=True, text=True, env=env, cwd=ROOT, check=True
        )
        return done.stdout.strip()

    tokens = {
        "demo user": token("auditor"),
        "persona": token(persona.name),
        "person": token("--id-number", ID_NUMBER, "--name", "张三"),
        "enterprise": token("--credit-code", "91110000600037341L", "--name", "某公司"),
        "staff at L2": token(
            "--id-number", ID_NUMBER, "--name", "张三", "--roles", "auditor:*", "--acr", "L2"
        ),
    }

    # When each is used
    def status(name: str, path: str) -> int:
        return Client(api.base_url, tokens[name]).get(path).status

    # Then each signs in as what it names: the auditor and the L3 check of staff routes, the
    # persona's enterprise (a legal person's credit code) and the people given on the line
    assert (
        status(
            "demo user", "/audit/stats?serviceId=elderly-allowance&from=2026-01-01&to=2026-01-02"
        )
        == 200
    )
    assert status("persona", "/applications") == 200
    assert status("person", "/applications") == 200
    assert status("enterprise", "/applications") == 200
    assert status("staff at L2", "/audit/decisions") == 403
    claims = jwt.decode(tokens["persona"], options={"verify_signature": False})
    assert claims["subject_type"] == "LEGAL_PERSON"
    assert claims["credit_code"] == persona.application["chainCreditCode"]


def task_of(api: Api, service_id: str) -> str:
    """A review task of `service_id`, once it is in the queue (any reviewer:* sees it)."""
    application, _applicant = referred(api, service_id)
    task_id = "TSK" + application["applicationId"][3:]
    reviewer = api.client("reviewer")
    wait_for(lambda: reviewer.get(f"/reviews/{task_id}").status == 200, "the review task")
    return task_id


def test_a_reviewer_decides_only_tasks_of_their_authorities(api: Api) -> None:
    # Given a hukou task (human resources) and a driver permit task (transport)
    hukou = task_of(api, "graduate-hukou")
    driver = task_of(api, "ride-hailing-driver-permit")
    transport = api.client("reviewer-transport")

    # When a transport reviewer reads both, decides the hukou one, and lists the queue
    read_hukou = transport.get(f"/reviews/{hukou}")
    read_driver = transport.get(f"/reviews/{driver}")
    decided = transport.request(
        "POST", f"/reviews/{hukou}/decision", json={"decision": "APPROVE", "comment": "ok"}
    )
    queue = transport.get("/reviews", params={"limit": 100})
    hukou_queue = transport.get("/reviews", params={"serviceId": "graduate-hukou"})

    # Then the hukou task is out of their scope (403, nothing decided), the driver's is theirs,
    # and their queue holds transport tasks only
    assert read_hukou.status == 403 and decided.status == 403, decided.text
    assert decided.body["error"]["details"][0]["code"] == "out_of_scope"
    assert read_driver.status == 200
    assert hukou_queue.status == 403
    assert queue.status == 200
    assert {t["serviceId"] for t in queue.body["items"]} <= set(TRANSPORT)
    assert api.client("reviewer").get(f"/reviews/{hukou}").body["status"] == "OPEN"


def test_staff_routes_need_a_role_in_scope_at_l3(api: Api) -> None:
    # Given staff of several kinds
    week = {"serviceId": "elderly-allowance", "from": "2026-01-01", "to": "2026-01-07"}
    citywide_l2 = api.staff("auditor:*", acr=Assurance.L2)
    market = api.staff("auditor:market-regulation")
    civil = api.staff("auditor:baoan-civil-affairs")
    scoped_admin = api.staff("admin:market-regulation")
    body: dict[str, Any] = {"subjectId": ID_NUMBER}

    # When they read an elderly allowance's figures and look up the credit list
    answers = {
        "auditor at L2": citywide_l2.get("/audit/stats", params=week),
        "auditor of another authority": market.get("/audit/stats", params=week),
        "auditor of its authority": civil.get("/audit/stats", params=week),
        "scoped admin": scoped_admin.request("POST", "/credit-list/lookup", json=body),
    }

    # Then only the auditor of the service's authority at L3 is let in, each other a 403 that
    # says why; the credit list is the city's, for admin:* only
    codes = {
        k: (a.status, (a.body or {}).get("error", {}).get("details")) for k, a in answers.items()
    }
    assert codes["auditor of its authority"][0] == 200
    assert codes["auditor at L2"] == (403, [{"code": "assurance_too_low"}])
    assert codes["auditor of another authority"][0] == 403
    assert codes["auditor of another authority"][1][0]["code"] == "out_of_scope"
    assert codes["scoped admin"][0] == 403
