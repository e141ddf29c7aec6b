"""The Lambda authorizer answers API Gateway in the shape it expects: a principal, a policy for
the stage in the ARN's own partition, and the identity as flat strings; every refusal is the
exact "Unauthorized" that API Gateway turns into 401. Personal data reaches neither the answer
nor the logs."""

from __future__ import annotations

import importlib.util
import io
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from miaopi_platform.aws.errors import DependencyUnavailable
from miaopi_platform.identity.authorizer import (
    UNAUTHORIZED,
    UNAVAILABLE,
    authorize,
    bearer_token,
    stage_resource,
)
from miaopi_platform.identity.errors import KEYS_UNAVAILABLE, InvalidToken
from miaopi_platform.identity.token import TokenVerifier

from .conftest import HASHER, ID_NUMBER, METHOD_ARN, NAME, Issuer

APP = Path(__file__).resolve().parents[3] / "functions/authorizer/app.py"


def request(token: str | None, method_arn: str = METHOD_ARN) -> dict[str, Any]:
    """A REQUEST authorizer event as API Gateway sends it (REST API, proxy resource)."""
    headers = {"Host": "a1b2c3.execute-api.cn-north-1.amazonaws.com.cn"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return {
        "type": "REQUEST",
        "methodArn": method_arn,
        "resource": "/services/{serviceId}/applications",
        "path": "/services/x/applications",
        "httpMethod": "POST",
        "headers": headers,
        "requestContext": {"stage": "v1", "accountId": "123456789012", "apiId": "a1b2c3"},
    }


def test_a_valid_token_gets_the_shape_api_gateway_expects(
    issuer: Issuer, verifier: TokenVerifier
) -> None:
    # Given a reviewer's valid token on a request to one method
    token = issuer.mint(sub="u-7", acr="L3", roles=["reviewer:market-regulation"])

    # When the authorizer answers
    response = authorize(request(token), lambda: verifier)

    # Then: the principal, an Allow for every method of the stage in the aws-cn partition,
    # and the identity as a flat map of strings
    assert response == {
        "principalId": "u-7",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Action": "execute-api:Invoke",
                    "Effect": "Allow",
                    "Resource": "arn:aws-cn:execute-api:cn-north-1:123456789012:a1b2c3/v1/*",
                }
            ],
        },
        "context": {
            "subjectType": "PERSON",
            "subjectIdHash": HASHER.digest(ID_NUMBER),
            "assurance": "L3",
            "roles": "reviewer:market-regulation",
        },
    }
    assert all(isinstance(value, str) for value in response["context"].values())


@pytest.mark.parametrize(
    ("method_arn", "resource"),
    [
        (
            "arn:aws:execute-api:ap-east-1:123456789012:abc123/prod/GET/applications",
            "arn:aws:execute-api:ap-east-1:123456789012:abc123/prod/*",
        ),
        (
            "arn:aws-cn:execute-api:cn-northwest-1:123456789012:abc123/v1/POST/reviews/T1/decision",
            "arn:aws-cn:execute-api:cn-northwest-1:123456789012:abc123/v1/*",
        ),
        (
            "arn:aws:execute-api:eu-west-1:123456789012:abc123/v1/GET/",
            "arn:aws:execute-api:eu-west-1:123456789012:abc123/v1/*",
        ),
    ],
    ids=["aws", "aws-cn", "root-path"],
)
def test_the_policy_covers_the_stage_in_the_arns_own_partition(
    method_arn: str, resource: str
) -> None:
    # Given a method ARN of either partition
    # When the policy's resource is built, then it is the ARN's stage, every method
    assert stage_resource(method_arn) == resource


@pytest.mark.parametrize(
    "method_arn", ["", "arn:aws:s3:::bucket/key", "arn:aws:execute-api:r:1:api", "not an arn"]
)
def test_a_method_arn_that_is_not_execute_apis_is_an_error(method_arn: str) -> None:
    # Given something that is not an execute-api method ARN
    # When the policy's resource is built, then it is refused rather than guessed
    with pytest.raises(ValueError, match="method ARN"):
        stage_resource(method_arn)


@pytest.mark.parametrize(
    ("headers", "token"),
    [
        ({"Authorization": "Bearer abc.def.ghi"}, "abc.def.ghi"),
        ({"authorization": "bearer  abc.def.ghi "}, "abc.def.ghi"),
    ],
)
def test_the_bearer_token_is_read_from_the_header_in_any_case(
    headers: dict[str, str], token: str
) -> None:
    # Given an Authorization header, names and scheme in any case
    # When the token is read, then it is the token
    assert bearer_token(headers) == token


@pytest.mark.parametrize(
    "headers",
    [None, {}, {"Authorization": ""}, {"Authorization": "Basic dXNlcjpwYXNz"},
     {"Authorization": "Bearer"}, {"Authorization": "Bearer a b"}],
)  # fmt: skip
def test_no_bearer_token_is_a_refusal(headers: dict[str, str] | None) -> None:
    # Given a request without a usable bearer token
    # When the token is read, then it is refused as missing
    with pytest.raises(InvalidToken) as caught:
        bearer_token(headers)
    assert caught.value.reason == "missing"


