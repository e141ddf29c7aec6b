"""Run functions like Lambda does: one subprocess per execution environment.

Each function has a pool of worker processes (cold start once, then warm), spawned on
demand up to `max_workers_per_function`, so concurrent requests to one function run
concurrently. A worker that times out is killed and replaced; a crashed one is replaced.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from infra.local.deploy import MOTO_CREDENTIAL
from infra.local.priority import BACKGROUND_APP_ID
from infra.local.template import FunctionSpec

_WORKER = Path(__file__).with_name("_worker.py")


@dataclass(frozen=True)
class Invocation:
    """The outcome of one invoke, as Lambda reports it."""

    request_id: str
    payload: Any  # the handler's return value (None on error)
    error: dict[str, Any] | None  # errorType, errorMessage, stackTrace
    duration_ms: float
    cold_start: bool

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def function_error(self) -> str | None:
        """'Unhandled' when the function failed, as in Lambda's X-Amz-Function-Error."""
        return None if self.error is None else "Unhandled"


class InvokeError(RuntimeError):
    """The runtime could not invoke (unknown function, runtime closed)."""


class _Worker:
    def __init__(
        self, spec: FunctionSpec, env: dict[str, str], python: str, output: IO[str] | None
    ) -> None:
        self.spec = spec
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        cfg = {
            "request_fd": req_r,
            "response_fd": resp_w,
            "code_uri": str(spec.code_uri),
            "handler": spec.handler,
            "layers": [str(d) for d in spec.layer_dirs if d.is_dir()],
            "function_name": spec.name,
            "function_arn": spec.arn,
            "memory": spec.memory,
            "log_stream": env["AWS_LAMBDA_LOG_STREAM_NAME"],
        }
        try:
            self.proc = subprocess.Popen(
                [python, "-I", str(_WORKER), json.dumps(cfg)],
                env=env,
                pass_fds=(req_r, resp_w),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=output,
                cwd=str(spec.code_uri) if spec.code_uri.is_dir() else None,
            )
        finally:
            os.close(req_r)
            os.close(resp_w)
        self._requests = os.fdopen(req_w, "wb")
        self._responses_fd = resp_r
        self._responses = os.fdopen(resp_r, "rb")
        self.ready = False
        self.init_error: dict[str, Any] | None = None

    def _read(self, timeout: float) -> dict[str, Any] | None:
        """The next message, or None on timeout; raises EOFError when the worker died."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            readable, _, _ = select.select([self._responses_fd], [], [], remaining)
            if readable:
                line = self._responses.readline()
                if not line.endswith(b"\n"):
                    raise EOFError("worker exited")
                doc: dict[str, Any] = json.loads(line)
                return doc

    def wait_ready(self, timeout: float) -> dict[str, Any] | None:
        """Init phase: None when ready, else the init error."""
        try:
            msg = self._read(timeout)
        except EOFError:
            return _runtime_error("Runtime.ExitError", "worker exited during init")
        if msg is None:
            return _runtime_error("Sandbox.Timedout", f"init timed out after {timeout:.2f} s")
        self.ready = msg.get("error") is None
        return msg.get("error")

    def invoke(self, event: Any, request_id: str, timeout: float) -> dict[str, Any]:
        deadline_ms = int((time.time() + timeout) * 1000)
        line = json.dumps({"requestId": request_id, "deadlineMs": deadline_ms, "event": event})
        try:
            self._requests.write(line.encode() + b"\n")
            self._requests.flush()
            msg = self._read(timeout)
        except (EOFError, BrokenPipeError):
            return {
                "error": _runtime_error("Runtime.ExitError", "function process exited"),
                "fatal": True,
            }
        if msg is None:
            return {
                "error": _runtime_error(
                    "Sandbox.Timedout",
                    f"{request_id} Task timed out after {timeout:.2f} seconds",
                ),
                "fatal": True,
            }
        return msg

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        for fh in (self._requests, self._responses):
            with contextlib.suppress(OSError):
                fh.close()

    def ask_to_stop(self) -> None:
        """Graceful: closing the request pipe ends the worker's loop."""
        with contextlib.suppress(OSError):
            self._requests.close()

    def stop(self) -> None:
        self.ask_to_stop()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=2)
        self.kill()


def _runtime_error(error_type: str, message: str) -> dict[str, Any]:
    return {"errorType": error_type, "errorMessage": message, "stackTrace": []}


