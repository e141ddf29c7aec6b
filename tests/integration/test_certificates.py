"""Signed e-certificates in process: an approval's certificate is ISSUING at submit, signed from
the decisions stream, verified by anyone through the public routes; a changed byte or another key
fails; a revocation turns it REVOKED, whatever order the stream delivers in; bad input changes
nothing."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
from typing import Any

import boto3
import pypdfium2 as pdfium
import pytest
from miaopi.workdays import CHINA
from miaopi_platform.aws.dynamo import from_item
from miaopi_platform.certificates import document as doc

from infra.local.seed import Persona
from tests.integration.conftest import OTHER, Invoke, Stack, _Context, insert_event
from tests.integration.test_review_flow import Review, review
from tests.integration.test_supervision import ELDERLY, Supervision, clean_elder, sup

__all__ = ["review", "sup"]  # the fixtures, used by the tests below

PUBLIC = "CertificatesFunction"


class Certificates:
    def __init__(self, stack: Stack, invoke: Invoke, sup: Supervision) -> None:
        self.stack, self.invoke, self.sup = stack, invoke, sup

    def issue(self, *items: dict[str, Any]) -> dict[str, Any]:
        """The decisions stream's INSERT records for these items, through the issuer."""
        module = self.stack.module("CertificateIssuerFunction")
        answer: dict[str, Any] = module.lambda_handler(insert_event(*items), _Context("issuer"))
        return answer

    def register(self) -> list[dict[str, Any]]:
        return [from_item(i) for i in self.stack.items("CERTIFICATES_TABLE")]

    def get(self, number: str) -> dict[str, Any]:
        return self.invoke(
            PUBLIC,
            "GET",
            "/certificates/{number}",
            f"/certificates/{number}",
            path_parameters={"number": number},
        )

    def verify(self, body: Any = None, **kw: Any) -> dict[str, Any]:
        return self.invoke(
            PUBLIC, "POST", "/certificates/verify", "/certificates/verify", body=body, **kw
        )

    def keys(self) -> dict[str, Any]:
        return self.invoke(PUBLIC, "GET", "/certificates/keys", "/certificates/keys")

    def document(self, persona: Persona, application_id: str, caller: Any = None) -> Any:
        return self.invoke(
            PUBLIC,
            "GET",
            "/applications/{applicationId}/certificate",
            f"/applications/{application_id}/certificate",
            path_parameters={"applicationId": application_id},
            caller=caller or self.stack.applicant(ELDERLY, persona.application),
        )

    def approved(self) -> tuple[Persona, dict[str, Any], dict[str, Any]]:
        """A fresh elder's automatic approval, its certificate issued; (persona, submit answer,
        the approval's stored record)."""
        persona = self.stack.fresh(clean_elder(self.stack))
        approved = self.sup.apply(persona)
        [approval] = self.sup.records(approved["applicationId"])
        assert self.issue(approval) == {"batchItemFailures": []}
        return persona, approved, approval


@pytest.fixture
def certs(stack: Stack, invoke: Invoke, sup: Supervision) -> Certificates:
    stack.clear("CERTIFICATES_TABLE")
    return Certificates(stack, invoke, sup)


def test_an_approval_is_issuing_at_once_then_signed_and_verifies(
    certs: Certificates, stack: Stack
) -> None:
    # Given an elder's automatic approval, answered with its certificate number at once
    persona = stack.fresh(clean_elder(stack))
    approved = certs.sup.apply(persona)
    certificate = approved["certificate"]
    number = certificate["number"]
    assert certificate["status"] == "ISSUING"
    assert certificate["verificationPath"] == f"/certificates/{number}"
    assert certificate["verificationUrl"].endswith(f"/v1/certificates/{number}")
    [approval] = certs.sup.records(approved["applicationId"])
    # When the decisions stream delivers the approval to the certificate issuer
    assert certs.issue(approval) == {"batchItemFailures": []}
    # Then anyone sees it VALID, with what it prints: kind, authority, date, the masked holder
    shown = certs.get(number)
    assert shown["statusCode"] == 200 and shown["headers"]["cache-control"].startswith("public")
    body = shown["json"]
    assert body["status"] == "VALID"
    assert body["certificate"]["kind"] == "ALLOWANCE_APPROVAL"
    assert body["certificate"]["authority"]["zh"] == "深圳市宝安区民政局"
    submitted = dt.datetime.fromisoformat(approved["submittedAt"])
    assert body["certificate"]["issuedOn"] == submitted.astimezone(CHINA).date().isoformat()
    name = persona.application["name"]
    assert body["certificate"]["holderName"] == name[0] + "*" * (len(name) - 1)
    # And nothing personal beyond that: no ID number, no full name, no hashes, no application
    text = json.dumps(body, ensure_ascii=False)
    assert persona.application["idNumber"] not in text
    assert "idHash" not in text and approved["applicationId"] not in text
    # And the holder downloads the signed document; it verifies as the QR code's text does
    document = certs.document(persona, approved["applicationId"])["json"]
    assert document["payload"]["number"] == number
    assert document["payload"]["decisionId"] == approval["decisionId"]["S"]
    checked = certs.verify({"document": document})["json"]
    assert checked["valid"] is True and checked["signature"] == "VALID"
    assert checked["status"] == "VALID"
    qr = certs.verify({"qr": doc.qr_text(document)})["json"]
    assert qr["valid"] is True and qr["certificate"]["number"] == number
    # And the application shows it VALID now
    assert certs.sup.application(approved["applicationId"])["certificate"]["status"] == "VALID"


