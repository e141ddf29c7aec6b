"""Signed e-certificates over HTTP on the local stack, with the real stream pollers: an approval's
certificate becomes VALID within seconds and verifies for anyone, a changed byte or another key
fails, and a revocation shows as REVOKED within seconds."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import boto3
import pypdfium2 as pdfium
import zxingcpp
from miaopi_platform.certificates import document as doc

from infra.local.seed import Persona
from tests.e2e.conftest import Api, Client

ELDERLY = "elderly-allowance"
#: the issuer signs within a second or two; generous for a loaded test machine
WAIT_S = 30.0


def wait_for[T](probe: Callable[[], T | None], seconds: float = WAIT_S) -> T:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = probe()
        if found is not None:
            return found
        time.sleep(0.1)
    raise AssertionError(f"not within {seconds} s")


def clean_elder(api: Api) -> Persona:
    return next(
        p
        for p in api.live_personas
        if p.service_id == ELDERLY and p.expected_outcome == "APPROVED" and not p.expected_failing
    )


def issued(api: Api) -> tuple[Persona, Client, dict[str, Any], dict[str, Any]]:
    """A fresh elder's approval and its certificate once VALID: (persona, client, submit answer,
    the signed document)."""
    persona, client = api.fresh_applicant(clean_elder(api))
    answer = client.submit(ELDERLY, persona.application)
    assert answer.status == 201 and answer.body["status"] == "APPROVED", answer.text
    number = answer.body["certificate"]["number"]
    anyone = api.client(None)

    def valid() -> dict[str, Any] | None:
        shown = anyone.get(f"/certificates/{number}")
        return shown.body if shown.status == 200 and shown.body["status"] == "VALID" else None

    wait_for(valid)
    document = client.get(f"/applications/{answer.body['applicationId']}/certificate")
    assert document.status == 200, document.text
    return persona, client, answer.body, document.body


def verify(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    answer = api.client(None).request("POST", "/certificates/verify", json=body)
    assert answer.status == 200, answer.text
    return dict(answer.body)


def test_a_certificate_verifies_for_anyone_without_signing_in(api: Api) -> None:
    # Given an approval, answered at once with its number and where to verify it
    persona, _client, approved, document = issued(api)
    certificate = approved["certificate"]
    assert certificate["status"] == "ISSUING"
    assert certificate["verificationPath"] == f"/certificates/{certificate['number']}"
    assert certificate["verificationUrl"] == api.base_url + certificate["verificationPath"]
    # When anyone (no token) verifies the downloaded document, or its QR code's text
    by_document = verify(api, {"document": document})
    by_qr = verify(api, {"qr": doc.qr_text(document)})  # type: ignore[arg-type]
    # Then both say the signature holds for the published key and the certificate is VALID
    for answer in (by_document, by_qr):
        assert answer["valid"] is True and answer["signature"] == "VALID"
        assert answer["status"] == "VALID"
        assert answer["certificate"]["number"] == certificate["number"]
    # And what is shown is what the certificate prints: the holder's name masked, no ID number
    name = persona.application["name"]
    assert by_document["certificate"]["holderName"] == name[0] + "*" * (len(name) - 1)
    assert persona.application["idNumber"] not in str(by_document)


PDF = {"Accept": "application/pdf"}


def test_the_holder_prints_the_certificate_its_qr_verifies_and_the_inbox_says_it_is_ready(
    api: Api,
) -> None:
    # Given an elder's certificate, VALID
    persona, client, approved, document = issued(api)
    number = approved["certificate"]["number"]
    path = f"/applications/{approved['applicationId']}/certificate"
    # When the elder asks for it as a PDF
    printed = client.get(path, headers=PDF)
    # Then it is a one-page PDF whose text is the certificate's, with the verification URL
    assert printed.status == 200, printed.text
    assert printed.headers["Content-Type"] == "application/pdf"
    assert printed.content.startswith(b"%PDF-")
    pages = pdfium.PdfDocument(printed.content)
    text = pages[0].get_textpage().get_text_bounded().replace("\r\n", "").replace("\n", "")
    assert number in text and document["payload"]["authority"]["zh"] in text
    assert f"{api.base_url}/certificates/{number}" in text
    assert persona.application["idNumber"] not in text and persona.application["name"] not in text
    # When a bank scans the QR code on the printed page and verifies what it reads
    image = pages[0].render(scale=150 / 72).to_pil()
    [code] = zxingcpp.read_barcodes(image)
    answer = verify(api, {"qr": code.text})
    # Then it is the certificate, VALID
    assert answer["valid"] is True and answer["certificate"]["number"] == number

    # And the elder's inbox said the certificate is ready, without asking
    def ready_note() -> list[dict[str, Any]] | None:
        notes = client.get("/notifications").body["items"]
        return [n for n in notes if n["kind"] == "CERTIFICATE_ISSUED"] or None

    ready = wait_for(ready_note)
    assert [n["certificateNumber"] for n in ready] == [number]
    assert ready[0]["applicationId"] == approved["applicationId"]
    # And JSON stays the default, and someone else gets no PDF of it
    assert client.get(path).body == document
    assert api.new_applicant().get(path, headers=PDF).status == 404


def test_a_changed_byte_or_another_key_fails_verification(api: Api) -> None:
    # Given a downloaded certificate
    _persona, _client, _approved, document = issued(api)
    # When one character of it is changed
    forged = copy.deepcopy(document)
    forged["payload"]["validFrom"] = "2000" + forged["payload"]["validFrom"][4:]
    # Then it fails verification
    changed = verify(api, {"document": forged})
    assert changed["valid"] is False and changed["signature"] == "SIGNATURE_MISMATCH"
    # When the same payload is signed by a key of someone else's, named as ours
    kms = boto3.client(
        "kms",
        endpoint_url=api.info["motoEndpoint"],
        region_name=api.info["region"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    other = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    signature = kms.sign(
        KeyId=other["KeyId"],
        Message=doc.canonical(document["payload"]),
        MessageType="RAW",
        SigningAlgorithm="ECDSA_SHA_256",
    )["Signature"]
    signed = {"payload": document["payload"], "signature": base64.b64encode(signature).decode()}
    # Then it fails verification too
    foreign = verify(api, {"document": signed})
    assert foreign["valid"] is False and foreign["signature"] == "SIGNATURE_MISMATCH"


def test_a_revoked_certificate_verifies_as_revoked_within_seconds(api: Api) -> None:
    # Given a VALID certificate of an elder
    persona, client, approved, document = issued(api)
    # When an administrator puts the elder on the credit list (the re-check revokes the approval)
    listed = api.staff("admin:*").request(
        "POST",
        "/credit-list/entries",
        json={
            "subjectId": persona.application["idNumber"],
            "reasonCode": "ADMINISTRATIVE_PENALTY",
            "reason": {"zh": "示意", "en": "illustrative"},
            "validUntil": (dt.date.today() + dt.timedelta(days=30)).isoformat(),
        },
    )
    assert listed.status in (200, 201), listed.text

    def revoked() -> bool | None:
        shown = client.get(f"/applications/{approved['applicationId']}")
        return True if shown.body.get("status") == "REVOKED" else None

    wait_for(revoked)

    def verified_revoked() -> dict[str, Any] | None:
        answer = verify(api, {"document": document})
        return answer if answer["status"] == "REVOKED" else None

    # Then within seconds of the revocation the certificate verifies as REVOKED
    answer = wait_for(verified_revoked, seconds=10.0)
    assert answer["valid"] is False and answer["signature"] == "VALID"
    status = api.client(None).get(f"/certificates/{document['payload']['number']}")
    assert status.body["status"] == "REVOKED"
    # And its holder can no longer print it (the signed document stays, as JSON)
    path = f"/applications/{approved['applicationId']}/certificate"
    refused = client.get(path, headers={"Accept": "application/pdf"})
    assert refused.status == 410 and refused.body["error"]["code"] == "GONE"
    assert client.get(path).status == 200


def test_the_public_keys_are_published_and_bad_input_is_a_clear_error(api: Api) -> None:
    anyone = api.client(None)
    # Given the published keys
    keys = anyone.get("/certificates/keys")
    assert keys.status == 200 and keys.body["keys"]
    assert keys.headers.get("Cache-Control", "").startswith("public")
    # Then a malformed verification is a JSON error naming the field
    bad = anyone.request("POST", "/certificates/verify", json={"qr": "MPC1.x"})
    assert bad.status == 422 and bad.body["error"]["details"][0]["field"] == "body.qr"
    # And an unknown certificate is a 404 in the API's error format
    missing = anyone.get("/certificates/GLJT2000010100000000")
    assert missing.status == 404 and missing.body["error"]["code"] == "NOT_FOUND"
