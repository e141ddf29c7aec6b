"""Lambda event payloads shaped the way AWS sends them (REST API proxy, DynamoDB streams, SQS)."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

ACCOUNT_ID = "123456789012"


# ---------------------------------------------------------------- API Gateway (REST, v1)


def api_gateway_event(
    *,
    method: str,
    resource: str,
    path: str,
    headers: Sequence[tuple[str, str]] = (),
    query: Sequence[tuple[str, str]] = (),
    path_parameters: Mapping[str, str] | None = None,
    body: bytes | str | None = None,
    stage: str = "v1",
    source_ip: str = "127.0.0.1",
    authorizer: Mapping[str, Any] | None = None,
    api_id: str = "local",
    request_id: str | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """A REST API (v1) Lambda proxy integration event.

    `headers` and `query` are (name, value) pairs in request order; the single-value maps
    keep the last value, as API Gateway does. `authorizer` is what the API's Lambda authorizer
    answered: `principalId` and its `context`, each value a string as API Gateway passes them.
    """
    now = time.time() if now is None else now
    request_id = request_id or str(uuid.uuid4())
    single_headers: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    for name, value in headers:
        single_headers[name] = value
        multi_headers.setdefault(name, []).append(value)
    single_query: dict[str, str] = {}
    multi_query: dict[str, list[str]] = {}
    for name, value in query:
        single_query[name] = value
        multi_query.setdefault(name, []).append(value)

    body_text: str | None
    is_base64 = False
    if body is None or body in (b"", ""):
        body_text = None
    elif isinstance(body, bytes):
        try:
            body_text = body.decode("utf-8")
        except UnicodeDecodeError:
            body_text, is_base64 = base64.b64encode(body).decode("ascii"), True
    else:
        body_text = body

    user_agent = next((v for k, v in headers if k.lower() == "user-agent"), None)
    request_context: dict[str, Any] = {
        "resourceId": "local",
        "resourcePath": resource,
        "httpMethod": method,
        "extendedRequestId": request_id,
        "requestTime": datetime.fromtimestamp(now, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "path": f"/{stage}{path}" if stage else path,
        "accountId": ACCOUNT_ID,
        "protocol": "HTTP/1.1",
        "stage": stage,
        "domainPrefix": api_id,
        "requestTimeEpoch": int(now * 1000),
        "requestId": request_id,
        "identity": {
            "cognitoIdentityPoolId": None,
            "accountId": None,
            "cognitoIdentityId": None,
            "caller": None,
            "sourceIp": source_ip,
            "principalOrgId": None,
            "accessKey": None,
            "cognitoAuthenticationType": None,
            "cognitoAuthenticationProvider": None,
            "userArn": None,
            "userAgent": user_agent,
            "user": None,
        },
        "domainName": f"{api_id}.execute-api.localhost",
        "apiId": api_id,
    }
    if authorizer is not None:
        request_context["authorizer"] = {k: _context_str(v) for k, v in authorizer.items()}
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": single_headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": single_query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": dict(path_parameters) if path_parameters else None,
        "stageVariables": None,
        "requestContext": request_context,
        "body": body_text,
        "isBase64Encoded": is_base64,
    }


def _context_str(value: Any) -> str:
    """A Lambda authorizer's context value as a proxy integration gets it: a string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def authorizer_request_event(proxy_event: Mapping[str, Any], method_arn: str) -> dict[str, Any]:
    """The event a Lambda REQUEST authorizer gets for a request: the proxy event's request
    parts (headers, query, path parameters, context) without the body, and the method ARN."""
    event = {k: v for k, v in proxy_event.items() if k not in ("body", "isBase64Encoded")}
    return {"type": "REQUEST", "methodArn": method_arn, **event}


# ---------------------------------------------------------------- DynamoDB streams


def _jsonable(value: Any) -> Any:
    """boto3 gives B/BS as bytes; Lambda's JSON carries them base64-encoded."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return int(value.timestamp())
    return value


class WireRecord(dict[str, Any]):
    """A stream record as moto's GetRecords answer holds it: DynamoDB JSON already (binary in
    base64, ApproximateCreationDateTime in epoch seconds), nothing for `_jsonable` to convert."""


def dynamodb_stream_record(
    record: Mapping[str, Any], stream_arn: str, region: str
) -> dict[str, Any]:
    """One record from `get_records` (boto3's, or the wire's) as Lambda delivers it."""
    if isinstance(record, WireRecord):
        out = dict(record)
        change = dict(out["dynamodb"])
        created = change.get("ApproximateCreationDateTime")
        if isinstance(created, int | float):
            change["ApproximateCreationDateTime"] = int(created)  # whole seconds, as boto3's
        out["dynamodb"] = change
    else:
        out = _jsonable(dict(record))
    out.setdefault("eventVersion", "1.1")
    out.setdefault("eventSource", "aws:dynamodb")
    out["awsRegion"] = region
    out["eventSourceARN"] = stream_arn
    return dict(out)


def dynamodb_stream_event(
    records: Iterable[Mapping[str, Any]], stream_arn: str, region: str
) -> dict[str, Any]:
    return {"Records": [dynamodb_stream_record(r, stream_arn, region) for r in records]}


# ---------------------------------------------------------------- SQS


def _message_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": value.get("DataType"),
    }
    if "StringValue" in value:
        out["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        out["binaryValue"] = _jsonable(value["BinaryValue"])
    return out


def sqs_record(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One message from `receive_message` (AttributeNames/MessageAttributeNames All)."""
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": {
            name: _message_attribute(value)
            for name, value in (message.get("MessageAttributes") or {}).items()
        },
        "md5OfBody": message.get("MD5OfBody"),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def sqs_event(messages: Iterable[Mapping[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    return {"Records": [sqs_record(m, queue_arn, region) for m in messages]}
