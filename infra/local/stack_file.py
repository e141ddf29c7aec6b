"""The running local stack's description, `.local/stack.json`: where it is, reading it, and
signing in through the stack's Cognito.

`make run` (`infra.local.stack`) writes the file; the staff CLIs, the token helper, the demos and
the tests read it. It is a module of its own so that reading it pulls in nothing of the stack
(no moto, no deployment code): the staff CLIs import it only when they talk to the local stack,
never with `--api-url`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3

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
    """A boto3 client of the running stack's moto server (e.g. its queues or its user pool)."""
    return boto3.client(  # type: ignore[call-overload]
        service,
        endpoint_url=info["motoEndpoint"],
        region_name=info["region"],
        aws_access_key_id="testing",  # moto's fake credentials
        aws_secret_access_key="testing",  # noqa: S106
    )


def sign_in(info: dict[str, Any], username: str, password: str | None = None) -> str:
    """An ID token (ADMIN_USER_PASSWORD_AUTH) from the user pool of the stack `info` describes;
    the demo users' password unless another is given."""
    result = local_client(info, "cognito-idp").admin_initiate_auth(
        UserPoolId=info["userPoolId"],
        ClientId=info["userPoolClientId"],
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": password or info["demoPassword"]},
    )
    return str(result["AuthenticationResult"]["IdToken"])


def id_token(
    username: str, password: str | None = None, stack_file: Path = DEFAULT_STACK_FILE
) -> str:
    """An ID token from the user pool of the stack running on `stack_file`."""
    return sign_in(read_stack(stack_file), username, password)
