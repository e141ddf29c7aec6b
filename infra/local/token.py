"""`python -m infra.local.token USERNAME`: print an ID token of a demo user (running stack)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import boto3

from infra.local.stack import DEFAULT_STATE_DIR


def read_stack(stack_file: Path = DEFAULT_STATE_DIR / "stack.json") -> dict[str, Any]:
    if not stack_file.exists():
        raise FileNotFoundError(f"{stack_file} not found: start the stack with `make run`")
    info: dict[str, Any] = json.loads(stack_file.read_text())
    return info


def id_token(
    username: str,
    password: str | None = None,
    stack_file: Path = DEFAULT_STATE_DIR / "stack.json",
) -> str:
    """An ID token (ADMIN_USER_PASSWORD_AUTH) from the running stack's user pool."""
    info = read_stack(stack_file)
    idp = boto3.client(
        "cognito-idp",
        endpoint_url=info["motoEndpoint"],
        region_name=info["region"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto's fake credentials
    )
    result = idp.admin_initiate_auth(
        UserPoolId=info["userPoolId"],
        ClientId=info["userPoolClientId"],
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": password or info["demoPassword"]},
    )
    return str(result["AuthenticationResult"]["IdToken"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.local.token", description=__doc__)
    parser.add_argument("username", help="citizen, citizen2, reviewer, auditor or admin")
    parser.add_argument("--password", default=None)
    parser.add_argument("--stack-file", type=Path, default=DEFAULT_STATE_DIR / "stack.json")
    args = parser.parse_args(argv)
    try:
        print(id_token(args.username, args.password, args.stack_file))
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
