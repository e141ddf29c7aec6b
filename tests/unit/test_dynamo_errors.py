"""One translation of DynamoDB's errors (aws/dynamo.py): what every store acts on."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from miaopi_platform.aws.dynamo import (
    ConditionFailed,
    TransactionConflicted,
    dynamodb_errors,
    translate,
)
from miaopi_platform.aws.errors import DependencyUnavailable


def _error(code: str, reasons: list[str] | None = None) -> ClientError:
    response: dict[str, Any] = {"Error": {"Code": code, "Message": "m"}}
    if reasons is not None:
        response["CancellationReasons"] = [{"Code": r} for r in reasons]
    return ClientError(response, "Op")  # type: ignore[arg-type]


def test_a_failed_condition_is_one_exception_for_single_writes_and_transactions() -> None:
    # Given a failed put and a cancelled transaction whose second item's condition failed
    single = _error("ConditionalCheckFailedException")
    transaction = _error("TransactionCanceledException", ["None", "ConditionalCheckFailed"])
    # When they are translated
    first, second = translate(single, "x"), translate(transaction, "x")
    # Then both are ConditionFailed, and the transaction says which item failed
    assert isinstance(first, ConditionFailed) and first.reasons == ()
    assert isinstance(second, ConditionFailed)
    assert second.reasons == ("None", "ConditionalCheckFailed")


def test_a_conflicting_transaction_is_a_503_a_retry_can_cure() -> None:
    # Given a transaction cancelled only because another one touched the same item
    exc = _error("TransactionCanceledException", ["TransactionConflict", "None"])
    # When translated
    translated = translate(exc, "the store")
    # Then the caller may retry it, and unhandled it answers 503 with Retry-After
    assert isinstance(translated, TransactionConflicted)
    assert isinstance(translated, DependencyUnavailable) and translated.status == 503


@pytest.mark.parametrize(
    "exc",
    [
        _error("ProvisionedThroughputExceededException"),
        _error("ThrottlingException"),
        _error("TransactionCanceledException", ["ThrottlingError"]),
        EndpointConnectionError(endpoint_url="http://127.0.0.1:9"),
    ],
)
def test_throttled_or_unreachable_is_dependency_unavailable(exc: Exception) -> None:
    # Given a throttled or unreachable DynamoDB
    # When a store's call fails with it
    with pytest.raises(DependencyUnavailable) as raised, dynamodb_errors("the store"):
        raise exc
    # Then the client is told 503 naming the store, never the request's values
    assert raised.value.status == 503
    assert "the store" in raised.value.message


def test_anything_else_is_our_bug_and_stays_itself() -> None:
    # Given a validation error (a malformed request we built)
    exc = _error("ValidationException")
    # When translated
    # Then it is not disguised as a 503: it surfaces as the 500 it is
    assert translate(exc, "x") is exc
