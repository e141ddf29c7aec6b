"""The local API gateway: template routes, precedence, the Lambda authorizers (the real one with
the local identity provider, and a stub), limits, errors."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import os
import signal
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
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from miaopi_platform.privacy.pii import PiiHasher
from moto.server import ThreadedMotoServer

from infra.local.deploy import AwsClients, Deployment, deploy
from infra.local.gateway import Gateway
from infra.local.idp import IdentityProvider, Issuer, LocalIdentity, SigningKey
from infra.local.runtime import Runtime, _Worker
from infra.local.stack import free_port
from infra.local.template import LocalTemplate

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "local_stack"
ID_NUMBER = "11010519491231002X"  # GB 11643's own example: a valid check digit
STAFF = LocalIdentity.person(ID_NUMBER, "张三丰", roles=("reviewer:transport", "auditor:*"))
UNAUTHORIZED = {"error": {"code": "UNAUTHORIZED", "message": "Unauthorized", "details": []}}


@dataclass
class Api:
    base_url: str
    gateway: Gateway
    deployment: Deployment
    issuer: Issuer
    clients: AwsClients
    token: str


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    runtime = None
    try:
        with IdentityProvider(tmp_path_factory.mktemp("idp")) as idp:
            clients = AwsClients.create(endpoint, "us-east-1")
            template = LocalTemplate.load(FIXTURES / "gateway.yaml")
            parameters = idp.parameters(template)
            deployment = deploy(template, clients, stack_name="gateway-test", parameters=parameters)
            runtime = Runtime(deployment.functions, endpoint_url=endpoint, region="us-east-1")
            with Gateway.from_deployment(deployment, runtime, port=0) as gateway:
                token = idp.issuer.mint(STAFF)
                yield Api(gateway.base_url, gateway, deployment, idp.issuer, clients, token)
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
        f"{api.base_url}/things/special/items", headers=bearer(api.token), data="{}", timeout=10
    )
    other = requests.post(
        f"{api.base_url}/things/other/items", headers=bearer(api.token), timeout=10
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


def test_the_identity_context_reaches_the_function_and_no_personal_data_does(api: Api) -> None:
    # Given a staff member's token from the local identity provider
    # When calling a route behind the real authorizer
    response = requests.post(
        f"{api.base_url}/things/x/items", headers=bearer(api.token), timeout=30
    )

    # Then the function gets the principal and the identity context, every value a string
    assert response.status_code == 200, response.text
    context = response.json()["authorizer"]
    secret = api.clients.secretsmanager.get_secret_value(
        SecretId=api.deployment.secrets["PiiHashKeySecret"]
    )["SecretString"]
    assert context == {
        "principalId": api.issuer.subject_id(STAFF),
        "subjectType": "PERSON",
        "subjectIdHash": PiiHasher(secret.encode()).digest(ID_NUMBER),
        "assurance": "L3",
        "roles": "auditor:* reviewer:transport",
    }
    # And neither the ID number nor the name reaches it
    assert ID_NUMBER not in response.text and "张三丰" not in response.text


def test_proxy_response_and_query_pass_through(api: Api) -> None:
    # When calling a public route with a query string
    response = requests.get(f"{api.base_url}/things/t1?a=1&a=2&b=", timeout=10)

    # Then the proxy event had the last value per name, and the headers came back
    assert response.status_code == 200
    assert response.json()["queryStringParameters"] == {"a": "2", "b": ""}
    assert response.json()["authorizer"] is None
    assert response.headers["X-Echo"] == "a, b"
    assert response.headers["x-amzn-RequestId"]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256(claims: dict[str, Any], issuer: Issuer) -> str:
    """HS256 signed with the issuer's public key as the secret (the classic confusion), put
    together by hand: no library makes it."""
    public_pem = issuer.key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "kid": issuer.key.kid, "typ": "JWT"}
    signed = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    signature = hmac.new(public_pem, signed.encode(), hashlib.sha256).digest()
    return f"{signed}.{b64url(signature)}"


def bad_tokens(api: Api) -> dict[str, dict[str, str]]:
    """One token for each way a token can be wrong."""
    issuer = api.issuer
    claims = issuer.claims(STAFF)
    header = {"alg": "RS256", "kid": issuer.key.kid, "typ": "JWT"}
    other_key = SigningKey(rsa.generate_private_key(public_exponent=65537, key_size=2048), "x")
    head, body, signature = issuer.mint(STAFF).split(".")
    tampered = json.loads(base64.urlsafe_b64decode(body + "=="))
    tampered["roles"] = ["admin:*"]
    return {
        "missing": {},
        "not bearer": {"Authorization": f"Basic {api.token}"},
        "garbage": bearer("not-a-jwt"),
        "expired": bearer(
            issuer.mint(STAFF, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)
        ),
        "wrong issuer": bearer(issuer.mint(STAFF, iss="https://sso.example.gov.cn/oidc")),
        "wrong audience": bearer(issuer.mint(STAFF, aud="another-client")),
        "another key": bearer(
            jwt.encode(
                claims, other_key.private_key, algorithm="RS256", headers={"kid": issuer.key.kid}
            )
        ),
        "alg none": bearer(
            f"{b64url(json.dumps({**header, 'alg': 'none'}).encode())}."
            f"{b64url(json.dumps(claims).encode())}."
        ),
        "hs256 with the public key": bearer(hs256(claims, issuer)),
        "tampered": bearer(f"{head}.{b64url(json.dumps(tampered).encode())}.{signature}"),
        "no id number": bearer(issuer.mint(STAFF, id_number=None)),
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing",
        "not bearer",
        "garbage",
        "expired",
        "wrong issuer",
        "wrong audience",
        "another key",
        "alg none",
        "hs256 with the public key",
        "tampered",
        "no id number",
    ],
)
def test_a_bad_or_missing_token_is_401_and_the_function_is_not_invoked(api: Api, case: str) -> None:
    # Given a token the authorizer must refuse
    headers = bad_tokens(api)[case]

    # When calling a route behind it (with a body on which the function would crash)
    response = requests.post(
        f"{api.base_url}/things/x/items", headers=headers, data="crash", timeout=30
    )

    # Then 401 in the API's error format (the gateway responses of the template), and the
    # function never ran
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED
    assert "x-amzn-RequestId" not in response.headers


def stub(api: Api, token: str, method: str = "GET", thing: str = "x") -> requests.Response:
    return requests.request(
        method, f"{api.base_url}/stubbed/{thing}", headers=bearer(token), timeout=30
    )


def test_the_authorizer_gets_a_request_event_with_the_method_arn(api: Api) -> None:
    # When calling a route behind the stub authorizer
    response = stub(api, "allow", thing="arn-1")

    # Then it was called with a REQUEST event without the body, and the request's method ARN
    # in the stack's partition, region and account; its context reached the function as strings
    assert response.status_code == 200, response.text
    context = response.json()["authorizer"]
    assert context["type"] == "REQUEST"
    assert context["hasBody"] == "false" and context["flag"] == "true"
    assert context["methodArn"] == (
        "arn:aws:execute-api:us-east-1:123456789012:local/v1/GET/stubbed/arn-1"
    )
    assert context["principalId"] == "principal-allow"


def test_an_answer_is_cached_per_token_for_the_template_s_ttl(api: Api) -> None:
    # Given a token the stub authorizer allowed once
    first = stub(api, "allow", thing="a").json()["authorizer"]["calls"]

    # When it is used again at once, and again after the TTL (2 s in the fixture) has passed
    again = stub(api, "allow", thing="b").json()["authorizer"]["calls"]
    api.gateway.authorizers.clock = lambda: time.monotonic() + 3  # type: ignore[union-attr]
    try:
        later = stub(api, "allow", thing="c").json()["authorizer"]["calls"]
    finally:
        api.gateway.authorizers.clock = time.monotonic  # type: ignore[union-attr]

    # Then the second request got the cached answer; the third called the authorizer again
    assert again == first
    assert int(later) > int(first)


def test_requests_with_one_new_token_at_once_make_one_authorizer_call(api: Api) -> None:
    # Given a token the authorizer has not seen, and its calls so far
    assert api.gateway.authorizers is not None
    before = api.gateway.authorizers.calls["StubAuthorizer"]
    start = threading.Barrier(8)

    def one(n: int) -> int:
        start.wait()
        return stub(api, "allow-burst", thing=f"burst-{n}").status_code

    # When eight requests bring it at the same instant
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(one, range(8)))

    # Then all are let in, on one answer of the authorizer
    assert statuses == [200] * 8
    assert api.gateway.authorizers.calls["StubAuthorizer"] == before + 1


def test_a_policy_is_evaluated_for_each_method_and_a_deny_is_403(api: Api) -> None:
    # Given tokens the stub answers with a Deny, and with an Allow of GET only
    # When calling with them
    denied = stub(api, "deny")
    get = stub(api, "other-method")
    post = stub(api, "other-method", method="POST")

    # Then a Deny is 403, and the cached GET-only policy allows the GET, not the POST
    assert denied.status_code == 403
    assert denied.json()["error"] == {
        "code": "ACCESS_DENIED",
        "message": "User is not authorized to access this resource with an explicit deny",
        "details": [],
    }
    assert get.status_code == 200
    assert post.status_code == 403
    assert post.json()["error"]["code"] == "ACCESS_DENIED"


def test_an_authorizer_with_a_malformed_answer_is_a_500_in_the_error_format(api: Api) -> None:
    # When the stub authorizer answers without a policy
    response = stub(api, "malformed")

    # Then API Gateway's 500, in the API's error format
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "AUTHORIZER_CONFIGURATION_ERROR"


def test_an_authorizer_that_fails_is_answered_as_the_template_says(api: Api) -> None:
    # When the stub authorizer raises something else than Unauthorized (its key store down)
    response = stub(api, "fail")

    # Then the template's AUTHORIZER_FAILURE response: its status, header and body
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert response.json()["error"]["code"] == "SERVICE_UNAVAILABLE"


def test_no_identity_header_is_401_without_calling_the_authorizer(api: Api) -> None:
    # Given the stub's calls so far
    assert api.gateway.authorizers is not None
    before = api.gateway.authorizers.calls["StubAuthorizer"]

    # When a request comes without the Authorization header
    response = requests.get(f"{api.base_url}/stubbed/x", timeout=30)

    # Then 401, and the authorizer was not asked
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED
    assert api.gateway.authorizers.calls["StubAuthorizer"] == before


def test_body_over_10_mb_is_413(api: Api) -> None:
    # Given a request announcing a body over API Gateway's 10 MB limit
    conn = http.client.HTTPConnection("127.0.0.1", api.gateway.port, timeout=10)
    conn.putrequest("POST", "/v1/things/special/items")
    conn.putheader("Authorization", f"Bearer {api.token}")
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


def test_a_worker_that_died_while_idle_is_replaced_before_it_gets_a_request(api: Api) -> None:
    # Given a warm function whose idle execution environment is then killed (kill -9, OOM)
    first = requests.get(f"{api.base_url}/things/x", timeout=10)
    os.kill(first.json()["pid"], signal.SIGKILL)
    time.sleep(0.2)

    # When the next request comes
    after = requests.get(f"{api.base_url}/things/x", timeout=10)

    # Then a fresh environment answers it: no 502 for a worker that was already gone
    assert after.status_code == 200, after.text
    assert after.json()["pid"] != first.json()["pid"]


def test_recycling_lets_the_invocation_in_flight_finish_and_the_next_starts_cold(
    api: Api,
) -> None:
    # Given a function answering a slow request
    runtime = api.gateway.runtime
    event = {"httpMethod": "GET", "path": "/things/x", "body": "sleep:1.5", "requestContext": {}}
    with ThreadPoolExecutor(max_workers=1) as pool:
        slow = pool.submit(runtime.invoke, "GenericFunction", event)
        time.sleep(0.5)

        # When every execution environment is recycled under it (a benchmark's cold starts)
        runtime.recycle()
        result = slow.result()

    # Then the one in flight is answered, and the next starts a fresh environment
    assert result.ok
    again = runtime.invoke("GenericFunction", {**event, "body": ""})
    assert again.ok and again.cold_start
    assert json.loads(again.payload["body"])["pid"] != json.loads(result.payload["body"])["pid"]


def test_an_environment_closed_under_an_invocation_is_a_failed_invocation(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an environment whose pipes close as it is handed a request (stopped meanwhile)
    def closed(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("write to closed file")

    runtime = api.gateway.runtime
    runtime.invoke("GenericFunction", {"httpMethod": "GET", "requestContext": {}})  # warm
    monkeypatch.setattr(_Worker, "invoke", closed)

    # When it is invoked
    result = runtime.invoke("GenericFunction", {"httpMethod": "GET", "requestContext": {}})

    # Then the invocation failed, as Lambda reports it (a poller retries it), nothing raised
    assert result.error is not None and result.error["errorType"] == "Runtime.ExitError"


def test_a_stopping_gateway_answers_what_is_in_flight_and_503s_what_is_new(api: Api) -> None:
    # Given a gateway of its own over the same functions, answering a slow request
    gateway = Gateway.from_deployment(api.deployment, api.gateway.runtime, port=0).start()
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            slow = pool.submit(
                requests.get, f"{gateway.base_url}/things/x", data="sleep:1.5", timeout=20
            )
            time.sleep(0.5)

            # When it is told to stop taking requests (make run's Ctrl-C), and one more comes
            drained = pool.submit(gateway.drain, 15.0)
            time.sleep(0.2)
            late = requests.get(f"{gateway.base_url}/things/x", timeout=10)

            # Then the late one is a 503 that says when to retry and closes the connection,
            # and the one in flight is answered before the drain ends
            assert late.status_code == 503
            assert late.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
            assert late.headers["Retry-After"] == "5"
            assert late.headers["Connection"].lower() == "close"
            assert slow.result().status_code == 200
            assert drained.result() == 0
    finally:
        gateway.stop()


def test_greedy_proxy_path(api: Api) -> None:
    # When calling below a {proxy+} resource
    response = requests.get(f"{api.base_url}/files/a/b/c.txt", timeout=10)

    # Then the whole rest of the path is the parameter
    assert response.json()["pathParameters"] == {"proxy": "a/b/c.txt"}
