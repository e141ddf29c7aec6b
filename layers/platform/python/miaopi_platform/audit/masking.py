"""Personal data masked in everything the audit API shows of a decision record.

The application's personal fields (the form's `personal: true`) are masked by kind. Evidence
records and trace values are other departments' data, without such markers, so a value there
is masked when it is one of the application's personal values (masked the same way), when it
has the shape of a resident ID, bank card or mobile number, or when its attribute is a name
(`...name`). Masking more than needed is the safe side: an auditor reads the per-rule results.
A reviewer's comment is free text: masked by privacy.text against these values and those of the
application's other records, for every reader but its author.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from miaopi.model import ServiceDefinition

from miaopi_platform.privacy.pii import mask_paths, mask_value
from miaopi_platform.privacy.text import TextMask, identifier_kind
from miaopi_platform.records.items import EvidenceSnapshot
from miaopi_platform.records.personal import Known, personal_values


class Redactor:
    """Masks what the audit API shows of one record. `related`: the personal values of the
    application's other records (a reviewer's record has none of its own), for free text."""

    def __init__(
        self,
        service: ServiceDefinition,
        application: dict[str, Any],
        evidence: Mapping[str, EvidenceSnapshot] | None = None,
        related: Known | None = None,
    ) -> None:
        self._paths = service.personal_paths
        self._application = application
        own = personal_values(service, [{"application": application, "evidence": evidence}])
        self._personal: Known = {**(related or {}), **own}

    @property
    def known(self) -> Known:
        """Every personal value known: the record's and the related ones."""
        return self._personal

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
        kind = identifier_kind(value)
        if kind:
            return mask_value((kind,), value)
        if name.lower().endswith("name"):
            return mask_value((), value)
        return value

    def text(self, text: str) -> str:
        """Free text with every known personal value, identifier and name masked (privacy.text)."""
        return TextMask(self._personal)(text)

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