class _Pool:
    def __init__(self, spec: FunctionSpec, env: dict[str, str], runtime: Runtime) -> None:
        self.spec = spec
        self.env = env
        self.runtime = runtime
        self.idle: list[_Worker] = []
        self.all: set[_Worker | _Reservation] = set()
        self.cond = threading.Condition()
        self.closed = False

    def _acquire(self) -> tuple[_Worker, bool]:
        with self.cond:
            while True:
                if self.closed:
                    raise InvokeError(f"{self.spec.logical_id}: runtime closed")
                while self.idle:
                    worker = self.idle.pop()
                    if worker.proc.poll() is None:
                        return worker, False
                    # died while idle (killed, out of memory): replaced, never handed a request
                    self.all.discard(worker)
                if len(self.all) < self.runtime.max_workers_per_function:
                    break
                self.cond.wait()
            # Reserve the slot before spawning outside the lock.
            placeholder = _Reservation()
            self.all.add(placeholder)
        try:
            env = {**self.env, "AWS_LAMBDA_LOG_STREAM_NAME": f"local/{uuid.uuid4().hex}"}
            worker = _Worker(self.spec, env, self.runtime.python, self.runtime.output)
        except BaseException:
            with self.cond:
                self.all.discard(placeholder)
                self.cond.notify()
            raise
        with self.cond:
            self.all.discard(placeholder)
            self.all.add(worker)
        return worker, True

    def _release(self, worker: _Worker, healthy: bool) -> None:
        with self.cond:
            if healthy and not self.closed:
                self.idle.append(worker)
            else:
                self.all.discard(worker)
                worker.kill()
            self.cond.notify()

    def invoke(self, event: Any, request_id: str) -> Invocation:
        started = time.monotonic()
        worker, cold = self._acquire()
        healthy = False
        try:
            if cold:
                init_error = worker.wait_ready(self.runtime.init_timeout)
                if init_error is not None:
                    return Invocation(request_id, None, init_error, _ms(started), cold)
            try:
                msg = worker.invoke(event, request_id, float(self.spec.timeout))
            except (OSError, ValueError):  # its pipes closed under it: the runtime recycled it
                stopped = _runtime_error("Runtime.ExitError", "the environment was stopped")
                return Invocation(request_id, None, stopped, _ms(started), cold)
            # A timed-out or dead environment is replaced, as Lambda does.
            healthy = not msg.get("fatal") and worker.proc.poll() is None
            if msg.get("error") is not None:
                return Invocation(request_id, None, msg["error"], _ms(started), cold)
            return Invocation(request_id, msg.get("result"), None, _ms(started), cold)
        finally:
            self._release(worker, healthy)

    def close(self) -> list[_Worker]:
        """Take the pool's workers out of service; the caller stops them."""
        with self.cond:
            self.closed = True
            workers = [w for w in self.all if isinstance(w, _Worker)]
            self.all.clear()
            self.idle.clear()
            self.cond.notify_all()
        return workers


class _Reservation:
    """Stands for a worker being spawned (counts towards the pool's size)."""


def _ms(started: float) -> float:
    return (time.monotonic() - started) * 1000


class Runtime:
    """Worker pools for a set of functions; `invoke(function_id, event)` like Lambda."""

    def __init__(
        self,
        functions: Mapping[str, FunctionSpec] | Iterable[FunctionSpec],
        *,
        endpoint_url: str | None,
        region: str,
        max_workers_per_function: int = 4,
        init_timeout: float = 10.0,
        extra_env: Mapping[str, str] | None = None,
        python: str = sys.executable,
        output: IO[str] | None = None,
    ) -> None:
        specs = functions.values() if isinstance(functions, Mapping) else functions
        self.functions = {spec.logical_id: spec for spec in specs}
        self.endpoint_url = endpoint_url
        self.region = region
        self.max_workers_per_function = max_workers_per_function
        self.init_timeout = init_timeout
        self.extra_env = dict(extra_env or {})
        self.python = python
        self.output = output  # None: workers share this process's stdout/stderr
        self._pools: dict[str, _Pool] = {}
        self._lock = threading.Lock()
        self._closed = False

    def environment(self, spec: FunctionSpec) -> dict[str, str]:
        """Exactly what a worker sees: the function's environment plus Lambda's own."""
        env = {
            **spec.environment,
            "AWS_ACCESS_KEY_ID": MOTO_CREDENTIAL,
            "AWS_SECRET_ACCESS_KEY": MOTO_CREDENTIAL,
            "AWS_SESSION_TOKEN": MOTO_CREDENTIAL,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
            "LAMBDA_TASK_ROOT": str(spec.code_uri),
            "_HANDLER": spec.handler,
            "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon locally
            "TZ": ":UTC",
            "LANG": "en_US.UTF-8",
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            **self.extra_env,
        }
        if self.endpoint_url:
            env["AWS_ENDPOINT_URL"] = self.endpoint_url
        if (spec.event_sources or spec.schedules) and not spec.api_routes:
            # its SDK calls say so in their User-Agent: the local moto serves the API's first
            env.setdefault("AWS_SDK_UA_APP_ID", BACKGROUND_APP_ID)
        return env

    def _pool(self, function_id: str) -> _Pool:
        with self._lock:
            if self._closed:
                raise InvokeError("runtime closed")
            if function_id not in self._pools:
                if function_id not in self.functions:
                    raise InvokeError(f"unknown function {function_id!r}")
                spec = self.functions[function_id]
                self._pools[function_id] = _Pool(spec, self.environment(spec), self)
            return self._pools[function_id]

    def invoke(self, function_id: str, event: Any, request_id: str | None = None) -> Invocation:
        """Invoke synchronously (RequestResponse); errors come back in `Invocation.error`."""
        return self._pool(function_id).invoke(event, request_id or str(uuid.uuid4()))

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self.recycle()

    def recycle(self) -> None:
        """Stop every execution environment: the next invocation of each function starts
        cold (a benchmark's fresh workers); `close` is this and no more invocations."""
        with self._lock:
            pools = list(self._pools.values())
            self._pools.clear()
        workers = [worker for pool in pools for worker in pool.close()]
        # Ask every worker first, then wait: stopping takes one grace period, not one each.
        for worker in workers:
            worker.ask_to_stop()
        for worker in workers:
            worker.stop()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
