"""Personal data masked in everything the audit API shows of a decision record.

The application's personal fields (the form's `personal: true`) are masked by kind. Evidence
records and trace values are other departments' data, without such markers, so a value there
is masked when it is one of the application's personal values (masked the same way), when it
has the shape of a resident ID, bank card or mobile number, or when its attribute is a name
(`...name`). Masking more than needed is the safe side: an auditor reads the per-rule results.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from miaopi.identifiers import KINDS
from miaopi.model import ServiceDefinition

from miaopi_platform.privacy.pii import mask_paths, mask_value
from miaopi_platform.records.items import EvidenceSnapshot

#: identifier kinds that identify a person, recognised by shape wherever they appear
_PERSONAL_KINDS = ("cn.ric", "cn.mobile", "bankcard")
_SHAPES = tuple((kind, re.compile(KINDS[kind].pattern)) for kind in _PERSONAL_KINDS)
#: the same shapes inside free text (a reviewer's comment), a lower-case check letter too
_IN_TEXT = re.compile(
    "|".join(
        rf"(?<![0-9A-Za-z])(?:{KINDS[k].pattern.strip('^$')})(?![0-9A-Za-z])"
        for k in _PERSONAL_KINDS
    ),
    re.IGNORECASE,
)


def _named_values(record: Any, name: str = "") -> list[str]:
    """String values under name-like attributes (`name`, `holderName`, ...) of a record."""
    if isinstance(record, dict):
        return [v for k, item in record.items() for v in _named_values(item, str(k))]
    if isinstance(record, list):
        return [v for item in record for v in _named_values(item, name)]
    if isinstance(record, str) and record and name.lower().endswith("name"):
        return [record]
    return []


class Redactor:
    def __init__(
        self,
        service: ServiceDefinition,
        application: dict[str, Any],
        evidence: Mapping[str, EvidenceSnapshot] | None = None,
    ) -> None:
        self._paths = service.personal_paths
        self._application = application
        self._personal: dict[str, tuple[str, ...]] = {}
        for path, kinds in self._paths.items():
            value: Any = application
            for part in path:
                value = value.get(part) if isinstance(value, dict) else None
            if isinstance(value, str) and value:
                self._personal[value] = kinds
        # names in other departments' records (a bank card holder, say) are masked in free
        # text too: a reviewer's comment may quote them
        for snapshot in (evidence or {}).values():
            record = snapshot.get("record") if isinstance(snapshot, dict) else None
            for name in _named_values(record):
                self._personal.setdefault(name, ())

    def application(self) -> dict[str, Any]:
        return mask_paths(self._application, self._paths)

    def value(self, value: Any, name: str = "") -> Any:
        if isinstance(value, dict):
            return {k: self.value(v, str(k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v, name) for v in value]
        if not isinstance(value, str) or not value:
            return value
        if value in self._personal:
            return mask_value(self._personal[value], value)
        for kind, shape in _SHAPES:
            if shape.fullmatch(value.upper()):  # an ID number's check letter in lower case too
                return mask_value((kind,), value)
        if name.lower().endswith("name"):
            return mask_value((), value)
        return value

    def text(self, text: str) -> str:
        """Free text with the application's personal values and identifier shapes masked."""
        for value, kinds in self._personal.items():
            text = text.replace(value, mask_value(kinds, value))
        return _IN_TEXT.sub(lambda m: str(self.value(m.group(0))), text)

    def trace_values(self, values: dict[str, Any]) -> dict[str, Any]:
        """A rule's trace values by dotted path (`app.idNumber`, `ev.bank.holderName`, ...)."""
        out = {}
        for path, value in values.items():
            parts = tuple(path.split("."))
            if parts[0] == "app" and parts[1:] in self._paths:
                out[path] = mask_value(self._paths[parts[1:]], value)
            else:
                out[path] = self.value(value, parts[-1])
        return out
