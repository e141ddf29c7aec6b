"""The local API gateway: template routes, precedence, Cognito authorizer, limits, errors."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from moto.server import ThreadedMotoServer

from infra.local.deploy import AwsClients, Deployment, deploy
from infra.local.gateway import Gateway
from infra.local.runtime import Runtime
from infra.local.stack import free_port

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "local_stack"
PASSWORD = "Fixture-Passw0rd"


@dataclass
class Api:
    base_url: str
    gateway: Gateway
    deployment: Deployment
    id_token: str
    access_token: str


@pytest.fixture(scope="module")
def api() -> Iterator[Api]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    runtime = None
    try:
        clients = AwsClients.create(endpoint, "us-east-1")
        deployment = deploy(FIXTURES / "gateway.yaml", clients, stack_name="gateway-test")
        pool = deployment.user_pools["UserPool"]
        idp = clients.cognito_idp
        idp.admin_create_user(UserPoolId=pool, Username="alice", MessageAction="SUPPRESS")
        idp.admin_set_user_password(
            UserPoolId=pool, Username="alice", Password=PASSWORD, Permanent=True
        )
        idp.admin_add_user_to_group(UserPoolId=pool, Username="alice", GroupName="reviewers")
        tokens = idp.admin_initiate_auth(
            UserPoolId=pool,
            ClientId=deployment.user_pool_clients["UserPoolClient"],
            AuthFlow="ADMIN_USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": "alice", "PASSWORD": PASSWORD},
        )["AuthenticationResult"]
        runtime = Runtime(deployment.functions, endpoint_url=endpoint, region="us-east-1")
        with Gateway.from_deployment(deployment, runtime, port=0) as gateway:
            yield Api(
                gateway.base_url, gateway, deployment, tokens["IdToken"], tokens["AccessToken"]
            )
    finally:
        if runtime is not None:
            runtime.close()
        server.stop()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_literal_segment_wins_over_a_path_parameter(api: Api) -> None:
    # Given a literal route /things/special/items and a param route /things/{thingId}/items
    # When both kinds of path are called
    special = requests.post(
        f"{api.base_url}/things/special/items", headers=bearer(api.id_token), data="{}", timeout=10
    )
    other = requests.post(
        f"{api.base_url}/things/other/items", headers=bearer(api.id_token), timeout=10
    )

    # Then the literal one reaches its own function, with its own environment
    assert special.status_code == 200
    assert special.json()["function"] == api.deployment.functions["SpecialFunction"].name
    assert special.json()["env"]["SERVICE_ID"] == "special"
    assert special.json()["resource"] == "/things/special/items"
    # And the other reaches the param route with the path parameter
    assert other.json()["function"] == api.deployment.functions["GenericFunction"].name
    assert other.json()["resource"] == "/things/{thingId}/items"
    assert other.json()["pathParameters"] == {"thingId": "other"}
    assert other.json()["env"]["FIXTURE_TABLE"] == api.deployment.tables["ThingsTable"]


def test_claims_reach_the_function_as_the_cognito_authorizer_renders_them(api: Api) -> None:
    # Given a reviewer's ID token, sent raw (API Gateway accepts it without "Bearer")
    # When calling an authorized route
    response = requests.post(
        f"{api.base_url}/things/x/items", headers={"Authorization": api.id_token}, timeout=10
    )

    # Then the function gets every claim as a string, groups included
    claims = response.json()["claims"]
    assert claims["cognito:username"] == "alice"
    assert claims["cognito:groups"] == "reviewers"
    assert claims["token_use"] == "id"
    assert all(isinstance(v, str) for v in claims.values())


def test_proxy_response_and_query_pass_through(api: Api) -> None:
    # When calling a public route with a query string
    response = requests.get(f"{api.base_url}/things/t1?a=1&a=2&b=", timeout=10)

    # Then the proxy event had the last value per name, and the headers came back
    assert response.status_code == 200
    assert response.json()["queryStringParameters"] == {"a": "2", "b": ""}
    assert response.json()["claims"] is None
    assert response.headers["X-Echo"] == "a, b"
    assert response.headers["x-amzn-RequestId"]


def moto_signing_key() -> Any:
    """moto's own Cognito signing key: lets a test mint a validly signed but wrong token."""
    from moto.utilities.utils import load_resource

    return jwt.PyJWK(load_resource("cognitoidp/resources/jwks-private.json")).key


@pytest.mark.parametrize(
    "case", ["missing", "forged", "access-token", "expired", "other-audience", "garbage"]
)
def test_bad_or_missing_token_is_401_and_the_function_is_not_invoked(api: Api, case: str) -> None:
    # Given a token that the Cognito authorizer would refuse
    claims = jwt.decode(api.id_token, options={"verify_signature": False})
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    moto_key = moto_signing_key()
    tokens: dict[str, dict[str, str]] = {
        "missing": {},
        "forged": bearer(jwt.encode(claims, forger, algorithm="RS256", headers={"kid": "dummy"})),
        "access-token": bearer(api.access_token),
        "expired": bearer(
            jwt.encode(
                {**claims, "exp": int(time.time()) - 60},
                moto_key,
                algorithm="RS256",
                headers={"kid": "dummy"},
            )
        ),
        "other-audience": bearer(
            jwt.encode(
                {**claims, "aud": "another-client"},
                moto_key,
                algorithm="RS256",
                headers={"kid": "dummy"},
            )
        ),
        "garbage": bearer("not-a-jwt"),
    }

    # When calling an authorized route
    response = requests.post(
        f"{api.base_url}/things/x/items", headers=tokens[case], data="crash", timeout=10
    )

    # Then 401 in the error envelope (the function, which would crash on this body, never ran)
    assert response.status_code == 401
    assert response.json() == {
        "error": {"code": "UNAUTHORIZED", "message": "missing or invalid token", "details": []}
    }


