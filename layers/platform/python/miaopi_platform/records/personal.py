"""Every personal value decision records hold, to mask free text against (privacy.text).

A reviewer's comment is stored on the reviewer's decision record, which holds no application
and no evidence: the names it may quote are on the application's other records (the decision
it reviews). So the values are gathered from any number of records: each one's application
fields marked personal (with their identifier kinds), and the strings under name-like
attributes (`name`, `holderName`, ...) or shaped like a personal identifier anywhere in its
application and evidence.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from miaopi.model import ServiceDefinition

from miaopi_platform.privacy.text import identifier_kind

#: value -> its identifier kinds (none for a name)
Known = dict[str, tuple[str, ...]]


def personal_values(service: ServiceDefinition, records: Iterable[Mapping[str, Any]]) -> Known:
    known: Known = {}
    for record in records:
        application = record.get("application") or {}
        for path, kinds in service.personal_paths.items():
            value: Any = application
            for part in path:
                value = value.get(part) if isinstance(value, dict) else None
            if isinstance(value, str) and value:
                known[value] = kinds
        snapshots = (record.get("evidence") or {}).values()
        evidence = [s.get("record") for s in snapshots if isinstance(s, dict)]
        for value, kinds in _found(application) + _found(evidence):
            known.setdefault(value, kinds)
    return known


def _found(document: Any, name: str = "") -> list[tuple[str, tuple[str, ...]]]:
    """(value, kinds) of the strings under name-like attributes, and of those shaped like a
    personal identifier, anywhere in a document."""
    if isinstance(document, dict):
        return [f for k, item in document.items() for f in _found(item, str(k))]
    if isinstance(document, list):
        return [f for item in document for f in _found(item, name)]
    if not isinstance(document, str) or not document:
        return []
    kind = identifier_kind(document)
    if kind:
        return [(document, (kind,))]
    return [(document, ())] if name.lower().endswith("name") else []
