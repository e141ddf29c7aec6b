"""Issuing and revoking certificates, from the decisions table's stream (the certificate
issuer function), and verifying them (the public routes).

The submit path stays at two AWS calls: it records the certificate ISSUING, and this flow signs
it within a second or two of the approval (system or reviewer) and stores the document VALID.
A revocation (supervision, or a spot check that found the data false) marks it REVOKED at once,
without a read. Every step is safe to repeat (certificates.store).
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass
from typing import Any, Protocol, cast

from miaopi.model import Outcome, ServiceDefinition

from miaopi_platform.aws.clock import iso
from miaopi_platform.aws.dynamo import from_item
from miaopi_platform.aws.errors import Gone, NotFound, UnprocessableEntity
from miaopi_platform.aws.observability import logger, metrics
from miaopi_platform.aws.settings import Settings
from miaopi_platform.catalogue.services import find
from miaopi_platform.certificates import document as doc
from miaopi_platform.certificates.signing import CertificateSigner
from miaopi_platform.certificates.store import CertificateItem, CertificateStore, document_of
from miaopi_platform.privacy.pii import mask_value
from miaopi_platform.records.certificate import number
from miaopi_platform.records.items import ApplicationItem, DecisionRecord
from miaopi_platform.records.store import ApplicationStore


class CertificatePorts(Protocol):
    """What issuing and verifying certificates need, from the function's wiring."""

    @property
    def settings(self) -> Settings: ...
    @property
    def store(self) -> ApplicationStore: ...
    @property
    def certificates(self) -> CertificateStore: ...
    @property
    def signer(self) -> CertificateSigner: ...


def on_decision(ports: CertificatePorts, stream_record: dict[str, Any]) -> None:
    """One decisions-stream record: an approval issues its certificate, a revocation revokes
    it; anything else is not about certificates."""
    if stream_record.get("eventName") != "INSERT":
        return
    image = (stream_record.get("dynamodb") or {}).get("NewImage")
    if not image:
        return
    record = cast("DecisionRecord", from_item(image))
    if record.get("outcome") == Outcome.APPROVED.value:
        issue(ports, record)
    elif record.get("outcome") == Outcome.REVOKED.value and record.get("revokes"):
        revoke(ports, record)


def issue(ports: CertificatePorts, approval: DecisionRecord) -> str | None:
    """Sign and store the certificate of one approval; its number, or None when the
    application has no certificate of this approval (nothing to sign)."""
    application = ports.store.get(approval["applicationId"])
    certificate = application.get("certificate") if application is not None else None
    if application is None or certificate is None:
        logger.warning(
            "approval without its certificate on the application",
            extra={"decision_id": approval["decisionId"]},
        )
        return None
    service = find(approval["serviceId"])
    expected = number(
        service, dt.date.fromisoformat(approval["applicationDate"]), approval["decisionId"]
    )
    if certificate["number"] != expected:  # an approval the application no longer shows
        return None
    known = ports.certificates.get(expected)
    if known is None or "payload" not in known:
        body = payload_of(service, application, approval, ports.signer)
        text = doc.canonical(body)
        signature = base64.b64encode(ports.signer.sign(text)).decode("ascii")
        ports.certificates.issue(
            expected,
            approval["applicationId"],
            approval["decisionId"],
            text.decode("utf-8"),
            signature,
            approval["decidedAt"],
        )
        metrics.add_metric(name="CertificatesIssued", unit="Count", value=1)
    signed_at = iso(dt.datetime.now(dt.UTC))
    ports.certificates.mark_application_valid(approval["applicationId"], expected, signed_at)
    return expected


def payload_of(
    service: ServiceDefinition,
    application: ApplicationItem,
    approval: DecisionRecord,
    signer: CertificateSigner,
) -> doc.Payload:
    """The canonical payload of an approval's certificate: what the application shows (its
    masked form) and the approving decision, nothing more."""
    spec = service.file
    certificate = application["certificate"]
    return doc.payload(
        number=certificate["number"],
        kind=certificate["kind"],
        title={"zh": certificate["title"]["zh"], "en": certificate["title"]["en"]},
        authority={"id": spec.authority_id, "zh": spec.authority.zh, "en": spec.authority.en},
        service=service.id,
        holder={
            "name": _holder_name(service, application),
            "idHash": application.get("holderHash") or application["subjectHash"],
        },
        issued_at=dt.datetime.fromisoformat(certificate["issuedAt"]),
        decision_id=approval["decisionId"],
        rule_set_version=approval["ruleSetVersion"],
        rule_set_hash=approval["ruleSetHash"],
        key_id=signer.key_id,
        algorithm=signer.algorithm,
    )


