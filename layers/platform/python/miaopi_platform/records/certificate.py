"""The certificate an approval issues, as the application item holds it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from miaopi.model import ServiceDefinition


def certificate(
    service: ServiceDefinition, application_date: dt.date, decision_id: str, issued_at: str
) -> dict[str, Any]:
    """The certificate an approval issues; its number derives from the approving decision."""
    kind = service.file.certificate
    stamp = application_date.strftime("%Y%m%d")
    return {
        "kind": kind.kind,
        "title": kind.title.model_dump(),
        "number": f"{kind.prefix}{stamp}{decision_id[3:11]}",
        "issuedAt": issued_at,
    }
