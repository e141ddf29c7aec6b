"""The certificates' routes: three public ones (no sign-in, rate-limited per address, no
personal data beyond what the certificate prints) and the holder's own signed document."""

from __future__ import annotations

import json
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path

from miaopi_platform.applications.flow import own_application
from miaopi_platform.aws.api import errors, request_body, signed_in
from miaopi_platform.aws.errors import UnprocessableEntity
from miaopi_platform.aws.http import (
    binary_response,
    first_accepted,
    json_body,
    json_response,
    parse_body,
    public_base_url,
)
from miaopi_platform.certificates import document as doc
from miaopi_platform.certificates.flow import (
    CertificatePorts,
    holders_document,
    printable,
    registered,
    verify,
)
from miaopi_platform.certificates.views import (
    CertificateStatusView,
    PublicKeys,
    PublicKeyView,
    SignedDocument,
    VerificationView,
    VerifyRequest,
    summary,
)
from miaopi_platform.identity.caller import identity

router = Router()

#: a status may change (a revocation): shared caches keep it briefly
STATUS_CACHE = "public, max-age=10"
#: keys change only when rotated, and a new key is published before it signs
KEYS_CACHE = "public, max-age=3600"
NUMBER = r"^[A-Z]{2,6}[0-9]{8}[0-9A-Za-z]{8}$"


@router.get(
    "/certificates/keys",
    summary="The public keys certificates are signed with",
    description="Each with its id (a certificate names the key that signed it), as PEM and JWK. "
    "Enough to verify a downloaded certificate offline (infra/cli/verify_certificate.py).",
    operation_id="listCertificateKeys",
    tags=["Certificates"],
    responses={
        200: {"description": "The keys", "content": {"application/json": {"model": PublicKeys}}},
        **errors([503]),
    },
)
def list_keys() -> Response[str]:
    ports: CertificatePorts = router.context["deps"]
    keys = [PublicKeyView.model_validate(key) for key in ports.signer.keys.values()]
    return json_response(200, PublicKeys(keys=keys).wire(), {"Cache-Control": KEYS_CACHE})


@router.get(
    "/certificates/<number>",
    summary="A certificate's status and what it certifies",
    description="No sign-in. What the certificate prints (kind, authority, issue date, the "
    "holder's masked name) and whether it is VALID or REVOKED now.",
    operation_id="getCertificate",
    tags=["Certificates"],
    responses={
        200: {
            "description": "The certificate",
            "content": {"application/json": {"model": CertificateStatusView}},
        },
        **errors([422, 503], {404: "No such certificate"}),
    },
)
def get_certificate(
    number: Annotated[str, Path(pattern=NUMBER, max_length=32)],
) -> Response[str]:
    ports: CertificatePorts = router.context["deps"]
    item = registered(ports, number)
    found = doc_payload(item.get("payload"))
    shown = CertificateStatusView(
        number=item["number"],
        status=item["status"],
        revoked_at=item.get("revokedAt"),  # type: ignore[arg-type]
        certificate=summary(found) if found else None,
    )
    return json_response(200, shown.wire(), {"Cache-Control": STATUS_CACHE})


def doc_payload(text: str | None) -> dict[str, Any] | None:
    loaded = json.loads(text) if text else None
    return loaded if isinstance(loaded, dict) else None


@router.post(
    "/certificates/verify",
    summary="Verify a certificate: its signature and its current status",
    description="No sign-in. Send the downloaded document or the text of its QR code. A "
    "signature that does not hold for the published key the document names (a changed byte, "
    "another key) answers valid false; nothing is stored.",
    operation_id="verifyCertificate",
    tags=["Certificates"],
    openapi_extensions=request_body(VerifyRequest, "A certificate document or QR text"),
    responses={
        200: {
            "description": "The verification",
            "content": {"application/json": {"model": VerificationView}},
        },
        **errors([400, 413, 415, 422, 503]),
    },
)
def verify_certificate() -> Response[str]:
    ports: CertificatePorts = router.context["deps"]
    request = parse_body(
        VerifyRequest, json_body(router, ports.settings.max_body_bytes), "verification"
    )
    try:
        if request.qr is not None:
            body, signature = doc.from_qr(request.qr)
        else:
            body, signature = doc.from_document(request.document.model_dump())  # type: ignore[union-attr]
    except doc.Malformed as exc:
        field = f"body.{exc.field}"
        raise UnprocessableEntity(str(exc), [{"field": field, "code": "malformed"}]) from None
    result = verify(ports, body, signature)
    shown = VerificationView(
        valid=result.check.valid and result.status == "VALID",
        signature=result.check.result,
        key_id=result.check.key_id,
        status=result.status,  # type: ignore[arg-type]
        revoked_at=result.revoked_at,  # type: ignore[arg-type]
        certificate=summary(result.payload) if result.payload else None,
    )
    return json_response(200, shown.wire(), {"Cache-Control": "no-store"})


PDF = "application/pdf"


@router.get(
    "/applications/<applicationId>/certificate",
    summary="The signed certificate of one of the caller's applications, or its printable PDF",
    description="JSON by default: the signed document (payload and signature). With "
    "`Accept: application/pdf` (first in the header: API Gateway sends bytes by it): one A4 "
    "page to print or show, the QR code encoding the whole "
    "signed certificate (POST /certificates/verify takes its text) and the verification URL. "
    "A revoked certificate is not printed (410); its document stays available as JSON.",
    operation_id="getApplicationCertificate",
    tags=["Certificates"],
    responses={
        200: {
            "description": "The signed document, or its printable PDF",
            "content": {
                "application/json": {"model": SignedDocument},
                PDF: {"schema": {"type": "string", "format": "binary"}},
            },
        },
        **errors(
            [401, 422, 503],
            {
                404: "No such application of the caller's, or no certificate (yet)",
                410: "The certificate was revoked: it is not printed",
            },
        ),
    },
    security=signed_in(),
)
def get_application_certificate(
    application_id: Annotated[str, Path(alias="applicationId", max_length=64)],
) -> Response[str]:
    ports: CertificatePorts = router.context["deps"]
    application = own_application(ports.store, identity(router), application_id)
    document = holders_document(ports, application)
    private = {"Cache-Control": "private, no-store"}
    if first_accepted(router) != PDF:
        return json_response(200, dict(document), private)
    body = printable(ports, document, public_base_url(router))
    number = document["payload"]["number"]
    disposition = {"Content-Disposition": f'inline; filename="{number}.pdf"'}
    return binary_response(200, PDF, body, {**private, **disposition})
