"""Calling AWS: clients whose calls end within the invocation's time, and the one reading of a
dependency that is slow, down or throttled.

botocore's defaults (a 60 s read timeout, then retries) outlive every function's timeout: a hung
DynamoDB ended in Lambda killing the function and API Gateway answering 502, with no Retry-After
and no word on whether anything had been written. Here an invocation's deadline is its context's
remaining time (so the function's `Timeout` in template.yaml is read, never written again), and
every client the wiring builds (`client`) gets

- connect and read timeouts that are shares of that timeout, and botocore's standard retries;
- a check before each attempt: an attempt that could end past the deadline, less a reserve for
  the longest retry backoff and the answer, is not sent but fails as `DeadlineReached`.

Every such failure (timeouts, refused connections, the deadline, throttling, a 5xx) reads as
`DependencyUnavailable` (`unavailable`): a 503 with Retry-After, and `outcome_unknown` when a
request may have reached the service without its answer coming back.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    ConnectTimeoutError,
    HTTPClientError,
    ReadTimeoutError,
)

from miaopi_platform.aws.errors import DependencyUnavailable

#: attempts per call (botocore's standard mode: exponential backoff with jitter between them)
ATTEMPTS = 3
#: standard mode's longest pause between attempts ATTEMPTS allows: 2 s after throttling
LONGEST_BACKOFF_S = 2.0
#: shares of the function's timeout: one attempt's connect and read timeouts, and the time kept
#: for answering once the last attempt has ended
CONNECT_SHARE, READ_SHARE, ANSWER_SHARE = 0.05, 0.2, 0.05
#: errors a retry may cure (any service); DynamoDB's own are read in dynamo.py
THROTTLED = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
    }
)


class HasRemainingTime(Protocol):
    """What this module reads of a Lambda context."""

    def get_remaining_time_in_millis(self) -> int: ...


@dataclass(frozen=True)
class Budget:
    """A function's time, shared out among its AWS calls (seconds)."""

    timeout_s: float

    @property
    def connect_s(self) -> float:
        return self.timeout_s * CONNECT_SHARE

    @property
    def read_s(self) -> float:
        return self.timeout_s * READ_SHARE

    @property
    def attempt_needs_s(self) -> float:
        """What must remain for an attempt to be sent: its longest run (connect, read), the
        longest backoff after it, and the answer."""
        return self.connect_s + self.read_s + LONGEST_BACKOFF_S + self.timeout_s * ANSWER_SHARE

    def config(self) -> Config:
        return Config(
            connect_timeout=self.connect_s,
            read_timeout=self.read_s,
            retries={"mode": "standard", "total_max_attempts": ATTEMPTS},
        )


class DeadlineReached(BotoCoreError):
    """An attempt not sent: it could have ended after the invocation's deadline."""

    fmt = "attempt {attempt} not sent: {remaining_s:.2f} s left, an attempt needs {needs_s:.2f} s"

    @property
    def attempt(self) -> int:
        return int(self.kwargs["attempt"])


class Invocation:
    """The running invocation's deadline: one per execution environment, which runs one
    invocation at a time. Outside an invocation (scripts, tests that call stores) there is none."""

    def __init__(self) -> None:
        self._ends_at: float | None = None
        self.budget: Budget | None = None

    @contextmanager
    def running(self, context: HasRemainingTime | None) -> Iterator[None]:
        """The deadline of an invocation with this Lambda context, while it runs."""
        remaining = _remaining_s(context)
        if remaining is None:
            yield
            return
        outer, self._ends_at = self._ends_at, time.monotonic() + remaining
        self.budget = self.budget or Budget(remaining)
        try:
            yield
        finally:
            self._ends_at = outer

    def remaining_s(self) -> float | None:
        return None if self._ends_at is None else self._ends_at - time.monotonic()

    def client(self, service: str, **kwargs: Any) -> Any:
        """A boto3 client whose calls end within this invocation's deadline (module docstring);
        its timeouts are shares of the first invocation's time, the function's timeout."""
        budget = self.budget
        if budget is None:  # not in an invocation: botocore's defaults, no deadline
            return boto3.client(service, **kwargs)  # type: ignore[call-overload]
        made = boto3.client(service, config=budget.config(), **kwargs)  # type: ignore[call-overload]
        made.meta.events.register("before-send", partial(self._within_deadline, budget))
        return made

    def _within_deadline(self, budget: Budget, request: Any, **_: Any) -> None:
        remaining = self.remaining_s()
        if remaining is not None and remaining < budget.attempt_needs_s:
            found = _ATTEMPT.search(str(request.headers.get("amz-sdk-request", "")))
            raise DeadlineReached(
                attempt=int(found.group(1)) if found else 1,
                remaining_s=max(remaining, 0.0),
                needs_s=budget.attempt_needs_s,
            )


_ATTEMPT = re.compile(r"attempt=(\d+)")

#: the one invocation of this execution environment (make_resolver and batch_handler run it)
invocation = Invocation()


def client(service: str) -> Any:
    """A boto3 client of this execution environment (`Invocation.client`)."""
    return invocation.client(service)


def _remaining_s(context: HasRemainingTime | None) -> float | None:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return remaining() / 1000 if callable(remaining) else None


def unavailable(exc: ClientError | BotoCoreError, what: str) -> DependencyUnavailable | None:
    """The dependency is slow, down or throttled (a 503), or None: the error is something else.
    `what` names the dependency in the message."""
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code not in THROTTLED and status < 500:
            return None
        down = DependencyUnavailable(
            f"{what} is unavailable, try again shortly", [{"code": code or str(status)}]
        )
        # the last attempt was answered; earlier ones (retried) may have been lost
        down.outcome_unknown = bool(exc.response.get("ResponseMetadata", {}).get("RetryAttempts"))
        return down
    if isinstance(exc, DeadlineReached | ReadTimeoutError | ConnectTimeoutError):
        cause = "timeout"
    elif isinstance(exc, ConnectionError | HTTPClientError):
        cause = "unreachable"
    else:
        cause = "unavailable"
    down = DependencyUnavailable(f"{what} is unavailable, try again shortly", [{"code": cause}])
    # Sent and unanswered, or retried after such an attempt: unless no attempt was ever sent.
    down.outcome_unknown = not (isinstance(exc, DeadlineReached) and exc.attempt == 1)
    return down


@contextmanager
def dependency_errors(what: str) -> Iterator[None]:
    """Run AWS calls whose unavailability is a 503 (`unavailable`); other errors stay."""
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        down = unavailable(exc, what)
        if down is None:
            raise
        raise down from None
