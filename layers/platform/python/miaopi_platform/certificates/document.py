"""The signed e-certificate (电子证照): its canonical payload, the bytes that are signed, the QR
payload, and the check of a signature against a published public key.

Pure (no AWS, no environment): the functions that issue and verify certificates and the offline
verifier (`infra/cli/verify_certificate.py`) share this one definition, so what is signed and
what is checked cannot drift. The canonical bytes are the payload as JSON with sorted keys, no
insignificant whitespace and UTF-8 text (strings and nulls only, so no number formatting to
agree on): any changed character of the payload changes them, and the signature no longer holds.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Literal, NotRequired, TypedDict, cast

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from miaopi.workdays import CHINA

#: the payload's format; a verifier refuses one it does not know
FORMAT = "miaopi-certificate/1"
#: the QR code's text: this prefix, the canonical payload and the signature (base64url, no padding)
QR_PREFIX = "MPC1"

#: the KMS signing algorithms a verifier here checks (SM2DSA needs an SM2 verifier: docs)
_HASHES: dict[str, hashes.HashAlgorithm] = {
    "ECDSA_SHA_256": hashes.SHA256(),
    "ECDSA_SHA_384": hashes.SHA384(),
    "ECDSA_SHA_512": hashes.SHA512(),
}
#: the signing algorithm of each KMS key spec
ALGORITHM_OF_KEY_SPEC = {
    "ECC_NIST_P256": "ECDSA_SHA_256",
    "ECC_NIST_P384": "ECDSA_SHA_384",
    "ECC_NIST_P521": "ECDSA_SHA_512",
    "SM2": "SM2DSA",
}


class Holder(TypedDict):
    #: as printed: masked (`张*`); null when the service's form names no holder
    name: str | None
    #: the keyed hash of the holder's ID number or credit code (never the number)
    idHash: str


class Authority(TypedDict):
    id: str
    zh: str
    en: str


class Payload(TypedDict):
    """What is signed. camelCase, strings and nulls only."""

    format: str
    number: str
    kind: str
    title: dict[str, str]
    authority: Authority
    service: str
    holder: Holder
    issuedOn: str
    validFrom: str
    #: null: valid until revoked
    validUntil: str | None
    decisionId: str
    ruleSetVersion: str
    ruleSetHash: str
    keyId: str
    algorithm: str


class Document(TypedDict):
    """The signed certificate as downloaded: the payload and the signature over its canonical
    bytes (DER-encoded ECDSA, base64)."""

    payload: Payload
    signature: str


class PublicKey(TypedDict):
    keyId: str
    algorithm: str
    #: SubjectPublicKeyInfo, PEM
    pem: str
    jwk: NotRequired[dict[str, str]]


def canonical(payload: Payload | dict[str, Any]) -> bytes:
    """The bytes that are signed."""
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def payload(
    *,
    number: str,
    kind: str,
    title: dict[str, str],
    authority: Authority,
    service: str,
    holder: Holder,
    issued_at: dt.datetime,
    decision_id: str,
    rule_set_version: str,
    rule_set_hash: str,
    key_id: str,
    algorithm: str,
) -> Payload:
    """The canonical payload of one certificate; its dates are China dates."""
    issued_on = issued_at.astimezone(CHINA).date().isoformat()
    return {
        "format": FORMAT,
        "number": number,
        "kind": kind,
        "title": {"zh": title["zh"], "en": title["en"]},
        "authority": authority,
        "service": service,
        "holder": holder,
        "issuedOn": issued_on,
        "validFrom": issued_on,
        "validUntil": None,
        "decisionId": decision_id,
        "ruleSetVersion": rule_set_version,
        "ruleSetHash": rule_set_hash,
        "keyId": key_id,
        "algorithm": algorithm,
    }


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def qr_text(document: Document) -> str:
    """What the certificate's QR code encodes: the whole signed certificate, so a verifier
    needs no lookup to check the signature."""
    signature = base64.b64decode(document["signature"])
    return f"{QR_PREFIX}.{_b64url(canonical(document['payload']))}.{_b64url(signature)}"


class Malformed(ValueError):
    """Not a certificate document or QR text; `field` says where."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def from_qr(text: str) -> tuple[dict[str, Any], bytes]:
    """The payload and signature a QR text carries, or Malformed."""
    parts = text.strip().split(".")
    if len(parts) != 3 or parts[0] != QR_PREFIX:
        raise Malformed("qr", f"a QR payload is {QR_PREFIX}.<payload>.<signature>")
    try:
        body, signature = _unb64url(parts[1]), _unb64url(parts[2])
        loaded = json.loads(body.decode("utf-8"))
    except (binascii.Error, ValueError):
        raise Malformed("qr", "the QR payload is not base64url-encoded JSON") from None
    if not isinstance(loaded, dict):
        raise Malformed("qr", "the QR payload's payload is not a JSON object")
    return loaded, signature


