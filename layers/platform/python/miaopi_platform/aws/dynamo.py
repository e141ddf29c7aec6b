"""DynamoDB plumbing shared by the adapters: item (de)serialization and error translation."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from miaopi_platform.aws.errors import DependencyUnavailable

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


def storable(value: Any) -> Any:
    """Plain JSON-able data as DynamoDB accepts it: floats become exact decimals."""
    return json.loads(json.dumps(value, default=str, ensure_ascii=False), parse_float=Decimal)


def to_item(document: dict[str, Any]) -> dict[str, Any]:
    return {k: _SERIALIZER.serialize(v) for k, v in storable(document).items() if v is not None}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
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


def unavailable(exc: ClientError | BotoCoreError, what: str) -> Exception:
    """503 for what a retry can cure; anything else is our bug, and stays a 500."""
    if isinstance(exc, BotoCoreError):
        return DependencyUnavailable(f"{what} is unavailable, try again shortly")
    code = exc.response.get("Error", {}).get("Code", "")
    if code in TRANSIENT:
        return DependencyUnavailable(f"{what} is unavailable, try again shortly", [{"code": code}])
    return exc