def test_a_redelivered_approval_signs_nothing_again(certs: Certificates) -> None:
    # Given an approval whose certificate was issued
    _persona, _approved, approval = certs.approved()
    before = certs.register()
    # When the stream delivers it again
    assert certs.issue(approval) == {"batchItemFailures": []}
    # Then the register holds the same signed document
    assert certs.register() == before and len(before) == 1


def test_a_changed_byte_or_another_key_fails_verification(certs: Certificates) -> None:
    # Given a downloaded certificate
    persona, approved, _approval = certs.approved()
    document = certs.document(persona, approved["applicationId"])["json"]
    # When one character of what it certifies is changed
    forged = copy.deepcopy(document)
    forged["payload"]["issuedOn"] = forged["payload"]["issuedOn"].replace("-", "/", 1)
    changed = certs.verify({"document": forged})["json"]
    # Then the signature no longer holds, and nothing is said of the real certificate
    assert changed["valid"] is False and changed["signature"] == "SIGNATURE_MISMATCH"
    assert changed["status"] == "UNKNOWN" and "certificate" not in changed
    # When the same payload is signed by another key (naming it, or naming ours)
    kms = boto3.client("kms")
    other = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    for key_id, expected in ((other["KeyId"], "UNKNOWN_KEY"), (None, "SIGNATURE_MISMATCH")):
        payload = dict(document["payload"], keyId=key_id or document["payload"]["keyId"])
        signature = kms.sign(
            KeyId=other["KeyId"],
            Message=doc.canonical(payload),
            MessageType="RAW",
            SigningAlgorithm="ECDSA_SHA_256",
        )["Signature"]
        signed = {"payload": payload, "signature": base64.b64encode(signature).decode()}
        answer = certs.verify({"document": signed})["json"]
        # Then it fails verification
        assert answer["valid"] is False and answer["signature"] == expected


def test_a_revoked_certificate_verifies_as_revoked(certs: Certificates, stack: Stack) -> None:
    # Given an issued certificate whose approval supervision revokes (false household data)
    persona, approved, approval = certs.approved()
    document = certs.document(persona, approved["applicationId"])["json"]
    certs.sup.guard_credit(approval["subjectHash"]["S"])
    certs.sup.change_reference(persona, "population", {"hukouCity": "广州市"})
    assert certs.sup.deliver(approval) == {"batchItemFailures": []}
    _first, revocation = certs.sup.records(approved["applicationId"])
    # When the revocation's stream record reaches the issuer
    assert certs.issue(revocation) == {"batchItemFailures": []}
    # Then the certificate verifies as REVOKED: the signature holds, the status does not
    answer = certs.verify({"document": document})["json"]
    assert answer["signature"] == "VALID" and answer["status"] == "REVOKED"
    assert answer["valid"] is False and answer["revokedAt"]
    assert certs.get(document["payload"]["number"])["json"]["status"] == "REVOKED"


def test_a_revocation_delivered_before_its_approval_stays_revoked(
    certs: Certificates, stack: Stack
) -> None:
    # Given an approval revoked by supervision, neither record yet seen by the issuer
    persona = stack.fresh(clean_elder(stack))
    approved = certs.sup.apply(persona)
    [approval] = certs.sup.records(approved["applicationId"])
    certs.sup.guard_credit(approval["subjectHash"]["S"])
    certs.sup.change_reference(persona, "population", {"hukouCity": "广州市"})
    assert certs.sup.deliver(approval) == {"batchItemFailures": []}
    _first, revocation = certs.sup.records(approved["applicationId"])
    # When the stream delivers the revocation first, then the approval
    assert certs.issue(revocation) == {"batchItemFailures": []}
    assert certs.issue(approval) == {"batchItemFailures": []}
    # Then the certificate is signed and REVOKED
    [item] = certs.register()
    assert item["status"] == "REVOKED" and "signature" in item


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({}, 422, "body"),
        ({"qr": "MPC1.not-base64!.x"}, 422, "body.qr"),
        ({"qr": "hello"}, 422, "body.qr"),
        ({"document": {"payload": {}, "signature": "%%%"}}, 422, "body.document.signature"),
        ({"document": {"payload": {}, "signature": ""}, "qr": "MPC1.a.b"}, 422, "body"),
    ],
)
def test_bad_verification_requests_are_clear_errors_and_change_nothing(
    certs: Certificates, body: Any, status: int, field: str
) -> None:
    # Given the register with one certificate
    certs.approved()
    before = certs.register()
    # When someone sends a malformed verification
    answer = certs.verify(body)
    # Then a JSON error names the field, and nothing changed
    assert answer["statusCode"] == status
    fields = [d.get("field", "") for d in answer["json"]["error"]["details"]]
    assert any(f.startswith(field) for f in fields), fields
    assert certs.register() == before


