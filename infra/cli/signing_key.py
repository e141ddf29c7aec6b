"""`python -m infra.cli.signing_key`: rotate the e-certificate signing key (docs/certificates.md).

KMS cannot rotate an asymmetric key, so a rotation is a new key beside the old one: new
certificates name the new key, and the old one stays published (GET /certificates/keys) so the
certificates it signed keep verifying. This makes the new key as the old one is (key spec,
usage, key policy, description) and prints the two template parameters to deploy with:

    python -m infra.cli.signing_key show --stack miaopi-prod
    python -m infra.cli.signing_key rotate --stack miaopi-prod
    python -m infra.cli.signing_key rotate --active KEY [--published K1,K2]   # without a stack
    sam deploy --parameter-overrides \
        CertificateSigningKeyId=NEW CertificatePublishedKeyIds=KEY,K1,K2

With `--stack` the keys are read from the deployed stack (its CertificateSigningKeyId, else its
CertificateSigningKey, and its CertificatePublishedKeyIds), so no key in use can be left out.
Otherwise `--active` is the key that signs now and `--published` the stack's
CertificatePublishedKeyIds. Never schedule
an old key's deletion while certificates it signed are valid: disable its `kms:Sign` in its key
policy instead. AWS credentials and region come from the environment (AWS_ENDPOINT_URL too, for
moto). Exit status: 0 done, 1 refused (a key that cannot sign), 2 AWS failed.
"""

from __future__ import annotations

from typing import Annotated, Any

import boto3
import typer
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.table import Table

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)
console = Console()

Active = Annotated[str, typer.Option("--active", help="the key id that signs now")]
Published = Annotated[
    str, typer.Option("--published", help="CertificatePublishedKeyIds (comma-separated)")
]
Stack = Annotated[str, typer.Option("--stack", help="read the keys from this deployed stack")]
#: the template's own signing key (template.yaml)
KEY_RESOURCE = "CertificateSigningKey"
#: the parameters a rotation sets (template.yaml)
SIGNING_PARAMETER = "CertificateSigningKeyId"
PUBLISHED_PARAMETER = "CertificatePublishedKeyIds"


def _ids(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _describe(kms: Any, key_id: str) -> dict[str, Any]:
    metadata: dict[str, Any] = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    return metadata


def from_stack(cloudformation: Any, stack: str) -> tuple[str, list[str]]:
    """(the key that signs, the keys published) as the deployed stack has them."""
    [described] = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    given = {
        p["ParameterKey"]: p.get("ParameterValue", "") for p in described.get("Parameters", [])
    }
    active = given.get(SIGNING_PARAMETER, "")
    if not active:
        resource = cloudformation.describe_stack_resource(
            StackName=stack, LogicalResourceId=KEY_RESOURCE
        )["StackResourceDetail"]
        active = str(resource["PhysicalResourceId"])
    return active, _ids(given.get(PUBLISHED_PARAMETER, ""))


def _keys(stack: str, active: str, published: str) -> tuple[str, list[str]]:
    if stack:
        return from_stack(boto3.client("cloudformation"), stack)
    if not active:
        console.print("[red]say --stack, or --active (and --published)[/]")
        raise typer.Exit(1)
    return active, _ids(published)


def overrides(new_key: str, active: str, published: list[str]) -> dict[str, str]:
    """The template parameters after a rotation: the new key signs, every earlier one stays
    published (the one that signed until now first), none twice."""
    earlier = list(dict.fromkeys([active, *published]))
    return {SIGNING_PARAMETER: new_key, PUBLISHED_PARAMETER: ",".join(earlier)}


def rotate_key(kms: Any, active: str) -> str:
    """A new signing key made as `active` is; its id. ValueError for a key that cannot sign."""
    old = _describe(kms, active)
    if old.get("KeyUsage") != "SIGN_VERIFY" or old.get("KeyState") != "Enabled":
        raise ValueError(f"key {active} is not an enabled signing key")
    policy = kms.get_key_policy(KeyId=active, PolicyName="default")["Policy"]
    made = kms.create_key(
        Description=str(old.get("Description") or "miaopi e-certificate signing key"),
        KeyUsage="SIGN_VERIFY",
        KeySpec=old["KeySpec"],
        Policy=policy,
        Tags=[{"TagKey": "rotatedFrom", "TagValue": old["KeyId"]}],
    )
    return str(made["KeyMetadata"]["KeyId"])


@app.command()
def show(stack: Stack = "", active: Active = "", published: Published = "") -> None:
    """The keys that sign and are published, with their state and spec."""
    kms = boto3.client("kms")
    table = Table(title="certificate signing keys")
    for column in ("key", "role", "spec", "state", "created"):
        table.add_column(column)
    try:
        signing, earlier = _keys(stack, active, published)
        for n, key in enumerate(dict.fromkeys([signing, *earlier])):
            meta = _describe(kms, key)
            role = "signs" if n == 0 else "published"
            created = str(meta.get("CreationDate", ""))[:19]
            table.add_row(key, role, meta.get("KeySpec", ""), meta.get("KeyState", ""), created)
    except (ClientError, BotoCoreError) as exc:
        console.print(f"[red]KMS: {type(exc).__name__}[/]")
        raise typer.Exit(2) from None
    console.print(table)


@app.command()
def rotate(stack: Stack = "", active: Active = "", published: Published = "") -> None:
    """Make the next signing key and print the parameter overrides to deploy with."""
    kms = boto3.client("kms")
    try:
        active, earlier = _keys(stack, active, published)
        new_key = rotate_key(kms, active)
    except ValueError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    except (ClientError, BotoCoreError) as exc:
        console.print(f"[red]KMS: {type(exc).__name__}[/]")
        raise typer.Exit(2) from None
    values = overrides(new_key, active, earlier)
    console.print(f"new signing key {new_key} (made as {active} is)")
    console.print("deploy with:")
    console.print(
        "  sam deploy --parameter-overrides "
        + " ".join(f"{name}={value}" for name, value in values.items()),
        soft_wrap=True,
    )


if __name__ == "__main__":
    app()
