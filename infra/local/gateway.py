"""The REST API on loopback: template routes, the Lambda authorizer, proxy events to functions.

Behaves like API Gateway where the app can tell: resource precedence (literal segments
before `{param}` before `{proxy+}`), the template's Lambda (REQUEST) authorizer function is
called with the request and its answer cached per identity source for the template's TTL
(`authorizer.py` here), a refusal answered before the function runs (401 for
`Exception("Unauthorized")` or no identity header, 403 for a policy that does not allow the
method, in the template's GatewayResponses format), the principal and context passed to the
function as `requestContext.authorizer`,
10 MB payload limit, 10,240 bytes of request line and header values (a 413, API Gateway's
REQUEST_TOO_LARGE: it has no 431), the proxy response passed through. Differences, on purpose:
an unknown route is a JSON 404 and any method a route does not take a JSON 405 (API Gateway
answers 403 "Missing Authentication Token"), in the app's error envelope; so is every error
http.server itself would answer in HTML (a malformed request line, an unknown method).
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from infra.local.authorizer import Authorizers, Refused
from infra.local.deploy import Deployment
from infra.local.events import api_gateway_event
from infra.local.priority import RequestPriority
from infra.local.runtime import InvokeError, Runtime
from infra.local.template import ApiRoute

log = logging.getLogger("miaopi.local.gateway")

MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # API Gateway's limit
#: API Gateway's quota on the request line and header values together (REST APIs)
MAX_HEADER_BYTES = 10_240
#: the methods an ANY route takes in API Gateway
ANY_METHODS = frozenset({"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"})
#: connections the kernel holds before they are accepted: the default 5 reset or stalled
#: bursts (50 simultaneous submissions)
LISTEN_BACKLOG = 128


# ---------------------------------------------------------------- routing


@dataclass(frozen=True)
class RouteMatch:
    route: ApiRoute
    path_parameters: dict[str, str]


class Router:
    """API Gateway resource matching: the most specific resource wins, then the method."""

    def __init__(self, routes: Iterable[ApiRoute]) -> None:
        self.routes = list(routes)
        self._resources: dict[str, dict[str, ApiRoute]] = {}
        for route in self.routes:
            methods = self._resources.setdefault(route.path, {})
            if route.method in methods:
                other = methods[route.method]
                raise ValueError(
                    f"{route.method} {route.path} routed twice: "
                    f"{other.function_id} and {route.function_id}"
                )
            methods[route.method] = route

    @staticmethod
    def _score(template: str, segments: Sequence[str]) -> tuple[int, ...] | None:
        """Per-segment rank (0 literal, 1 {param}, 2 {proxy+}) when the template matches."""
        parts = [p for p in template.split("/") if p]
        ranks: list[int] = []
        for i, part in enumerate(parts):
            if part.startswith("{") and part.endswith("+}"):
                if i >= len(segments):
                    return None
                return (*ranks, 2)
            if i >= len(segments):
                return None
            if part.startswith("{") and part.endswith("}"):
                ranks.append(1)
            elif part == segments[i]:
                ranks.append(0)
            else:
                return None
        return tuple(ranks) if len(parts) == len(segments) else None

    @staticmethod
    def _parameters(template: str, segments: Sequence[str]) -> dict[str, str]:
        params: dict[str, str] = {}
        for i, part in enumerate(p for p in template.split("/") if p):
            if part.endswith("+}"):
                params[part[1:-2]] = "/".join(segments[i:])
                break
            if part.startswith("{"):
                params[part[1:-1]] = segments[i]
        return params

    def resource_for(self, path: str) -> str | None:
        segments = [unquote(s) for s in path.split("/") if s]
        best: tuple[tuple[int, ...], str] | None = None
        for template in self._resources:
            score = self._score(template, segments)
            if score is not None and (best is None or score < best[0]):
                best = (score, template)
        return best[1] if best else None

    def match(self, method: str, path: str) -> RouteMatch | list[str] | None:
        """The route; or the allowed methods when only the method is wrong; or None."""
        resource = self.resource_for(path)
        if resource is None:
            return None
        methods = self._resources[resource]
        route = methods.get(method) or (methods.get("ANY") if method in ANY_METHODS else None)
        if route is None:
            return sorted(methods)
        segments = [unquote(s) for s in path.split("/") if s]
        return RouteMatch(route, self._parameters(resource, segments))


# ---------------------------------------------------------------- the server


def _error_body(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message, "details": []}}).encode()


#: what a 503 of a stopping stack tells the caller, and that the connection ends
_RETRY = [("Retry-After", "5"), ("Connection", "close")]
_STOPPING = _error_body("SERVICE_UNAVAILABLE", "the local stack is stopping; retry shortly")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = LISTEN_BACKLOG


class Gateway:
    """Serves the template's API on host:port until `stop()`."""

    def __init__(
        self,
        routes: Iterable[ApiRoute],
        runtime: Runtime,
        *,
        authorizers: Authorizers | None,
        stage: str | None = "v1",
        host: str = "127.0.0.1",
        port: int = 8080,
        max_payload_bytes: int = MAX_PAYLOAD_BYTES,
        priority: RequestPriority | None = None,
    ) -> None:
        self.router = Router(routes)
        #: counts the requests being answered: background work waits for them (priority.py)
        self.priority = priority or RequestPriority()
        self.runtime = runtime
        self.authorizers = authorizers
        self.stage = stage or ""
        self.max_payload_bytes = max_payload_bytes
        #: set by `drain`: every new request is a 503 with Retry-After, the connection closed
        self.draining = False
        # Binds now, so a taken port fails here with OSError (EADDRINUSE).
        self.server = _Server((host, port), self._handler_class())
        self._thread: threading.Thread | None = None

    @classmethod
    def from_deployment(
        cls,
        deployment: Deployment,
        runtime: Runtime,
        *,
        host: str = "127.0.0.1",
        port: int = 8080,
        priority: RequestPriority | None = None,
    ) -> Gateway:
        routes = [r for spec in deployment.functions.values() for r in spec.api_routes]
        return cls(
            routes,
            runtime,
            authorizers=Authorizers.from_deployment(deployment, runtime),
            stage=deployment.stage,
            host=host,
            port=port,
            priority=priority,
        )

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def base_url(self) -> str:
        host = str(self.server.server_address[0])
        stage = f"/{self.stage}" if self.stage else ""
        return f"http://{host}:{self.port}{stage}"

    def start(self) -> Gateway:
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="gateway", daemon=True
        )
        self._thread.start()
        return self

    def drain(self, timeout: float) -> int:
        """Stop taking requests (each new one: 503, Retry-After, connection closed) and wait up
        to `timeout` s for the ones in flight to be answered; the number still in flight."""
        self.draining = True
        self.priority.yield_to_requests(timeout)
        return self.priority.in_flight

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> Gateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- request handling

    def handle(
        self,
        method: str,
        raw_path: str,
        headers: list[tuple[str, str]],
        body: bytes,
        source_ip: str,
    ) -> tuple[int, list[tuple[str, str]], bytes, str | None]:
        """(status, headers, body, function id) for one request."""
        url = urlsplit(raw_path)
        path = url.path or "/"
        if self.stage and (path == f"/{self.stage}" or path.startswith(f"/{self.stage}/")):
            path = path[len(self.stage) + 1 :] or "/"
        found = self.router.match(method, path)
        json_header = [("Content-Type", "application/json")]
        if found is None:
            return 404, json_header, _error_body("NOT_FOUND", f"no route for {path}"), None
        if isinstance(found, list):
            allow = [("Allow", ", ".join(found))]
            message = f"{method} not allowed on {path}"
            return 405, json_header + allow, _error_body("METHOD_NOT_ALLOWED", message), None
        route = found.route
        event = api_gateway_event(
            method=method,
            resource=route.path,
            path=unquote(path),
            # as API Gateway adds it (it says https): how the caller reached the API
            headers=[*headers, ("X-Forwarded-Proto", "http")],
            query=parse_qsl(url.query, keep_blank_values=True),
            path_parameters=found.path_parameters,
            body=body,
            stage=self.stage,
            source_ip=source_ip,
        )
        request_id = event["requestContext"]["requestId"]
        if route.authorizer is not None:
            try:
                if self.authorizers is None:
                    raise Refused(500, "AUTHORIZER_CONFIGURATION_ERROR", "no authorizer")
                answer = self.authorizers.authorize(route.authorizer, event)
            except Refused as refused:
                if self.authorizers is None:
                    return (
                        refused.status,
                        json_header,
                        _error_body(refused.code, refused.message),
                        None,
                    )
                rendered = self.authorizers.error_body(refused)
                body_refused = rendered or _error_body(refused.code, refused.message)
                added = list(self.authorizers.error_headers(refused).items())
                return (
                    self.authorizers.error_status(refused),
                    json_header + added,
                    body_refused,
                    None,
                )
            event["requestContext"]["authorizer"] = answer
        result = self.runtime.invoke(route.function_id, event, request_id)
        gateway_error = (502, json_header, _error_body("BAD_GATEWAY", "internal server error"))
        if not result.ok:
            log.warning(
                "function %s failed: %s", route.function_id, (result.error or {}).get("errorType")
            )
            return (*gateway_error, route.function_id)
        payload = result.payload
        if not isinstance(payload, dict) or not isinstance(payload.get("statusCode"), int):
            log.warning("function %s returned a malformed proxy response", route.function_id)
            return (*gateway_error, route.function_id)
        out_headers: list[tuple[str, str]] = []
        seen: set[str] = set()
        for name, values in (payload.get("multiValueHeaders") or {}).items():
            seen.add(name.lower())
            out_headers.extend((name, str(v)) for v in values)
        for name, value in (payload.get("headers") or {}).items():
            if name.lower() not in seen:
                out_headers.append((name, str(value)))
        out_headers.append(("x-amzn-RequestId", request_id))
        raw = payload.get("body") or ""
        out_body = base64.b64decode(raw) if payload.get("isBase64Encoded") else str(raw).encode()
        return int(payload["statusCode"]), out_headers, out_body, route.function_id

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes: without this, Nagle delays the body.
            disable_nagle_algorithm = True
            server_version = "miaopi-local-gateway"

            def log_message(self, format: str, *args: Any) -> None:
                pass  # one access-log line per request instead, see _serve

            def _send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                if self.close_connection:
                    self.send_header("Connection", "close")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def __getattr__(self, name: str) -> Any:
                # Every method is served (http.server answers one without a do_<METHOD> with
                # an HTML 501); the router answers those no route takes with a JSON 405.
                if name.startswith("do_"):
                    return self._serve
                raise AttributeError(name)

            def send_error(
                self, code: int, message: str | None = None, explain: str | None = None
            ) -> None:
                """http.server's own errors (malformed request line or headers) in JSON; its
                message is not echoed (it quotes the request)."""
                status = 413 if code == 431 else code  # API Gateway has no 431
                self.close_connection = True
                self.request_version = self.protocol_version  # a status line, even then
                name = {413: "REQUEST_TOO_LARGE", 414: "URI_TOO_LONG"}.get(status, "BAD_REQUEST")
                body = _error_body(name, HTTPStatus(status).phrase)
                self._send(status, [("Content-Type", "application/json")], body)

            def _header_bytes(self) -> int:
                return len(self.raw_requestline.rstrip(b"\r\n")) + sum(
                    len(value.encode("latin-1", "replace")) for value in self.headers.values()
                )

            def _serve(self) -> None:
                started = time.monotonic()
                function_id: str | None = None
                try:
                    length = int(self.headers.get("Content-Length") or 0)
                except ValueError:
                    length = -1
                if self._header_bytes() > MAX_HEADER_BYTES:
                    self.close_connection = True  # the body is not read
                    status = 413
                    message = f"request line and headers over {MAX_HEADER_BYTES} bytes"
                    self._send(
                        status,
                        [("Content-Type", "application/json")],
                        _error_body("REQUEST_TOO_LARGE", message),
                    )
                elif length < 0 or length > gateway.max_payload_bytes:
                    # Not reading the body: the connection cannot be reused.
                    self.close_connection = True
                    status = 413 if length > 0 else 400
                    code = "PAYLOAD_TOO_LARGE" if status == 413 else "BAD_REQUEST"
                    self._send(
                        status,
                        [("Content-Type", "application/json")],
                        _error_body(code, "request body too large or malformed"),
                    )
                elif gateway.draining:
                    # Stopping: nothing new starts (none of it recorded), the caller retries
                    # against the stack's next start; the body is not read, so no keep-alive.
                    self.close_connection = True
                    status = 503
                    self._send(
                        status,
                        [("Content-Type", "application/json"), *_RETRY],
                        _STOPPING,
                    )
                else:
                    body = self.rfile.read(length) if length else b""
                    headers = list(self.headers.items())
                    try:
                        with gateway.priority.request():
                            status, out_headers, out_body, function_id = gateway.handle(
                                self.command, self.path, headers, body, self.client_address[0]
                            )
                    except InvokeError:  # the runtime closed under a late request
                        status, out_headers, out_body = (
                            503,
                            [("Content-Type", "application/json"), *_RETRY],
                            _STOPPING,
                        )
                    except Exception:
                        log.exception("gateway error")
                        status, out_headers, out_body = (
                            500,
                            [("Content-Type", "application/json")],
                            _error_body("INTERNAL_ERROR", "internal server error"),
                        )
                    self._send(status, out_headers, out_body)
                # Access log: no bodies, no query strings, no tokens (personal data).
                log.info(
                    "%s %s %s %d %.1fms %s",
                    self.client_address[0],
                    self.command,
                    urlsplit(self.path).path,
                    status,
                    (time.monotonic() - started) * 1000,
                    function_id or "-",
                )

        return Handler
