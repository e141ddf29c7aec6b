"""The running local stack's description, `.local/stack.json`: where it is, reading it, and
signing in through the stack's local identity provider.

`make run` (`infra.local.stack`) writes the file; the staff CLIs, the token helper, the demos and
the tests read it. It is a module of its own so that reading it pulls in nothing of the stack
(no moto, no deployment code): the staff CLIs import it only when they talk to the local stack,
never with `--api-url`. Tokens are minted here, in the caller's process, with the key the
stack's identity provider keeps in its state directory (infra/local/idp.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3

from infra.local.deploy import MOTO_CREDENTIAL
from infra.local.idp import Issuer, LocalIdentity, demo_user

ROOT = Path(__file__).resolve().parents[2]
#: where the local stack keeps its state (`make run --state-dir` moves it)
DEFAULT_STATE_DIR = ROOT / ".local"
#: the stack's description in its state directory
STACK_FILE_NAME = "stack.json"
DEFAULT_STACK_FILE = DEFAULT_STATE_DIR / STACK_FILE_NAME


def read_stack(stack_file: Path = DEFAULT_STACK_FILE) -> dict[str, Any]:
    """The running stack's description; FileNotFoundError (saying how to start one) if none."""
    if not stack_file.exists():
        raise FileNotFoundError(f"{stack_file} not found: start the stack with `make run`")
    info: dict[str, Any] = json.loads(stack_file.read_text())
    return info


def local_client(info: dict[str, Any], service: str) -> Any:
    """A boto3 client of the running stack's moto server (e.g. its queues or its tables)."""
    return boto3.client(  # type: ignore[call-overload]
        service,
        endpoint_url=info["motoEndpoint"],
        region_name=info["region"],
        aws_access_key_id=MOTO_CREDENTIAL,
        aws_secret_access_key=MOTO_CREDENTIAL,
    )


def issuer(info: dict[str, Any]) -> Issuer:
    """The identity provider of the stack `info` describes, able to mint its tokens."""
    return Issuer.described(info["idp"])


def token_for(
    identity: LocalIdentity, stack_file: Path = DEFAULT_STACK_FILE, **overrides: Any
) -> str:
    """A token of `identity` from the identity provider of the stack running on `stack_file`;
    `overrides` replace claims (None removes one)."""
    return issuer(read_stack(stack_file)).mint(identity, **overrides)


def identity_named(info: dict[str, Any], name: str) -> LocalIdentity:
    """A demo user's identity, or else the subject of the persona of that name (its ID number
    for a service about a person, its credit code for one about a legal person); LookupError
    when the stack has neither."""
    user = demo_user(name)
    if user is not None:
        return user.identity(info["stackName"])
    from infra.local.seed import persona_identity, read_personas  # the rules: only here

    personas_file = info.get("personasFile")
    if personas_file:
        for persona in read_personas(Path(personas_file)):
            if persona.name == name:
                return persona_identity(persona)
    raise LookupError(f"no demo user or persona named {name!r}")


def sign_in(info: dict[str, Any], name: str) -> str:
    """A token of the demo user or persona `name` from the stack `info` describes."""
    return issuer(info).mint(identity_named(info, name))


def id_token(name: str, stack_file: Path = DEFAULT_STACK_FILE) -> str:
    """A token of the demo user or persona `name` from the stack running on `stack_file`."""
    return sign_in(read_stack(stack_file), name)
