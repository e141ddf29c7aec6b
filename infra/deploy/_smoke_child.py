"""One built function, as Lambda would load it: run as `python3.X -I -S _smoke_child.py CONFIG`.

Standard library only. `-I -S` keep the interpreter's own site-packages and the caller's
PYTHONPATH out, so sys.path is exactly what Lambda gives the function: its built code, then its
layers' python dirs (/opt/python). It imports the handler, answers one event and writes what
it answered (or what it raised) as JSON to the config's `out` path: the function's own stdout
(logs, EMF metrics) stays out of the result.
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
    """What the Python Lambda runtime passes as `context`, with a 10 s deadline."""

    def __init__(self, name: str) -> None:
        self.function_name = name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
        self.memory_limit_in_mb = "512"
        self.aws_request_id = "smoke-0001"
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = "smoke"
        self.identity = None
        self.client_context = None
        self._deadline_ms = int(time.time() * 1000) + 10_000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as fh:
        cfg = json.load(fh)
    sys.path[:0] = [cfg["code_uri"], *cfg["layers"]]
    os.chdir(cfg["code_uri"])
    result: dict[str, Any]
    try:
        module_name, func_name = cfg["handler"].rsplit(".", 1)
        handler = getattr(importlib.import_module(module_name), func_name)
    except BaseException as exc:
        result = {"stage": "import", "error": f"{type(exc).__name__}: {exc}"}
        result["trace"] = traceback.format_exc()
    else:
        try:
            answer = handler(cfg["event"], LambdaContext(cfg["name"]))
            result = {"stage": "answered", "result": answer}
        except Exception as exc:
            result = {"stage": "raised", "error": f"{type(exc).__name__}: {exc}"}
            result["trace"] = traceback.format_exc()
    with open(cfg["out"], "w", encoding="utf-8") as fh:
        json.dump(result, fh, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
