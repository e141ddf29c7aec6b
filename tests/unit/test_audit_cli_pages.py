"""The auditors' CLI against a stand-in API: `verify` follows a chain over its pages (the
problems of every page, the verdict of the last) and asks again after a 503, a bounded number of
times."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest
from typer.testing import CliRunner

from infra.cli import audit, client

CHAIN = "elderly-allowance#2026-11-30#0"


def item(walked: int, complete: bool, problems: list[dict[str, Any]]) -> dict[str, Any]:
    first = {"kind": "ALTERED", "detail": "content does not match its hash", "seq": 7}
    return {
        "chainId": CHAIN,
        "records": walked,
        "pending": 0,
        "head": {"seq": 12, "hash": "ab" * 32},
        "verified": not problems and walked < 7,
        "firstProblem": first if walked >= 7 else None,
        "problems": problems,
        "problemCount": 1 if walked >= 7 else 0,
        "walked": walked,
        "complete": complete,
    }


class ChainsApi(BaseHTTPRequestHandler):
    """Serves one chain in two pages; answers 503 (Retry-After: 0) `busy` times first."""

    busy: ClassVar[int] = 0
    asked: ClassVar[list[dict[str, list[str]]]] = []

    def do_GET(self) -> None:
        query = parse_qs(urlsplit(self.path).query)
        ChainsApi.asked.append(query)
        if ChainsApi.busy:
            ChainsApi.busy -= 1
            error = {"error": {"code": "DEPENDENCY_UNAVAILABLE", "message": "try again shortly"}}
            self._answer(503, error, {"Retry-After": "0"})
        elif "nextToken" not in query:
            page = {"items": [item(6, False, [])], "total": 1, "nextToken": "page-2"}
            self._answer(200, page)
        else:
            altered = {
                "kind": "ALTERED",
                "detail": "content does not match its hash",
                "seq": 7,
                "decisionId": "DEC00000000000000000007",
            }
            self._answer(200, {"items": [item(12, True, [altered])], "total": 1})

    def _answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def api_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), ChainsApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    ChainsApi.busy, ChainsApi.asked = 0, []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def verify(api_url: str, *extra: str) -> Any:
    argv = ["verify", "--service", "elderly-allowance", "--today", "--api-url", api_url]
    return CliRunner().invoke(audit.app, [*argv, "--token", "t", *extra])


def test_verify_follows_a_chain_over_its_pages(api_url: str) -> None:
    # Given a chain whose verification takes two pages, its problem found on the second
    # When the auditor verifies the day, 500 records a request
    result = verify(api_url, "--page-size", "500")
    # Then both pages were asked for (the second with the first's token, the page size on each)
    # and the chain is reported not verified, with the problem of the second page
    assert [q.get("nextToken") for q in ChainsApi.asked] == [None, ["page-2"]]
    assert all(q["limit"] == ["500"] for q in ChainsApi.asked)
    assert result.exit_code == 1
    assert "ALTERED at 7 DEC00000000000000000007" in result.output.replace("\n", "")


def test_verify_asks_again_after_a_503(api_url: str) -> None:
    # Given an API that answers 503 twice (a dependency slow), then normally
    ChainsApi.busy = 2
    # When the auditor verifies the day
    result = verify(api_url)
    # Then the CLI asked again and verified the chain to its end: 2 refusals + 2 pages
    assert len(ChainsApi.asked) == 4
    assert result.exit_code == 1 and "ALTERED" in result.output
    assert "503" in result.output  # it said it was retrying


def test_verify_gives_up_after_a_bounded_number_of_503s(api_url: str) -> None:
    # Given an API that keeps answering 503
    ChainsApi.busy = 100
    # When the auditor verifies the day
    result = verify(api_url)
    # Then the CLI stops after its retries, with the API's error
    assert len(ChainsApi.asked) == client.RETRIES + 1
    assert result.exit_code == 1 and "error 503" in result.output