def test_body_over_10_mb_is_413(api: Api) -> None:
    # Given a request announcing a body over API Gateway's 10 MB limit
    conn = http.client.HTTPConnection("127.0.0.1", api.gateway.port, timeout=10)
    conn.putrequest("POST", "/v1/things/special/items")
    conn.putheader("Authorization", f"Bearer {api.id_token}")
    conn.putheader("Content-Length", str(10 * 1024 * 1024 + 1))
    conn.endheaders()

    # When the gateway answers
    response = conn.getresponse()

    # Then 413 before reading the body
    assert response.status == 413
    assert json.loads(response.read())["error"]["code"] == "PAYLOAD_TOO_LARGE"
    conn.close()


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/nowhere", 404, "NOT_FOUND"),
        ("GET", "/things/a/b/c", 404, "NOT_FOUND"),
        ("DELETE", "/things/special/items", 405, "METHOD_NOT_ALLOWED"),
        # methods http.server has no handler for, and that API Gateway's ANY does not take
        ("TRACE", "/things/special/items", 405, "METHOD_NOT_ALLOWED"),
        ("QUERY", "/things/x", 405, "METHOD_NOT_ALLOWED"),
        ("TRACE", "/files/a/b", 405, "METHOD_NOT_ALLOWED"),
        ("QUERY", "/nowhere", 404, "NOT_FOUND"),
    ],
)
def test_unknown_route_or_method_is_a_json_error(
    api: Api, method: str, path: str, status: int, code: str
) -> None:
    # When calling a path or method the template does not route
    response = requests.request(method, api.base_url + path, timeout=10)

    # Then the app's error envelope, not API Gateway's 403
    assert response.status_code == status
    body: dict[str, Any] = response.json()
    assert body["error"]["code"] == code
    assert body["error"]["details"] == []


def test_request_line_and_headers_over_10_kb_are_a_json_413(api: Api) -> None:
    # Given one request within API Gateway's 10,240 bytes of request line and header values,
    # and one over it (in many headers: each is within http.server's own line limit)
    within = {"X-Pad": "a" * 9_000}
    over = {f"X-Pad-{n}": "a" * 1_000 for n in range(11)}

    # When both are sent
    fine = requests.get(f"{api.base_url}/things/x", headers=within, timeout=10)
    refused = requests.get(f"{api.base_url}/things/x", headers=over, timeout=10)

    # Then the first reaches the function; the second is API Gateway's REQUEST_TOO_LARGE, in
    # the app's error envelope, and the function never sees it
    assert fine.status_code == 200
    assert refused.status_code == 413
    assert refused.json()["error"]["code"] == "REQUEST_TOO_LARGE"
    assert "x-amzn-RequestId" not in refused.headers


def test_a_header_line_too_long_for_http_server_is_a_json_413_too(api: Api) -> None:
    # Given a single header line over http.server's own 64 KB line limit
    headers = {"X-Pad": "a" * 70_000}

    # When it is sent
    response = requests.get(f"{api.base_url}/things/x", headers=headers, timeout=10)

    # Then the answer is JSON, not http.server's HTML page
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "REQUEST_TOO_LARGE"


def test_a_malformed_request_line_is_a_json_400(api: Api) -> None:
    # Given a request line http.server cannot parse
    with socket.create_connection(("127.0.0.1", api.gateway.port), timeout=10) as conn:
        conn.sendall(b"GET /v1/things/x HTTP/1.1 extra\r\n\r\n")
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk

    # When the gateway answers
    head, _, body = answer.partition(b"\r\n\r\n")

    # Then it is an HTTP 400 in the app's error envelope, not http.server's HTML page
    assert head.split(b"\r\n")[0] == b"HTTP/1.1 400 Bad Request"
    assert json.loads(body)["error"]["code"] == "BAD_REQUEST"


def test_fifty_simultaneous_connections_are_all_answered(api: Api) -> None:
    # Given 50 clients that connect at the same instant (a burst of submissions); a connection
    # the gateway's listen queue drops is retried by the kernel only after TCP's initial
    # retransmission timeout of 1 s, so a connect given less than that fails instead
    clients = 50
    start = threading.Barrier(clients)

    def one(n: int) -> str:
        start.wait()
        try:
            conn = socket.create_connection(("127.0.0.1", api.gateway.port), timeout=0.9)
        except OSError as err:
            return type(err).__name__
        with conn:
            conn.settimeout(30)
            request = f"GET /v1/things/t{n} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            conn.sendall(request.encode())
            answer = b""
            while chunk := conn.recv(65536):
                answer += chunk
        return answer.split(b"\r\n", 1)[0].decode() or "no answer"

    # When they all send their request
    with ThreadPoolExecutor(clients) as pool:
        answers = Counter(pool.map(one, range(clients)))

    # Then every one of them gets an HTTP answer
    assert answers == {"HTTP/1.1 200 OK": clients}


def test_function_failure_is_502_and_the_worker_is_replaced(api: Api) -> None:
    # Given a function process that dies mid-request
    crashed = requests.get(f"{api.base_url}/things/x", data="crash", timeout=10)

    # When the next request comes
    after = requests.get(f"{api.base_url}/things/x", timeout=10)

    # Then the crash was a 502 and a fresh execution environment serves the next one
    assert crashed.status_code == 502
    assert after.status_code == 200


def test_greedy_proxy_path(api: Api) -> None:
    # When calling below a {proxy+} resource
    response = requests.get(f"{api.base_url}/files/a/b/c.txt", timeout=10)

    # Then the whole rest of the path is the parameter
    assert response.json()["pathParameters"] == {"proxy": "a/b/c.txt"}
