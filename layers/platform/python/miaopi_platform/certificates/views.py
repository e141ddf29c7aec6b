"""The certificates' API models: what anyone may read of a certificate (what is printed on it,
the holder's name masked; never the holder's keyed hash or the application), a verification's
answer and the published keys."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import Field, model_validator

from miaopi_platform.aws.api import ApiModel, Localized

CertificateStatus = Literal["ISSUING", "VALID", "REVOKED"]


class CertificateSummary(ApiModel):
    """What the certificate itself prints, for anyone to compare with the paper."""

    number: str
    kind: str
    title: Localized
    authority: Localized
    issued_on: dt.date
    #: masked (`张*`); absent when the service's certificate names no holder
    holder_name: str | None = None


class CertificateStatusView(ApiModel):
    number: str
    #: ISSUING for a second or two after the approval; REVOKED once overturned
    status: CertificateStatus
    revoked_at: dt.datetime | None = None
    #: absent while ISSUING
    certificate: CertificateSummary | None = None


class SignedDocument(ApiModel):
    """A certificate as downloaded (`GET /applications/{id}/certificate`)."""

    #: the signed payload; its canonical bytes are sorted-key compact UTF-8 JSON (docs)
    payload: dict[str, Any]
    #: DER-encoded ECDSA signature over the canonical bytes, base64
    signature: str


class VerifyRequest(ApiModel):
    """Exactly one of: the downloaded document, or the text of its QR code."""

    document: SignedDocument | None = None
    qr: str | None = Field(default=None, min_length=1, max_length=8192)

    @model_validator(mode="after")
    def _one(self) -> VerifyRequest:
        if (self.document is None) == (self.qr is None):
            raise ValueError("give either document or qr")
        return self


SignatureResult = Literal["VALID", "SIGNATURE_MISMATCH", "UNKNOWN_KEY", "UNSUPPORTED", "MALFORMED"]


class VerificationView(ApiModel):
    #: the signature holds for a published key and the certificate is VALID now
    valid: bool
    signature: SignatureResult
    #: the key the document names
    key_id: str | None = None
    #: the certificate's current status; UNKNOWN when the signature fails or none is registered
    status: Literal["ISSUING", "VALID", "REVOKED", "UNKNOWN"]
    revoked_at: dt.datetime | None = None
    #: what it certifies, when the signature holds
    certificate: CertificateSummary | None = None


class PublicKeyView(ApiModel):
    key_id: str
    #: the KMS signing algorithm (ECDSA_SHA_256 for an ECC_NIST_P256 key)
    algorithm: str
    #: SubjectPublicKeyInfo, PEM
    pem: str
    jwk: dict[str, str] | None = None


class PublicKeys(ApiModel):
    #: the signing key first, then keys that signed earlier certificates
    keys: list[PublicKeyView]


def summary(payload: dict[str, Any]) -> CertificateSummary:
    authority = payload.get("authority") or {}
    return CertificateSummary.model_validate(
        {
            "number": payload.get("number"),
            "kind": payload.get("kind"),
            "title": payload.get("title"),
            "authority": {"zh": authority.get("zh"), "en": authority.get("en")},
            "issued_on": payload.get("issuedOn"),
            "holder_name": (payload.get("holder") or {}).get("name"),
        }
    )
