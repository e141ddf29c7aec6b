"""AWS calls within the invocation's time (aws/dependencies.py), and what a dependency that is
slow, down or throttled reads as: a 503 that knows whether a request may have been applied."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from miaopi_platform.aws.dependencies import DeadlineReached, Invocation, unavailable
from miaopi_platform.aws.errors import DependencyUnavailable
from miaopi_platform.aws.settings import Settings
from miaopi_platform.wiring import Dependencies


class Context:
    """A Lambda context with this much time left."""

    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


class HungEndpoint:
    """Accepts connections and never answers; counts them."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def hung(monkeypatch: pytest.MonkeyPatch) -> Iterator[HungEndpoint]:
    endpoint = HungEndpoint()
    for name, value in {
        "AWS_ENDPOINT_URL": endpoint.url,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(name, value)
    yield endpoint
    endpoint.close()


def get_item(client: Any) -> None:
    client.get_item(TableName="applications", Key={"applicationId": {"S": "APP1"}})


def test_an_attempt_that_could_outlive_the_invocation_is_not_sent(hung: HungEndpoint) -> None:
    # Given a function with a 10 s timeout whose invocation has 3 s left
    invocation = Invocation()
    with invocation.running(Context(10_000)):
        client = invocation.client("dynamodb")
    with invocation.running(Context(3_000)), pytest.raises(DeadlineReached) as raised:
        # When it calls DynamoDB
        get_item(client)

    # Then nothing is sent, and the 503 it reads as knows that nothing was applied
    assert hung.accepted == []
    down = unavailable(raised.value, "the store")
    assert isinstance(down, DependencyUnavailable)
    assert down.details == [{"code": "timeout"}]
    assert down.outcome_unknown is False


def test_a_hung_dependency_is_given_up_before_the_deadline_and_its_outcome_is_unknown(
    hung: HungEndpoint,
) -> None:
    # Given a function with a 10 s timeout, an invocation with just enough time left for one
    # attempt, and a DynamoDB that takes requests and never answers
    invocation = Invocation()
    with invocation.running(Context(10_000)):
        client = invocation.client("dynamodb")
        budget = invocation.budget
    assert budget is not None
    remaining_ms = int((budget.attempt_needs_s + 0.3) * 1000)

    # When it calls DynamoDB
    with invocation.running(Context(remaining_ms)), pytest.raises(DeadlineReached) as raised:
        get_item(client)

    # Then the first attempt is sent and times out, the retry is not sent (it could end after
    # the deadline), and the outcome of what was sent is unknown
    assert len(hung.accepted) == 1
    assert raised.value.attempt == 2
    down = unavailable(raised.value, "the store")
    assert down is not None and down.outcome_unknown is True


def _client_error(code: str, status: int, retries: int = 0) -> ClientError:
    response: dict[str, Any] = {
        "Error": {"Code": code, "Message": "m"},
        "ResponseMetadata": {"HTTPStatusCode": status, "RetryAttempts": retries},
    }
    return ClientError(response, "Op")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("exc", "code", "outcome_unknown"),
    [
        (_client_error("ThrottlingException", 400), "ThrottlingException", False),
        (_client_error("ThrottlingException", 400, retries=2), "ThrottlingException", True),
        (_client_error("InternalServiceError", 500), "InternalServiceError", False),
        (ReadTimeoutError(endpoint_url="http://x"), "timeout", True),
        (EndpointConnectionError(endpoint_url="http://x"), "unreachable", True),
        (DeadlineReached(attempt=1, remaining_s=1.0, needs_s=5.0), "timeout", False),
        (DeadlineReached(attempt=3, remaining_s=1.0, needs_s=5.0), "timeout", True),
    ],
)
def test_slow_down_or_throttled_is_a_503_that_knows_what_may_have_been_applied(
    exc: Exception, code: str, outcome_unknown: bool
) -> None:
    # Given a call that failed this way
    # When it is read
    down = unavailable(exc, "the key store")  # type: ignore[arg-type]

    # Then it is a 503 naming the dependency, with the cause, and whether an attempt may have
    # been applied without its answer coming back (a timeout, or a retry after one)
    assert isinstance(down, DependencyUnavailable) and down.status == 503
    assert "the key store" in down.message
    assert down.details == [{"code": code}]
    assert down.outcome_unknown is outcome_unknown


def test_a_request_the_dependency_refuses_is_our_bug_not_a_503() -> None:
    # Given a request the service refused as malformed or forbidden
    for exc in (_client_error("ValidationException", 400), _client_error("AccessDenied", 403)):
        # When it is read
        # Then it is not disguised as a 503
        assert unavailable(exc, "x") is None


class FlakySecrets:
    """Secrets Manager that is unreachable for the first `failures` calls."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def get_secret_value(self, SecretId: str) -> dict[str, str]:
        self.calls += 1
        if self.calls <= self.failures:
            raise EndpointConnectionError(endpoint_url="https://secretsmanager")
        return {"SecretString": "k" * 64}


def test_an_unreachable_key_store_is_a_503_and_the_next_request_fetches_the_key_again() -> None:
    # Given a new execution environment whose key store does not answer at first
    settings = Settings.from_env(
        {
            "APPLICATIONS_TABLE": "a",
            "DECISIONS_TABLE": "d",
            "REFERENCE_TABLE": "r",
            "CREDIT_LIST_TABLE": "c",
            "GRANTS_TABLE": "g",
            "PII_KEY_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:k",
        }
    )
    secrets = FlakySecrets(failures=1)
    deps = Dependencies(settings, secrets=secrets)

    # When the first request needs the key
    with pytest.raises(DependencyUnavailable) as raised:
        _ = deps.hasher

    # Then it is a 503 naming the key store, and the next request fetches it and is served
    assert raised.value.status == 503 and "key store" in raised.value.message
    assert deps.hasher.digest("x") == deps.hasher.digest("x")
    assert secrets.calls == 2
