"""The staff CLIs pointed at a deployed API (`--api-url`) load nothing of the local stack.

A reviewer or auditor working against AWS installs the CLIs, not moto and the local stack's
machinery: with `--api-url` neither CLI may import moto, boto3 or any `infra.local` module. Each
CLI runs as a person runs it (`python -m ...`, a fresh process) against a stand-in API, and the
interpreter's own import log (`-X importtime`) says what was loaded.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCAL_ONLY = ("moto", "boto3", "botocore", "infra.local")


class StandInApi(BaseHTTPRequestHandler):
    """Answers every GET with an empty page, and remembers what it was asked."""

    seen: ClassVar[list[tuple[str, str]]] = []

    def do_GET(self) -> None:
        StandInApi.seen.append((self.path, self.headers.get("Authorization", "")))
        body = json.dumps({"items": [], "index": "byService"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def api_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandInApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    StandInApi.seen = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def imported(stderr: str) -> set[str]:
    """The modules a `python -X importtime` run loaded, from its import log."""
    return {
        line.rsplit("|", 1)[1].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


@pytest.mark.parametrize(
    ("cli", "command", "path"),
    [
        ("review", ["queue"], "/v1/reviews?"),
        ("audit", ["decisions", "--week"], "/v1/audit/decisions?"),
    ],
)
def test_a_cli_against_a_deployed_api_loads_nothing_of_the_local_stack(
    api_url: str, cli: str, command: list[str], path: str
) -> None:
    # Given a deployed API and a token from the organisation's sign-in
    argv = [*command, "--api-url", api_url, "--token", "a-token"]

    # When the CLI runs against it, as a person runs it
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", f"infra.cli.{cli}", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    # Then it asked that API with that token and showed the (empty) answer
    assert run.returncode == 0, run.stderr[-2000:]
    assert [(p.split("?")[0] + "?", auth) for p, auth in StandInApi.seen] == [
        (path, "Bearer a-token")
    ]
    assert "(0" in run.stdout
    # And it loaded nothing of the local stack: no moto, no boto3, no infra.local module
    modules = imported(run.stderr)
    assert "infra.cli.client" in modules  # the log is the CLI's own
    assert (
        sorted(m for m in modules if any(m == p or m.startswith(f"{p}.") for p in LOCAL_ONLY)) == []
    )


def test_an_api_that_cannot_be_reached_is_a_clear_error() -> None:
    # Given an API URL where nothing listens (a port just given back)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}/v1"
    argv = ["queue", "--api-url", url, "--token", "a-token"]

    # When the reviewers' CLI is pointed at it
    run = subprocess.run(
        [sys.executable, "-m", "infra.cli.review", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    # Then it says it cannot reach the API (no traceback) and exits 2
    assert run.returncode == 2
    assert f"cannot reach the API at {url}" in run.stderr
    assert "Traceback" not in run.stderr
