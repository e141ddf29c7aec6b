"""Opaque page tokens for DynamoDB queries: the last evaluated key, checked on the way back.

A token only ever starts the query it came from: it must have exactly that index's key names,
string values, and the same partition the caller is querying; anything else (a token that nests
deeper than a start key does, too) is a 400.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from miaopi_platform.aws.dynamo import Item, dynamodb_errors, from_item
from miaopi_platform.aws.errors import BadRequest
from miaopi_platform.aws.json_input import loads

#: a start key's nesting: {name: {"S": value}}
_TOKEN_DEPTH = 2


def encode_token(key: Mapping[str, Any] | None) -> str | None:
    if not key:
        return None
    return base64.urlsafe_b64encode(json.dumps(key, sort_keys=True).encode()).decode().rstrip("=")


def decode_token(token: str, keys: frozenset[str], partition: Mapping[str, str]) -> Item:
    """The start key of a page of the query on `partition` (name -> value), or a 400."""
    invalid = BadRequest("nextToken is not valid", [{"field": "nextToken", "code": "invalid"}])
    try:
        padded = token + "=" * (-len(token) % 4)
        value = loads(base64.urlsafe_b64decode(padded.encode()), _TOKEN_DEPTH)
    except (binascii.Error, ValueError):  # UnicodeDecodeError and TooDeep too
        raise invalid from None
    if not (
        isinstance(value, dict)
        and set(value) == keys
        and all(
            isinstance(v, dict) and set(v) == {"S"} and isinstance(v["S"], str)
            for v in value.values()
        )
        and all(value[name]["S"] == expected for name, expected in partition.items())
    ):
        raise invalid
    return value


def newest_of[T](
    parts: Iterable[tuple[list[T], bool]],
    identity: Callable[[T], str],
    position: Callable[[T], Any],
    limit: int,
) -> tuple[list[T], bool]:
    """One page, newest first, of items queried from several indexes (each part: up to `limit`
    items older than the cursor, and whether its partition has no more). An item found in two
    indexes is listed once. (The page, whether more follow it.)"""
    found: dict[str, T] = {}
    more = False
    for items, exhausted in parts:
        more = more or not exhausted
        found.update((identity(item), item) for item in items)
    ordered = sorted(found.values(), key=position, reverse=True)
    page = ordered[:limit]
    return page, bool(page) and (more or len(ordered) > limit)


def partition_page(
    client: Any,
    query: Any,
    limit: int,
    what: str,
    keep: Callable[[Any], bool] | None = None,
) -> tuple[list[Any], bool]:
    """Up to `limit` items of one Query's partition (newest first when the query says so; its
    own Limit is limit + 1), those `keep` accepts when given, and whether the partition has no
    more: the part `newest_of` merges."""
    items: list[Any] = []
    while True:
        with dynamodb_errors(what):
            answer = client.query(**query)
        found = (from_item(raw) for raw in answer.get("Items", []))
        items.extend(item for item in found if keep is None or keep(item))
        start = answer.get("LastEvaluatedKey")
        if len(items) > limit or not start:
            return items[:limit], len(items) <= limit and not start
        query["ExclusiveStartKey"] = start
