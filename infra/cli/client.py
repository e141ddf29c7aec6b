"""The staff CLIs' connection to the API: a signed-in HTTP client and the shared options.

Against the local stack (default) the CLI signs in as a demo user with a token of the stack's
local identity provider (`.local/stack.json`). Against AWS, pass the API URL and a token of the
government identity platform (`--api-url`/`--token` or MIAOPI_API_URL/MIAOPI_TOKEN), from your
organisation's sign-in. Only the local path reads
the stack file (`infra.local.stack_file`, imported when needed): with `--api-url` the CLIs load
nothing of the local stack, moto or boto3.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import requests
import typer
from rich.console import Console

TIMEOUT_S = 30.0
#: a 503 (a dependency slow or down, the API says so) is asked again, at most this many times,
#: after the Retry-After it sends (else 1, 2, 4, ... s), never waiting longer than RETRY_CAP_S
RETRIES = 5
RETRY_CAP_S = 20.0
err = Console(stderr=True)

User = Annotated[str, typer.Option(help="the demo user to sign in as (local stack)")]
StackFile = Annotated[
    Path | None,
    typer.Option(
        help="the local stack's stack.json [default: the one `make run` writes] "
        "(ignored with --api-url)"
    ),
]
ApiUrl = Annotated[
    str | None, typer.Option(envvar="MIAOPI_API_URL", help="a deployed API's base URL")
]
Token = Annotated[
    str | None, typer.Option(envvar="MIAOPI_TOKEN", help="a bearer token for --api-url")
]


def local_stack(stack_file: Path | None) -> dict[str, Any]:
    """The running local stack's description (exit 2, saying how to start one, if none)."""
    from infra.local.stack_file import DEFAULT_STACK_FILE, read_stack  # the local path only

    try:
        return read_stack(stack_file or DEFAULT_STACK_FILE)
    except FileNotFoundError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None


class ApiError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        super().__init__(error.get("message") or f"HTTP {status}")
        self.status = status
        self.code = error.get("code", "")
        self.details = error.get("details", [])


@dataclass
class Api:
    base_url: str
    token: str
    session: requests.Session = field(default_factory=requests.Session, repr=False)

    @classmethod
    def connect(
        cls,
        user: str,
        stack_file: Path | None = None,
        api_url: str | None = None,
        token: str | None = None,
    ) -> Api:
        """A deployed API (`api_url` and `token`) or the local stack, signed in as `user`."""
        if api_url:
            if not token:
                raise typer.BadParameter("--api-url needs --token (or MIAOPI_TOKEN)")
            return cls(api_url.rstrip("/"), token)
        from infra.local.stack_file import sign_in  # the local path only

        info = local_stack(stack_file)
        return cls(info["apiUrl"], token or sign_in(info, user))

    def call(self, method: str, path: str, *, retry: bool | None = None, **kwargs: Any) -> Any:
        """One API call; a 503 is retried (with backoff, RETRIES times at most) when the call
        may be repeated: a GET, or a call the caller says writes nothing (`retry=True`)."""
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        repeatable = method == "GET" if retry is None else retry
        for attempt in range(RETRIES + 1):
            try:
                response = self.session.request(
                    method, self.base_url + path, headers=headers, timeout=TIMEOUT_S, **kwargs
                )
            except requests.ConnectionError:
                err.print(f"[red]error:[/] cannot reach the API at {self.base_url}")
                raise typer.Exit(2) from None
            try:
                body = response.json() if response.content else None
            except json.JSONDecodeError:
                body = None
            if response.status_code == 503 and repeatable and attempt < RETRIES:
                wait = _retry_after(response.headers.get("Retry-After"), attempt)
                err.print(f"[yellow]503[/] from the API, asking again in {wait:g} s")
                time.sleep(wait)
                continue
            if response.status_code >= 400:
                raise ApiError(response.status_code, body)
            return body
        raise AssertionError("unreachable")  # the last attempt returns or raises


def _retry_after(header: str | None, attempt: int) -> float:
    """Seconds to wait before asking again: the API's Retry-After, else exponential backoff."""
    try:
        wait = float(header) if header else 2.0**attempt
    except ValueError:
        wait = 2.0**attempt
    return min(max(wait, 0.0), RETRY_CAP_S)


def fail(exc: ApiError) -> typer.Exit:
    """Print an API error for a person and pick the exit status."""
    err.print(f"[red]error {exc.status}[/] {exc.code}: {exc}")
    for detail in exc.details:
        where = detail.get("field", "")
        err.print(f"  - {where}: {detail.get('message') or detail.get('code', '')}")
    return typer.Exit(1)
