"""The certificate an approval issues, as the application item holds it."""

from __future__ import annotations

import datetime as dt

from miaopi.model import ServiceDefinition

from miaopi_platform.records.decision import localized
from miaopi_platform.records.items import Certificate


def certificate(
    service: ServiceDefinition, application_date: dt.date, decision_id: str, issued_at: str
) -> Certificate:
    """The certificate an approval issues, ISSUING until the certificate issuer has signed it
    (miaopi_platform.certificates, from the decisions stream)."""
    kind = service.file.certificate
    return {
        "kind": kind.kind,
        "title": localized(kind.title),
        "number": number(service, application_date, decision_id),
        "issuedAt": issued_at,
        "status": "ISSUING",
    }


def number(service: ServiceDefinition, application_date: dt.date, decision_id: str) -> str:
    """A certificate's number: it derives from the approving decision."""
    stamp = application_date.strftime("%Y%m%d")
    return f"{service.file.certificate.prefix}{stamp}{decision_id[3:11]}"
