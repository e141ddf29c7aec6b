"""`python -m infra.cli.pii_key`: back up and restore the PII hash key (template.yaml's
PiiHashKeySecret), the HMAC key of every stored hash of a personal identifier.

Every applicant id, credit-list entry and subject index is a keyed hash: a stack whose secret
was regenerated still runs, but no stored hash matches again. So the key is exported, wrapped
by a KMS key (the stack's BackupKey, or a key of a backup account), to a file kept offline, and
restored into the secret after a disaster:

    python -m infra.cli.pii_key export --secret-id ARN --key-id KEY -o pii-key.json
    python -m infra.cli.pii_key verify -i pii-key.json --secret-id ARN   # exit 1 if they differ
    python -m infra.cli.pii_key fingerprint --secret-id ARN
    python -m infra.cli.pii_key restore -i pii-key.json --secret-id ARN [--force]

The file holds the key encrypted (KMS Encrypt, with an encryption context naming its purpose),
never in clear, and a fingerprint (an HMAC of a fixed text under the key) that names the key
without revealing it: compare it with `fingerprint` of the live secret. `restore` writes the key
only when the secret holds another one and --force says so, since that changes what every new
hash will be; Secrets Manager keeps the replaced value as the AWSPREVIOUS version.
`--secret-id` defaults to $PII_KEY_SECRET_ARN (the functions' variable), `--key-id` to
$MIAOPI_BACKUP_KEY_ID. AWS credentials and region come from the environment (AWS_ENDPOINT_URL
too, for moto). Exit status: 0 done, 1 refused or different, 2 the file or AWS failed.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import boto3
import typer
from botocore.exceptions import BotoCoreError, ClientError

FORMAT = "miaopi-pii-key-export/1"
#: bound into the ciphertext: a file wrapped for another purpose does not decrypt as this one
CONTEXT = {"purpose": "miaopi-pii-hash-key"}
_FINGERPRINT_TEXT = b"miaopi pii hash key fingerprint"

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)

SecretId = Annotated[
    str,
    typer.Option("--secret-id", envvar="PII_KEY_SECRET_ARN", help="the secret's ARN or name"),
]
KeyId = Annotated[
    str,
    typer.Option("--key-id", envvar="MIAOPI_BACKUP_KEY_ID", help="the KMS key that wraps it"),
]
InFile = Annotated[Path, typer.Option("--in", "-i", help="an export file")]


def fingerprint(key: str) -> str:
    """Names a key without revealing it: an HMAC of a fixed text under the key (32 hex)."""
    return hmac.new(key.encode("utf-8"), _FINGERPRINT_TEXT, hashlib.sha256).hexdigest()[:32]


@dataclass(frozen=True)
class Export:
    """What an export file holds."""

    key_id: str
    secret_id: str
    exported_at: str
    fingerprint: str
    ciphertext: bytes

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "keyId": self.key_id,
                "secretId": self.secret_id,
                "exportedAt": self.exported_at,
                "fingerprint": self.fingerprint,
                "ciphertext": base64.b64encode(self.ciphertext).decode("ascii"),
            },
            indent=2,
        )

    @classmethod
    def read(cls, path: Path) -> Export:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise Failure(f"{path}: not an export file ({exc.__class__.__name__})") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise Failure(f"{path}: not a {FORMAT} file")
        try:
            return cls(
                key_id=str(doc["keyId"]),
                secret_id=str(doc["secretId"]),
                exported_at=str(doc["exportedAt"]),
                fingerprint=str(doc["fingerprint"]),
                ciphertext=base64.b64decode(doc["ciphertext"], validate=True),
            )
        except (KeyError, ValueError) as exc:
            raise Failure(f"{path}: incomplete or damaged ({exc.__class__.__name__})") from None


class Failure(Exception):
    """A refusal or an error to report with exit status `code`."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Clients:
    secrets: Any
    kms: Any

    @classmethod
    def create(cls) -> Clients:
        return cls(boto3.client("secretsmanager"), boto3.client("kms"))


def _aws(what: str, call: Any, **kwargs: Any) -> Any:
    try:
        return call(**kwargs)
    except (ClientError, BotoCoreError) as exc:
        code = exc.response["Error"]["Code"] if isinstance(exc, ClientError) else type(exc).__name__
        raise Failure(f"{what} failed: {code}") from None


def live_key(clients: Clients, secret_id: str) -> str | None:
    """The secret's current value, None when there is no such secret."""
    try:
        return str(clients.secrets.get_secret_value(SecretId=secret_id)["SecretString"])
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ResourceNotFoundException":
            return None
        raise Failure(f"reading the secret failed: {exc.response['Error']['Code']}") from None