def _holder_name(service: ServiceDefinition, application: ApplicationItem) -> str | None:
    path = service.file.certificate.holder_name
    if path is None:
        return None
    value: Any = application.get("form") or {}
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if not isinstance(value, str):
        return None
    # the stored form is masked already; masking again keeps an unmasked (non-personal) name
    # of a person from being printed in full
    return value if "*" in value else mask_value((), value)


def revoke(ports: CertificatePorts, revocation: DecisionRecord) -> str:
    """Mark the revoked approval's certificate REVOKED (its number derives from the approval)."""
    service = find(revocation["serviceId"])
    revoked = number(
        service, dt.date.fromisoformat(revocation["applicationDate"]), revocation["revokes"]
    )
    ports.certificates.revoke(
        revoked, revocation["applicationId"], revocation["decisionId"], revocation["decidedAt"]
    )
    metrics.add_metric(name="CertificatesRevoked", unit="Count", value=1)
    return revoked


# ---------------------------------------------------------------- verification


@dataclass(frozen=True, slots=True)
class Verification:
    check: doc.SignatureCheck
    #: the certificate's current status as the register holds it; UNKNOWN when it holds none
    status: str
    #: the signed payload, when the signature holds
    payload: dict[str, Any] | None
    revoked_at: str | None = None


def verify(ports: CertificatePorts, body: dict[str, Any], signature: bytes) -> Verification:
    """Check a presented certificate: its signature against the published key it names, then
    its current status in the register (only when the signature holds: a forged number says
    nothing of the real certificate)."""
    check = doc.check_signature(body, signature, ports.signer.keys)
    if not check.valid:
        return Verification(check, "UNKNOWN", None)
    item = ports.certificates.get(str(body["number"]))
    status = item["status"] if item is not None else "UNKNOWN"
    if item is not None and "payload" in item and item["payload"] != doc.canonical(body).decode():
        # signed by our key but not what the register holds (a superseded document)
        status = "UNKNOWN"
    return Verification(check, status, body, item.get("revokedAt") if item is not None else None)


def registered(ports: CertificatePorts, certificate_number: str) -> CertificateItem:
    """A certificate in the register, or 404."""
    item = ports.certificates.get(certificate_number)
    if item is None:
        raise NotFound("no such certificate")
    return item


def holders_document(ports: CertificatePorts, application: ApplicationItem) -> doc.Document:
    """The signed document of an application's certificate; 404 when it has none (yet)."""
    certificate = application.get("certificate")
    if certificate is None:
        raise NotFound("this application has no certificate")
    item = ports.certificates.get(certificate["number"])
    found = document_of(item) if item is not None else None
    if found is None:
        raise NotFound("the certificate is being issued, try again in a few seconds")
    return found


def printable(ports: CertificatePorts, document: doc.Document, base_url: str) -> bytes:
    """The holder's certificate as a PDF to print, with its QR code and the URL where anyone
    checks it. A revoked certificate is not printed (410: it would be shown as if valid). The
    PDF renderer is imported here, for the few requests that ask for it: it and its font stay
    out of the function's cold start."""
    number = document["payload"]["number"]
    item = ports.certificates.get(number)
    if item is not None and item["status"] == "REVOKED":
        raise Gone("the certificate was revoked: it is not printed")
    from miaopi_platform.certificates import pdf

    try:
        return pdf.render(
            document["payload"], doc.qr_text(document), f"{base_url}/certificates/{number}"
        )
    except pdf.Unprintable as exc:
        # a character the shipped font lacks: say where, never what (a name is personal data)
        raise UnprocessableEntity(
            "the certificate cannot be printed: a field has characters the certificate font "
            "lacks; the signed document (JSON) is complete",
            [{"field": f"certificate.{exc.field}", "code": "unprintable"}],
        ) from None
