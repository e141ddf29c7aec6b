"""Tamper evidence for decision records: the canonical content hash each record carries.

The content hash is computed by whoever writes a record (the submit function, the reviewer API
for the workflow to write, the supervision function for revocations), over the record exactly
as DynamoDB will hold it: numbers as DynamoDB returns them, top-level nulls dropped. Fields
about the record's place in its chain are not content (they are added by the chain sequencer).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from miaopi_platform.aws.dynamo import plain, storable

#: attributes that are not part of a decision's content: the hashes and the chain position
NOT_CONTENT = frozenset({"contentHash", "chainId", "chainSeq", "prevHash", "hash", "chainedAt"})
GENESIS = "0" * 64


def canonical(record: Mapping[str, Any]) -> str:
    """The record's content as one canonical JSON text (sorted keys, no spaces, UTF-8)."""
    content = {k: v for k, v in record.items() if k not in NOT_CONTENT and v is not None}
    return json.dumps(
        plain(storable(content)), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


def content_hash(record: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(record).encode("utf-8")).hexdigest()


def link_hash(chain_id: str, seq: int, prev_hash: str, content: str) -> str:
    """A chain entry's hash: its chain, position, predecessor's hash and content hash."""
    return hashlib.sha256(f"{chain_id}|{seq}|{prev_hash}|{content}".encode()).hexdigest()


def with_content_hash(record: Mapping[str, Any]) -> dict[str, Any]:
    return {**record, "contentHash": content_hash(record)}
