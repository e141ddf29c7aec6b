"""DynamoDB plumbing shared by the stores: item (de)serialization and the ONE translation of
DynamoDB's errors into what a store acts on:

- `ConditionFailed`: a write's condition did not hold (the item exists, changed, or is in another
  state); for a transaction, `reasons` holds each item's cancellation code in order.
- `TransactionConflicted`: another transaction touched an item at the same moment; a retry may
  go through (unhandled, it is a 503 with Retry-After).
- `DependencyUnavailable` (503): throttled, unavailable, unreachable or too slow for the
  invocation's time (`dependencies.unavailable`, which every AWS dependency shares).
- anything else is our bug and stays itself (a 500).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from miaopi_platform.aws.dependencies import unavailable
from miaopi_platform.aws.errors import DependencyUnavailable

if TYPE_CHECKING:  # the stubs are a development dependency only
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

#: an item or key in DynamoDB's JSON, as the low-level client reads and writes it
Item = dict[str, "AttributeValueTypeDef"]

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


def storable(value: Any) -> Any:
    """Plain JSON-able data as DynamoDB accepts it: floats become exact decimals."""
    return json.loads(json.dumps(value, default=str, ensure_ascii=False), parse_float=Decimal)


def to_item(document: Mapping[str, Any]) -> Item:
    return {k: _SERIALIZER.serialize(v) for k, v in storable(document).items() if v is not None}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """A stored item as plain data. Untyped: each store says what its table holds (a
    `records.items` TypedDict) where it reads one."""
    return {k: plain(_DESERIALIZER.deserialize(v)) for k, v in item.items()}


def plain(value: Any) -> Any:
    """Decimals back to int or float, as JSON and ZEN read them."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | set | tuple):
        return [plain(v) for v in value]
    return value


#: errors worth a retry: the client is told 503 with Retry-After
TRANSIENT = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionInProgressException",
    }
)
#: a cancelled transaction's per-item codes that a retry can cure
_TRANSIENT_REASONS = frozenset({"ThrottlingError", "ProvisionedThroughputExceeded"})
CONDITION_FAILED = "ConditionalCheckFailed"
TRANSACTION_CONFLICT = "TransactionConflict"


class ConditionFailed(Exception):
    """A write's condition did not hold. `reasons`: a transaction's per-item codes, in order."""

    def __init__(self, reasons: tuple[str, ...] = ()) -> None:
        super().__init__("condition failed")
        self.reasons = reasons


class TransactionConflicted(DependencyUnavailable):
    """Another transaction touched an item at the same moment: a retry may go through."""

    def __init__(self, what: str, reasons: tuple[str, ...]) -> None:
        super().__init__(f"{what} is busy, try again shortly", [{"code": TRANSACTION_CONFLICT}])
        self.reasons = reasons


def translate(exc: ClientError | BotoCoreError, what: str) -> Exception:
    """The one reading of a DynamoDB error; `what` names the store in a 503's message."""
    if isinstance(exc, BotoCoreError):
        return unavailable(exc, what) or exc
    code = exc.response.get("Error", {}).get("Code", "")
    if code == "ConditionalCheckFailedException":
        return ConditionFailed()
    if code == "TransactionCanceledException":
        reasons = tuple(
            str(r.get("Code") or "None") for r in exc.response.get("CancellationReasons") or []
        )
        if CONDITION_FAILED in reasons:
            return ConditionFailed(reasons)
        if TRANSACTION_CONFLICT in reasons:
            return TransactionConflicted(what, reasons)
        if _TRANSIENT_REASONS.intersection(reasons):
            return DependencyUnavailable(f"{what} is unavailable, try again shortly")
    if code in TRANSIENT:
        down = DependencyUnavailable(f"{what} is unavailable, try again shortly", [{"code": code}])
        down.outcome_unknown = bool(exc.response.get("ResponseMetadata", {}).get("RetryAttempts"))
        return down
    return unavailable(exc, what) or exc


@contextmanager
def dynamodb_errors(what: str) -> Iterator[None]:
    """Run DynamoDB calls with their errors translated (see the module's docstring)."""
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc, what) from None
