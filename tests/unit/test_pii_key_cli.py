"""The PII hash key's backup and restore (infra/cli/pii_key.py) on moto: a restored stack hashes
an identifier as before, the file never holds the key in clear, a different key is replaced only
when asked, and a damaged or foreign file changes nothing."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from miaopi_platform.privacy.pii import PiiHasher
from moto import mock_aws
from typer.testing import CliRunner

from infra.cli.pii_key import app, fingerprint

ORIGINAL = "k" * 40 + "ORIGINALxKEYx0123456789"
ID_NUMBER = "44030119900307001X"
runner = CliRunner()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "cn-north-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("PII_KEY_SECRET_ARN", raising=False)
    monkeypatch.delenv("MIAOPI_BACKUP_KEY_ID", raising=False)
    with mock_aws():
        secrets = boto3.client("secretsmanager")
        kms = boto3.client("kms")
        arn = secrets.create_secret(Name="miaopi-PiiHashKeySecret", SecretString=ORIGINAL)["ARN"]
        key_id = kms.create_key(Description="backup")["KeyMetadata"]["KeyId"]
        yield {"secrets": secrets, "kms": kms, "arn": arn, "key_id": key_id}


def live(aws: dict[str, Any]) -> str:
    return str(aws["secrets"].get_secret_value(SecretId=aws["arn"])["SecretString"])


def version_ids(aws: dict[str, Any]) -> list[tuple[str, list[str]]]:
    versions = aws["secrets"].list_secret_version_ids(SecretId=aws["arn"])["Versions"]
    return sorted((v["VersionId"], v["VersionStages"]) for v in versions)


def export(aws: dict[str, Any], path: Path) -> Any:
    return runner.invoke(
        app, ["export", "--secret-id", aws["arn"], "--key-id", aws["key_id"], "-o", str(path)]
    )


def restore(aws: dict[str, Any], path: Path, *extra: str) -> Any:
    return runner.invoke(app, ["restore", "--secret-id", aws["arn"], "-i", str(path), *extra])


def test_a_restored_key_hashes_an_identifier_as_before(aws: dict[str, Any], tmp_path: Path) -> None:
    # Given the key's export and the hash of an ID number under it
    backup = tmp_path / "pii-key.json"
    assert export(aws, backup).exit_code == 0
    before = PiiHasher(ORIGINAL.encode()).digest(ID_NUMBER)
    # And a disaster: the secret regenerated with another value
    aws["secrets"].put_secret_value(SecretId=aws["arn"], SecretString="regenerated" * 6)

    # When restoring the export over it, as the runbook says (--force)
    result = restore(aws, backup, "--force")

    # Then the secret holds the original key again, and the ID number hashes as before
    assert result.exit_code == 0, result.output
    assert live(aws) == ORIGINAL
    hasher = PiiHasher.from_secret(aws["secrets"], aws["arn"])
    assert hasher.digest(ID_NUMBER) == before
    # And verify says the secret holds the file's key
    verified = runner.invoke(app, ["verify", "--secret-id", aws["arn"], "-i", str(backup)])
    assert verified.exit_code == 0


def test_the_export_holds_the_key_wrapped_and_a_fingerprint_only(
    aws: dict[str, Any], tmp_path: Path
) -> None:
    # When exporting the key
    backup = tmp_path / "pii-key.json"
    result = export(aws, backup)

    # Then the file names the wrapping key and the key's fingerprint, never the key itself
    assert result.exit_code == 0, result.output
    text = backup.read_text()
    doc = json.loads(text)
    assert ORIGINAL not in text and ORIGINAL not in result.output
    assert doc["fingerprint"] == fingerprint(ORIGINAL) and len(doc["fingerprint"]) == 32
    assert aws["key_id"] in doc["keyId"]
    # And only its owner may read it
    assert backup.stat().st_mode & 0o077 == 0
    # And the live secret's fingerprint is the file's
    shown = runner.invoke(app, ["fingerprint", "--secret-id", aws["arn"]])
    assert shown.output.strip() == doc["fingerprint"]


def test_a_different_key_is_replaced_only_with_force(aws: dict[str, Any], tmp_path: Path) -> None:
    # Given an export, and a secret that now holds another key
    backup = tmp_path / "pii-key.json"
    export(aws, backup)
    aws["secrets"].put_secret_value(SecretId=aws["arn"], SecretString="another" * 8)

    # When restoring without --force
    result = restore(aws, backup)

    # Then it refuses, says both fingerprints, and the secret is unchanged
    assert result.exit_code == 1
    assert fingerprint("another" * 8) in result.output
    assert fingerprint(ORIGINAL) in result.output
    assert live(aws) == "another" * 8
    # And verify reports the difference
    verified = runner.invoke(app, ["verify", "--secret-id", aws["arn"], "-i", str(backup)])
    assert verified.exit_code == 1


def test_restoring_the_key_already_in_place_changes_nothing(
    aws: dict[str, Any], tmp_path: Path
) -> None:
    # Given an export of the key the secret holds
    backup = tmp_path / "pii-key.json"
    export(aws, backup)
    versions = version_ids(aws)

    # When restoring it
    result = restore(aws, backup)

    # Then nothing is written: no new version of the secret
    assert result.exit_code == 0 and "nothing changed" in result.output
    assert version_ids(aws) == versions


def test_a_missing_secret_is_created_with_the_key(aws: dict[str, Any], tmp_path: Path) -> None:
    # Given an export, restored into a stack whose secret is gone
    backup = tmp_path / "pii-key.json"
    export(aws, backup)

    # When restoring into a secret that does not exist
    result = runner.invoke(
        app, ["restore", "--secret-id", "miaopi-restored-PiiHashKeySecret", "-i", str(backup)]
    )

    # Then it is created, holding the key
    assert result.exit_code == 0, result.output
    value = aws["secrets"].get_secret_value(SecretId="miaopi-restored-PiiHashKeySecret")
    assert value["SecretString"] == ORIGINAL


def test_a_damaged_or_foreign_file_changes_nothing(aws: dict[str, Any], tmp_path: Path) -> None:
    # Given an export whose fingerprint was altered, one that is not JSON, and a key wrapped
    # without the export's encryption context (another purpose)
    backup = tmp_path / "pii-key.json"
    export(aws, backup)
    doc = json.loads(backup.read_text())
    altered = tmp_path / "altered.json"
    altered.write_text(json.dumps({**doc, "fingerprint": "0" * 32}))
    garbage = tmp_path / "garbage.json"
    garbage.write_text("not json")
    foreign_blob = aws["kms"].encrypt(KeyId=aws["key_id"], Plaintext=b"x" * 64)["CiphertextBlob"]
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({**doc, "ciphertext": base64.b64encode(foreign_blob).decode()}))
    aws["secrets"].put_secret_value(SecretId=aws["arn"], SecretString="current" * 8)

    for path in (altered, garbage, foreign):
        # When restoring it, even with --force
        result = restore(aws, path, "--force")
        # Then it is refused with a reason, and the secret is unchanged
        assert result.exit_code == 2, (path.name, result.output)
        assert result.output.strip()
        assert live(aws) == "current" * 8


def test_an_export_never_overwrites_a_file_unasked(aws: dict[str, Any], tmp_path: Path) -> None:
    # Given an earlier export
    backup = tmp_path / "pii-key.json"
    export(aws, backup)
    first = backup.read_text()
    # When exporting to the same file again
    result = export(aws, backup)
    # Then it refuses and the file is the earlier one
    assert result.exit_code == 1 and backup.read_text() == first