@pytest.mark.parametrize(
    "event",
    [
        request(None),
        request("not-a-token"),
        {"type": "REQUEST", "headers": {"Authorization": "Bearer x"}},
    ],
    ids=["no-token", "bad-token", "no-method-arn"],
)
def test_every_refusal_is_the_exact_unauthorized_api_gateway_turns_into_401(
    verifier: TokenVerifier, event: dict[str, Any]
) -> None:
    # Given a request the authorizer cannot allow
    # When it answers, then it raises exactly "Unauthorized"
    with pytest.raises(Exception, match=f"^{UNAUTHORIZED}$"):
        authorize(event, lambda: verifier)


def test_a_verifier_that_cannot_be_built_is_unauthorized_too() -> None:
    # Given a verifier whose settings are missing (a misconfigured function)
    def broken() -> TokenVerifier:
        raise KeyError("OIDC_ISSUER")

    # When a request comes, then it is refused like a bad token
    with pytest.raises(Exception, match=f"^{UNAUTHORIZED}$"):
        authorize(request("x.y.z"), broken)


def test_a_key_store_that_does_not_answer_is_a_failure_to_retry_not_a_401() -> None:
    # Given a verifier that cannot be built because the PII key store does not answer
    def key_store_down() -> TokenVerifier:
        raise DependencyUnavailable("the key store is unavailable", [{"code": "unavailable"}])

    # When a request comes, then the authorizer fails with another message than Unauthorized
    # (API Gateway's AUTHORIZER_FAILURE, which the template answers 503 with Retry-After)
    with pytest.raises(Exception, match=f"^{UNAVAILABLE}$"):
        authorize(request("x.y.z"), key_store_down)


def test_signing_keys_that_cannot_be_fetched_are_a_failure_to_retry_not_a_401() -> None:
    # Given the issuer's signing keys unavailable (the JWKS could not be fetched)
    class KeysDown:
        def verify(self, token: str) -> Any:
            raise InvalidToken(KEYS_UNAVAILABLE, "the issuer's signing keys are unavailable")

    # When a request comes, then the authorizer fails to retry
    with pytest.raises(Exception, match=f"^{UNAVAILABLE}$"):
        authorize(request("x.y.z"), lambda: KeysDown())


def test_the_id_number_and_the_name_never_reach_the_answer_or_the_logs(
    issuer: Issuer, verifier: TokenVerifier, logs: io.StringIO
) -> None:
    # Given a valid token, an expired one and one with a wrong check digit, for the same person
    wrong = ID_NUMBER[:-1] + "5"
    good = issuer.mint()
    expired = issuer.mint(exp=1_000_000_000, iat=999_999_000)
    bad_number = issuer.mint(id_number=wrong)

    # When the authorizer answers each
    answer = authorize(request(good), lambda: verifier)
    for token in (expired, bad_number):
        with pytest.raises(Exception, match=UNAUTHORIZED):
            authorize(request(token), lambda: verifier)

    # Then the logs say what happened, by reason ...
    lines = [json.loads(line) for line in logs.getvalue().splitlines()]
    assert [line["message"] for line in lines] == [
        "token accepted",
        "token refused",
        "token refused",
    ]
    assert [line.get("reason") for line in lines[1:]] == ["expired", "invalid_claim"]
    # ... and neither they nor the answer hold the number, the name or a token
    shipped = logs.getvalue() + json.dumps(answer, ensure_ascii=False)
    for secret in (ID_NUMBER, wrong, NAME, good, expired, bad_number):
        assert secret not in shipped
    assert not re.search(r"\d{17}[\dX]", shipped)


def _load_app() -> ModuleType:
    spec = importlib.util.spec_from_file_location("authorizer_app", APP)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Context:
    function_name = "AuthorizerFunction"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws-cn:lambda:cn-north-1:123456789012:function:authorizer"
    aws_request_id = "00000000-0000-0000-0000-000000000000"


def test_the_handler_answers_api_gateway_with_the_verifier_it_builds(
    issuer: Issuer, verifier: TokenVerifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the authorizer function, whose verifier is the test issuer's
    app = _load_app()
    monkeypatch.setattr(app, "verifier", lambda: verifier)

    # When API Gateway invokes it with a good token and with none
    allowed = app.lambda_handler(request(issuer.mint(sub="u-9")), _Context())
    with pytest.raises(Exception, match=f"^{UNAUTHORIZED}$"):
        app.lambda_handler(request(None), _Context())

    # Then the good token is allowed as the subject
    assert allowed["principalId"] == "u-9"
    assert allowed["policyDocument"]["Statement"][0]["Effect"] == "Allow"