def export_key(clients: Clients, secret_id: str, key_id: str, now: dt.datetime) -> Export:
    key = live_key(clients, secret_id)
    if key is None:
        raise Failure(f"no secret {secret_id}")
    wrapped = _aws(
        "wrapping the key (KMS Encrypt)",
        clients.kms.encrypt,
        KeyId=key_id,
        Plaintext=key.encode("utf-8"),
        EncryptionContext=CONTEXT,
    )
    return Export(
        key_id=str(wrapped["KeyId"]),
        secret_id=secret_id,
        exported_at=now.isoformat(timespec="seconds"),
        fingerprint=fingerprint(key),
        ciphertext=bytes(wrapped["CiphertextBlob"]),
    )


def unwrap(clients: Clients, export: Export) -> str:
    """The key an export holds, checked against its fingerprint."""
    plain = _aws(
        "unwrapping the key (KMS Decrypt)",
        clients.kms.decrypt,
        CiphertextBlob=export.ciphertext,
        KeyId=export.key_id,
        EncryptionContext=CONTEXT,
    )
    key = bytes(plain["Plaintext"]).decode("utf-8")
    if not hmac.compare_digest(fingerprint(key), export.fingerprint):
        raise Failure("the unwrapped key does not match the file's fingerprint")
    return key


def restore_key(clients: Clients, export: Export, secret_id: str, *, force: bool) -> str:
    """Puts the exported key into the secret; what happened, in words."""
    key = unwrap(clients, export)
    current = live_key(clients, secret_id)
    if current is None:
        _aws("creating the secret", clients.secrets.create_secret, Name=secret_id, SecretString=key)
        return f"created {secret_id} with the key {export.fingerprint}"
    if hmac.compare_digest(current, key):
        return f"{secret_id} already holds the key {export.fingerprint}: nothing changed"
    if not force:
        raise Failure(
            f"{secret_id} holds another key ({fingerprint(current)}, not {export.fingerprint}):"
            " replacing it changes every hash computed from now on. Run again with --force if"
            " this stack's hashes were made with the exported key.",
            code=1,
        )
    _aws(
        "writing the secret", clients.secrets.put_secret_value, SecretId=secret_id, SecretString=key
    )
    return f"{secret_id} now holds the key {export.fingerprint} (was {fingerprint(current)})"


def _run(action: Any) -> None:
    try:
        message = action()
    except Failure as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(exc.code) from None
    typer.echo(message)


@app.command("export")
def export_command(
    secret_id: SecretId,
    key_id: KeyId,
    out: Annotated[Path, typer.Option("--out", "-o", help="the file to write (mode 600)")],
    overwrite: Annotated[bool, typer.Option(help="replace an existing file")] = False,
) -> None:
    """Write the key, wrapped by the KMS key, to a file."""

    def action() -> str:
        if out.exists() and not overwrite:
            raise Failure(f"{out} exists (--overwrite to replace it)", code=1)
        export = export_key(Clients.create(), secret_id, key_id, dt.datetime.now(dt.UTC))
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(export.to_json() + "\n")
        return f"exported the key {export.fingerprint} wrapped by {export.key_id} to {out}"

    _run(action)


@app.command()
def verify(secret_id: SecretId, in_file: InFile) -> None:
    """Whether the secret holds the key the file holds (exit 1 if not)."""

    def action() -> str:
        clients = Clients.create()
        export = Export.read(in_file)
        key = unwrap(clients, export)
        current = live_key(clients, secret_id)
        if current is None or not hmac.compare_digest(current, key):
            live = "no secret" if current is None else fingerprint(current)
            raise Failure(f"{secret_id} holds {live}, the file {export.fingerprint}", code=1)
        return f"{secret_id} holds the file's key {export.fingerprint}"

    _run(action)


@app.command("fingerprint")
def fingerprint_command(secret_id: SecretId) -> None:
    """The live key's fingerprint, to compare with an export file's."""

    def action() -> str:
        key = live_key(Clients.create(), secret_id)
        if key is None:
            raise Failure(f"no secret {secret_id}", code=1)
        return fingerprint(key)

    _run(action)


@app.command()
def restore(
    secret_id: SecretId,
    in_file: InFile,
    force: Annotated[bool, typer.Option(help="replace a different key the secret holds")] = False,
) -> None:
    """Put the file's key into the secret (create it if missing)."""
    _run(lambda: restore_key(Clients.create(), Export.read(in_file), secret_id, force=force))


if __name__ == "__main__":
    app()
