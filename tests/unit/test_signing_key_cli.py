"""Rotating the certificate signing key (infra/cli/signing_key.py) on moto: the new key is made
as the old one is, the printed overrides make it sign while the old key stays published, and a
certificate signed before the rotation still verifies after it."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from miaopi_platform.certificates import document as doc
from miaopi_platform.certificates.signing import CertificateSigner
from moto import mock_aws
from typer.testing import CliRunner

from infra.cli.signing_key import KEY_RESOURCE, PUBLISHED_PARAMETER, SIGNING_PARAMETER, app
from infra.local.template import load_yaml

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def kms(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "cn-north-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.client("kms")


def signing_key(kms: Any) -> str:
    """A key as template.yaml's CertificateSigningKey is made."""
    made = kms.create_key(
        Description="miaopi e-certificate signing key",
        KeyUsage="SIGN_VERIFY",
        KeySpec="ECC_NIST_P256",
    )
    return str(made["KeyMetadata"]["KeyId"])


def signed(signer: CertificateSigner) -> tuple[dict[str, Any], bytes]:
    body = doc.payload(
        number="GLJT2026113000000001",
        kind="ALLOWANCE_APPROVAL",
        title={"zh": "高龄津贴", "en": "Elderly allowance"},
        authority={"id": "baoan-civil-affairs", "zh": "宝安区民政局", "en": "Bao'an Civil Affairs"},
        service="elderly-allowance",
        holder={"name": "张*", "idHash": "ab" * 32},
        issued_at=dt.datetime(2026, 11, 30, 4, tzinfo=dt.UTC),
        decision_id="DEC1",
        rule_set_version="2026.1",
        rule_set_hash="c" * 64,
        key_id=signer.key_id,
        algorithm=signer.algorithm,
    )
    return dict(body), signer.sign(doc.canonical(body))


def test_a_rotation_signs_with_a_new_key_and_the_old_certificates_still_verify(kms: Any) -> None:
    # Given a certificate signed by the stack's key, and a key published from an earlier rotation
    old, earlier = signing_key(kms), signing_key(kms)
    body, signature = signed(CertificateSigner(kms, old, (earlier,)))
    # When ops rotate
    answer = runner.invoke(app, ["rotate", "--active", old, "--published", earlier])
    # Then a new key is made as the old one is, and the overrides to deploy with are printed
    assert answer.exit_code == 0, answer.output
    text = answer.output.replace("\n", "")
    new = re.search(rf"{SIGNING_PARAMETER}=(\S+)", text).group(1)  # type: ignore[union-attr]
    published = re.search(rf"{PUBLISHED_PARAMETER}=(\S+)", text).group(1)  # type: ignore[union-attr]
    assert published == f"{old},{earlier}"
    made = kms.describe_key(KeyId=new)["KeyMetadata"]
    assert (made["KeySpec"], made["KeyUsage"]) == ("ECC_NIST_P256", "SIGN_VERIFY")
    # And deployed with them, new certificates name the new key, the old one still verifies
    rotated = CertificateSigner(kms, new, tuple(published.split(",")))
    assert rotated.key_id == new and set(rotated.keys) == {new, old, earlier}
    assert doc.check_signature(body, signature, rotated.keys).valid
    fresh_body, fresh_signature = signed(rotated)
    assert fresh_body["keyId"] == new
    assert doc.check_signature(fresh_body, fresh_signature, rotated.keys).valid


def test_a_key_that_cannot_sign_is_refused_and_nothing_is_made(kms: Any) -> None:
    # Given a symmetric key named by mistake
    wrong = kms.create_key(Description="data key")["KeyMetadata"]["KeyId"]
    before = len(kms.list_keys()["Keys"])
    # When ops rotate from it
    answer = runner.invoke(app, ["rotate", "--active", wrong])
    # Then it is refused, and no key is made
    assert answer.exit_code == 1 and "not an enabled signing key" in answer.output
    assert len(kms.list_keys()["Keys"]) == before


STACK_TEMPLATE = """
Parameters:
  CertificateSigningKeyId: {Type: String, Default: ""}
  CertificatePublishedKeyIds: {Type: String, Default: ""}
Resources:
  CertificateSigningKey:
    Type: AWS::KMS::Key
    Properties:
      KeySpec: ECC_NIST_P256
      KeyUsage: SIGN_VERIFY
      KeyPolicy: {Version: "2012-10-17", Statement: []}
"""


def test_a_second_rotation_read_from_the_stack_keeps_every_key_published(kms: Any) -> None:
    # Given a deployed stack already rotated once: a later key signs, its own key is published
    cloudformation = boto3.client("cloudformation")
    cloudformation.create_stack(StackName="miaopi-prod", TemplateBody=STACK_TEMPLATE)
    own = cloudformation.describe_stack_resource(
        StackName="miaopi-prod", LogicalResourceId="CertificateSigningKey"
    )["StackResourceDetail"]["PhysicalResourceId"]
    later = signing_key(kms)
    cloudformation.update_stack(
        StackName="miaopi-prod",
        TemplateBody=STACK_TEMPLATE,
        Parameters=[
            {"ParameterKey": SIGNING_PARAMETER, "ParameterValue": later},
            {"ParameterKey": PUBLISHED_PARAMETER, "ParameterValue": own},
        ],
    )
    # When ops rotate again, naming only the stack
    answer = runner.invoke(app, ["rotate", "--stack", "miaopi-prod"])
    # Then the key signing now and the stack's own key both stay published
    assert answer.exit_code == 0, answer.output
    text = answer.output.replace("\n", "")
    published = re.search(rf"{PUBLISHED_PARAMETER}=(\S+)", text).group(1)  # type: ignore[union-attr]
    assert published == f"{later},{own}"


def test_the_names_the_cli_reads_are_the_templates() -> None:
    # Given the deployed template
    template = load_yaml(ROOT / "template.yaml")
    # Then the parameters a rotation sets, and the key it starts from, are the template's own
    assert {SIGNING_PARAMETER, PUBLISHED_PARAMETER} <= set(template["Parameters"])
    assert template["Resources"][KEY_RESOURCE]["Type"] == "AWS::KMS::Key"
