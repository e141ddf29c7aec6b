"""One Lambda execution environment: imports the handler once, then serves invocations.

Run by infra.local.runtime as `python -I _worker.py CONFIG_JSON` (stdlib only: sys.path is
exactly the function's CodeUri and its layers' python dirs, plus the interpreter's own
site-packages standing in for the dependencies layer). Requests and responses are JSON
lines on two dedicated pipes, so whatever the function prints to stdout/stderr (logs,
EMF metrics) never corrupts the protocol.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
from typing import Any


class LambdaContext:
    """What the Python Lambda runtime passes as `context`."""

    def __init__(self, cfg: dict[str, Any], request_id: str, deadline_ms: int) -> None:
        self.function_name: str = cfg["function_name"]
        self.function_version = "$LATEST"
        self.invoked_function_arn: str = cfg["function_arn"]
        # The real runtime passes the environment variable through: a string.
        self.memory_limit_in_mb: str = str(cfg["memory"])
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = cfg["log_stream"]
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def _error(exc: BaseException, error_type: str | None = None) -> dict[str, Any]:
    return {
        "errorType": error_type or type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": traceback.format_exception(exc)[1:],
    }


def main() -> None:
    cfg = json.loads(sys.argv[1])
    requests = os.fdopen(cfg["request_fd"], "rb")
    responses = os.fdopen(cfg["response_fd"], "wb")
    sys.path[:0] = [cfg["code_uri"], *cfg["layers"]]
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)
        sys.stderr.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    if os.path.isdir(cfg["code_uri"]):
        os.chdir(cfg["code_uri"])  # Lambda's cwd is the function code (LAMBDA_TASK_ROOT)

    def send(doc: dict[str, Any]) -> None:
        responses.write(json.dumps(doc).encode() + b"\n")
        responses.flush()

    try:
        module_name, func_name = cfg["handler"].rsplit(".", 1)
        handler = getattr(importlib.import_module(module_name), func_name)
    except BaseException as exc:
        kind = "Runtime.ImportModuleError" if isinstance(exc, ImportError) else None
        send({"type": "ready", "error": _error(exc, kind)})
        return
    send({"type": "ready", "error": None})

    for line in requests:
        msg = json.loads(line)
        context = LambdaContext(cfg, msg["requestId"], msg["deadlineMs"])
        try:
            result = handler(msg["event"], context)
        except Exception as exc:
            send({"type": "result", "id": msg["requestId"], "error": _error(exc)})
            continue
        try:
            payload = json.dumps(
                {"type": "result", "id": msg["requestId"], "error": None, "result": result}
            )
        except (TypeError, ValueError) as exc:
            send(
                {
                    "type": "result",
                    "id": msg["requestId"],
                    "error": _error(exc, "Runtime.MarshalError"),
                }
            )
            continue
        responses.write(payload.encode() + b"\n")
        responses.flush()


if __name__ == "__main__":
    main()
