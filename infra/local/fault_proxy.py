"""A fault-injecting HTTP proxy between the functions and moto: delays, hangs or refuses chosen
AWS operations, so the tests can show what a slow, hung or unreachable dependency does to the
API (a 503 with Retry-After within the function's timeout, never a 502 from a killed function).

Start it in front of moto and give its URL to the runtime as the functions' endpoint
(`Runtime(..., endpoint_url=proxy.url)`); the stack's own clients keep talking to moto directly.
Operations are chosen by the prefix of their `X-Amz-Target` header (the JSON protocols of
DynamoDB and Secrets Manager), e.g. "DynamoDB_20120810." for every DynamoDB call or
"DynamoDB_20120810.TransactWriteItems" for the application's write.

Faults stop by themselves: a delay is bounded, a hang holds the connection for `hold_s` at
most (or until `clear()`), and `stop()` releases everything.
"""

from __future__ import annotations

import http.client
import socket
import struct
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import urlsplit

TARGET_HEADER = "X-Amz-Target"
Kind = Literal["delay", "hang", "refuse"]
#: the most a hang holds a connection (the tests' functions time out long before)
DEFAULT_HOLD_S = 60.0


@dataclass(frozen=True)
class Fault:
    """What happens to a matching request.

    - delay: forwarded at once (a write lands), answered `seconds` later;
    - hang: never forwarded nor answered; the connection is held until cleared or `hold_s`;
    - refuse: never forwarded; the connection is reset without an answer.
    """

    kind: Kind
    seconds: float = 0.0

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        return cls("delay", seconds)

    @classmethod
    def hang(cls) -> Fault:
        return cls("hang")

    @classmethod
    def refuse(cls) -> Fault:
        return cls("refuse")


class FaultProxy:
    """Forwards every request to `upstream` unless a fault matches its X-Amz-Target."""

    def __init__(
        self,
        upstream: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        hold_s: float = DEFAULT_HOLD_S,
    ) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.hold_s = hold_s
        self._faults: dict[str, Fault] = {}
        self._lock = threading.Lock()
        self._released = threading.Event()
        #: (target, fault kind) of every request a fault matched, in order
        self.hits: list[tuple[str, Kind]] = []
        self.server = ThreadingHTTPServer((host, port), self._handler_class())
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def inject(self, target_prefix: str, fault: Fault) -> None:
        with self._lock:
            self._faults[target_prefix] = fault
            self._released.clear()

    def clear(self) -> None:
        """No faults from now on; held connections are released (closed unanswered)."""
        with self._lock:
            self._faults.clear()
            self._released.set()

    def fault_for(self, target: str) -> Fault | None:
        with self._lock:
            matching = [p for p in self._faults if target.startswith(p)]
            return self._faults[max(matching, key=len)] if matching else None

    def start(self) -> FaultProxy:
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="fault-proxy", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.clear()
        self.server.shutdown()
        self.server.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _forward(
        self, method: str, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        upstream = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=30)
        try:
            upstream.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                if name.lower() not in ("content-length", "connection"):
                    upstream.putheader(name, value)
            upstream.putheader("Content-Length", str(len(body)))
            upstream.endheaders(body)
            answer = upstream.getresponse()
            return answer.status, answer.getheaders(), answer.read()
        finally:
            upstream.close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _reset(self) -> None:
                """Close with RST: the client sees its connection reset, no answer."""
                self.close_connection = True
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                target = self.headers.get(TARGET_HEADER, "")
                fault = proxy.fault_for(target) if target else None
                if fault is not None:
                    proxy.hits.append((target, fault.kind))
                if fault is not None and fault.kind == "refuse":
                    self._reset()
                    return
                if fault is not None and fault.kind == "hang":
                    proxy._released.wait(proxy.hold_s)
                    self._reset()
                    return
                status, headers, payload = proxy._forward(
                    self.command, self.path, list(self.headers.items()), body
                )
                if fault is not None and fault.kind == "delay":
                    proxy._released.wait(fault.seconds)
                try:
                    self.send_response(status)
                    for name, value in headers:
                        if name.lower() not in (
                            "content-length",
                            "connection",
                            "transfer-encoding",
                        ):
                            self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:  # the client gave up waiting: nothing to answer
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve

        return Handler