def test_unknown_numbers_other_peoples_certificates_and_non_json_are_refused(
    certs: Certificates,
) -> None:
    # Given an issued certificate
    persona, approved, _approval = certs.approved()
    # Then a number nobody issued is a 404, a malformed one a 422
    assert certs.get("GLJT2026113000000000")["statusCode"] == 404
    assert certs.get("not-a-number")["statusCode"] == 422
    # And someone else's application's certificate is as absent as one that does not exist
    assert certs.document(persona, approved["applicationId"], caller=OTHER)["statusCode"] == 404
    # And a body that is not JSON is a 400/415, not a verification
    raw = certs.verify(raw_body="qr=1", headers={"Content-Type": "text/plain"})
    assert raw["statusCode"] == 415


def test_the_published_keys_verify_a_certificate_offline(certs: Certificates) -> None:
    # Given a downloaded certificate and the published keys
    persona, approved, _approval = certs.approved()
    document = certs.document(persona, approved["applicationId"])["json"]
    keys = certs.keys()
    assert keys["headers"]["cache-control"].startswith("public")
    published = {k["keyId"]: k for k in keys["json"]["keys"]}
    # Then the key the document names is published as PEM and JWK, and checks it offline
    key = published[document["payload"]["keyId"]]
    assert key["pem"].startswith("-----BEGIN PUBLIC KEY-----")
    assert key["jwk"]["crv"] == "P-256" and key["jwk"]["kid"] == key["keyId"]
    body, signature = doc.from_document(document)
    assert doc.check_signature(body, signature, published).valid


def test_a_reviewers_approval_issues_a_certificate(certs: Certificates, review: Review) -> None:
    # Given a referred graduate-hukou application a reviewer approves
    app_id = review.refer(key="key-cert-review")
    review.start(app_id)
    review.deliver_tasks(1, app_id)
    task = next(
        t for t in review.api("GET", "/reviews")["json"]["items"] if t["applicationId"] == app_id
    )
    decided = review.api(
        "POST", f"/reviews/{task['taskId']}/decision", body={"decision": "APPROVE"}
    )
    assert decided["statusCode"] == 202, decided["json"]
    assert review.wait_finished(app_id)["status"] == "SUCCEEDED"
    referral, approval = review.decisions(app_id)
    number = review.application(app_id)["certificate"]["number"]
    # When the decisions stream delivers both records to the issuer
    assert certs.issue(referral, approval) == {"batchItemFailures": []}
    # Then the reviewer's approval's certificate is signed, VALID, and names that decision
    shown = certs.get(number)["json"]
    assert shown["status"] == "VALID" and shown["certificate"]["kind"] == (
        "TALENT_INTRODUCTION_APPROVAL"
    )
    [item] = certs.register()
    assert item["decisionId"] == approval["decisionId"]["S"]


def test_the_holder_prints_the_certificate_with_a_link_to_where_it_is_checked(
    certs: Certificates,
) -> None:
    # Given an elder's issued certificate
    persona, approved, _approval = certs.approved()
    number = approved["certificate"]["number"]
    # When the elder asks for it as a PDF, through the API's address
    printed = certs.invoke(
        PUBLIC,
        "GET",
        "/applications/{applicationId}/certificate",
        f"/applications/{approved['applicationId']}/certificate",
        path_parameters={"applicationId": approved["applicationId"]},
        headers={"Accept": "application/pdf", "Host": "api.example.cn"},
        caller=certs.stack.applicant(ELDERLY, persona.application),
    )
    # Then it is a PDF, base64 for API Gateway to send as bytes, never cached by others
    assert printed["statusCode"] == 200, printed.get("body")
    assert printed["headers"]["content-type"] == "application/pdf"
    assert printed["isBase64Encoded"] is True
    assert printed["headers"]["cache-control"] == "private, no-store"
    content = base64.b64decode(printed["body"])
    assert content.startswith(b"%PDF-")
    # And it links to the public status under the address the request came to (https, stage)
    text = pdfium.PdfDocument(content)[0].get_textpage().get_text_bounded()
    assert f"https://api.example.cn/v1/certificates/{number}" in text.replace("\r\n", "")
