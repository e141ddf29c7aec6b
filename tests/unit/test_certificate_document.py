"""The signed certificate's document, offline: what is signed is exactly the canonical payload,
so any changed character, another key or an unknown key fails; the QR text carries the same; the
offline verifier (infra/cli/verify_certificate.py) agrees with the service."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from miaopi_platform.certificates import document as doc
from typer.testing import CliRunner

from infra.cli.verify_certificate import app

runner = CliRunner()


def keypair(key_id: str) -> tuple[ec.EllipticCurvePrivateKey, doc.PublicKey]:
    private = ec.generate_private_key(ec.SECP256R1())
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, doc.public_key(key_id, "ECDSA_SHA_256", der)


def signed(private: ec.EllipticCurvePrivateKey, key_id: str, **changes: Any) -> doc.Document:
    body = doc.payload(
        number="GLJT20261130AB12CD34",
        kind="ALLOWANCE_APPROVAL",
        title={"zh": "高龄老人津贴核准通知", "en": "Elderly allowance approval"},
        authority={"id": "baoan-civil-affairs", "zh": "深圳市宝安区民政局", "en": "Civil Affairs"},
        service="elderly-allowance",
        holder={"name": "张**", "idHash": "f" * 64},
        # 17:00 UTC is the next day in China
        issued_at=dt.datetime(2026, 11, 29, 17, 0, tzinfo=dt.UTC),
        decision_id="DEC0123456789",
        rule_set_version="2026.1",
        rule_set_hash="sha256:" + "a" * 64,
        key_id=key_id,
        algorithm="ECDSA_SHA_256",
    )
    body = {**body, **changes}  # type: ignore[typeddict-item]
    signature = private.sign(doc.canonical(body), ec.ECDSA(hashes.SHA256()))
    return {"payload": body, "signature": base64.b64encode(signature).decode()}


@pytest.fixture
def ours() -> tuple[ec.EllipticCurvePrivateKey, dict[str, doc.PublicKey]]:
    private, public = keypair("key-1")
    return private, {"key-1": public}


def check(document: Any, keys: dict[str, doc.PublicKey]) -> doc.SignatureCheck:
    body, signature = doc.from_document(json.loads(json.dumps(document)))
    return doc.check_signature(body, signature, keys)


def test_a_signed_certificate_verifies_and_dates_are_china_dates(ours: Any) -> None:
    # Given a certificate signed by our key
    private, keys = ours
    document = signed(private, "key-1")
    # Then it verifies, whatever order its keys arrive in
    reordered = {
        "signature": document["signature"],
        "payload": dict(reversed(document["payload"].items())),
    }
    assert check(document, keys).valid and check(reordered, keys).valid
    # And it is dated in China (issued at 01:00 on the 30th there)
    assert document["payload"]["issuedOn"] == "2026-11-30"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("number", "GLJT20261130AB12CD35"),
        ("issuedOn", "2026-11-31"),
        ("validUntil", "2099-12-31"),
        ("holder", {"name": "李**", "idHash": "f" * 64}),
        ("kind", "DRIVER_PERMIT"),
    ],
)
def test_any_changed_field_fails(ours: Any, field: str, value: Any) -> None:
    # Given a signed certificate, one field changed
    private, keys = ours
    forged = copy.deepcopy(signed(private, "key-1"))
    forged["payload"][field] = value  # type: ignore[literal-required]
    # Then the signature no longer holds
    assert check(forged, keys).result == "SIGNATURE_MISMATCH"


def test_another_key_an_unknown_key_or_a_foreign_format_fails(ours: Any) -> None:
    private, keys = ours
    other, _ = keypair("key-2")
    # Given certificates signed by a key that is not ours: naming ours, naming its own
    assert check(signed(other, "key-1"), keys).result == "SIGNATURE_MISMATCH"
    assert check(signed(other, "key-2"), keys).result == "UNKNOWN_KEY"
    # And one of another format, or claiming another algorithm than the key's
    assert check(signed(private, "key-1", format="x/1"), keys).result == "MALFORMED"
    assert check(signed(private, "key-1", algorithm="SM2DSA"), keys).result == "UNSUPPORTED"


def test_the_qr_text_carries_the_signed_certificate(ours: Any) -> None:
    # Given a certificate's QR text
    private, keys = ours
    text = doc.qr_text(signed(private, "key-1"))
    assert text.startswith("MPC1.") and text.isascii()
    # Then it verifies by itself
    body, signature = doc.from_qr(text)
    assert doc.check_signature(body, signature, keys).valid
    # And a damaged one is refused as malformed, or fails
    with pytest.raises(doc.Malformed):
        doc.from_qr("MPC1.@@@.x")
    with pytest.raises(doc.Malformed):
        doc.from_qr(text.replace("MPC1", "MPC2", 1))
    head, payload, sig = text.split(".")
    damaged = f"{head}.{payload}.{'A' if sig[0] != 'A' else 'B'}{sig[1:]}"
    body, signature = doc.from_qr(damaged)
    assert not doc.check_signature(body, signature, keys).valid


def test_the_published_key_has_a_pem_and_a_jwk_naming_it(ours: Any) -> None:
    _private, keys = ours
    key = keys["key-1"]
    assert key["pem"].startswith("-----BEGIN PUBLIC KEY-----")
    assert key["jwk"]["kty"] == "EC" and key["jwk"]["crv"] == "P-256"
    assert key["jwk"]["kid"] == "key-1"


def test_the_offline_verifier_agrees_with_the_service(ours: Any, tmp_path: Path) -> None:
    # Given a downloaded certificate, its QR text, a forged copy and the published keys
    private, keys = ours
    document = signed(private, "key-1")
    forged = copy.deepcopy(document)
    forged["payload"]["number"] = "GLJT20261130AB12CD99"
    files = {
        "cert.json": json.dumps(document, ensure_ascii=False),
        "qr.txt": doc.qr_text(document),
        "forged.json": json.dumps(forged, ensure_ascii=False),
        "garbage.json": "not a certificate",
        "keys.json": json.dumps({"keys": list(keys.values())}),
        "key.pem": keys["key-1"]["pem"],
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")

    def run(certificate: str, key: str) -> Any:
        return runner.invoke(app, [str(tmp_path / certificate), "--key", str(tmp_path / key)])

    # Then the genuine one verifies with the keys' answer or the PEM alone, as document or QR
    for certificate, key in (("cert.json", "keys.json"), ("qr.txt", "key.pem")):
        result = run(certificate, key)
        assert result.exit_code == 0, result.output
        assert "VALID signature by key key-1" in result.output and "张**" in result.output
    # And the forged one does not; an unreadable file is its own exit status
    assert run("forged.json", "keys.json").exit_code == 1
    assert run("garbage.json", "keys.json").exit_code == 2