def from_document(document: Any) -> tuple[dict[str, Any], bytes]:
    """The payload and signature of a certificate document, or Malformed."""
    if not isinstance(document, dict):
        raise Malformed("document", "a certificate document is a JSON object")
    body, signature = document.get("payload"), document.get("signature")
    if not isinstance(body, dict):
        raise Malformed("document.payload", "the document has no payload object")
    if not isinstance(signature, str):
        raise Malformed("document.signature", "the document has no signature (base64)")
    try:
        return body, base64.b64decode(signature, validate=True)
    except binascii.Error:
        raise Malformed("document.signature", "the signature is not base64") from None


Check = Literal["VALID", "SIGNATURE_MISMATCH", "UNKNOWN_KEY", "UNSUPPORTED", "MALFORMED"]


@dataclass(frozen=True, slots=True)
class SignatureCheck:
    """Whether the signature holds for the published key the payload names, and if not why."""

    result: Check
    key_id: str | None

    @property
    def valid(self) -> bool:
        return self.result == "VALID"


def check_signature(
    body: dict[str, Any], signature: bytes, keys: dict[str, PublicKey]
) -> SignatureCheck:
    """Check a payload's signature with the published key it names (`keyId`)."""
    key_id = body.get("keyId")
    if body.get("format") != FORMAT or not isinstance(key_id, str):
        return SignatureCheck("MALFORMED", None)
    published = keys.get(key_id)
    if published is None:
        return SignatureCheck("UNKNOWN_KEY", key_id)
    algorithm = _HASHES.get(published["algorithm"])
    # the payload's algorithm is signed too, but the key's own algorithm is what counts
    if algorithm is None or body.get("algorithm") != published["algorithm"]:
        return SignatureCheck("UNSUPPORTED", key_id)
    try:
        key = serialization.load_pem_public_key(published["pem"].encode("ascii"))
    except (ValueError, UnsupportedAlgorithm):
        return SignatureCheck("UNSUPPORTED", key_id)
    if not isinstance(key, ec.EllipticCurvePublicKey):
        return SignatureCheck("UNSUPPORTED", key_id)
    try:
        key.verify(signature, canonical(body), ec.ECDSA(algorithm))
    except InvalidSignature:
        return SignatureCheck("SIGNATURE_MISMATCH", key_id)
    return SignatureCheck("VALID", key_id)


def public_key(key_id: str, algorithm: str, der: bytes) -> PublicKey:
    """A published key from KMS's GetPublicKey answer (DER SubjectPublicKeyInfo): its PEM and,
    for an elliptic-curve key, its JWK."""
    loaded = serialization.load_der_public_key(der)
    pem = loaded.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")
    published: PublicKey = {"keyId": key_id, "algorithm": algorithm, "pem": pem}
    if isinstance(loaded, ec.EllipticCurvePublicKey):
        from jwt.algorithms import ECAlgorithm

        jwk = cast("dict[str, str]", ECAlgorithm.to_jwk(loaded, as_dict=True))
        published["jwk"] = {**jwk, "kid": key_id, "use": "sig"}
    return published


#: the KMS signing algorithm of each curve's ECDSA key
_ALGORITHM_OF_CURVE = {
    "secp256r1": "ECDSA_SHA_256",
    "secp384r1": "ECDSA_SHA_384",
    "secp521r1": "ECDSA_SHA_512",
}


def key_from_pem(key_id: str, pem: str) -> PublicKey:
    """A published key from its PEM alone (the offline verifier): its algorithm from its curve.
    ValueError when it is not an elliptic-curve public key this verifier knows."""
    try:
        loaded = serialization.load_pem_public_key(pem.encode("ascii"))
    except (ValueError, UnsupportedAlgorithm):
        raise ValueError("not a PEM public key") from None
    if not isinstance(loaded, ec.EllipticCurvePublicKey):
        raise ValueError("not an elliptic-curve public key")
    algorithm = _ALGORITHM_OF_CURVE.get(loaded.curve.name)
    if algorithm is None:
        raise ValueError(f"an {loaded.curve.name} key: not a curve this verifier knows")
    return {"keyId": key_id, "algorithm": algorithm, "pem": pem}
