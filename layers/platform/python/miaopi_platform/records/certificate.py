"""The certificate an approval issues, as the application item holds it."""

from __future__ import annotations

import datetime as dt

from miaopi.model import ServiceDefinition

from miaopi_platform.records.decision import localized
from miaopi_platform.records.items import Certificate


def certificate(
    service: ServiceDefinition, application_date: dt.date, decision_id: str, issued_at: str
) -> Certificate:
    """The certificate an approval issues; its number derives from the approving decision."""
    kind = service.file.certificate
    stamp = application_date.strftime("%Y%m%d")
    return {
        "kind": kind.kind,
        "title": localized(kind.title),
        "number": f"{kind.prefix}{stamp}{decision_id[3:11]}",
        "issuedAt": issued_at,
    }
