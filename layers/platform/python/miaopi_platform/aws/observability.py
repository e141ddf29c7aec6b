"""Logger, Metrics and Tracer: created once here and imported everywhere.

Never log personal data: log ids, hashes, outcomes and rule ids.

Powertools' Tracer loads the X-Ray SDK (and wrapt) when it is created, even when tracing is
disabled: about 15 ms of every cold start (`make bench`, cold section). Where tracing is off
(POWERTOOLS_TRACE_DISABLED, or outside Lambda, as Powertools itself decides) the functions get a
tracer that only passes the handler through, and the SDK is never imported.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Protocol

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.shared import constants
from aws_lambda_powertools.shared.functions import resolve_truthy_env_var_choice


class Tracing(Protocol):
    """What the functions use of Powertools' Tracer."""

    def capture_lambda_handler(self, lambda_handler: Callable[..., Any]) -> Callable[..., Any]: ...

    def capture_method[F: Callable[..., Any]](self, method: F) -> F: ...


class Untraced:
    """The tracer where tracing is off: every decorator returns what it is given."""

    def capture_lambda_handler(self, lambda_handler: Callable[..., Any]) -> Callable[..., Any]:
        return lambda_handler

    def capture_method[F: Callable[..., Any]](self, method: F) -> F:
        return method


def tracing_enabled() -> bool:
    """Powertools' own rule: off when POWERTOOLS_TRACE_DISABLED is truthy or outside Lambda."""
    if resolve_truthy_env_var_choice(env=os.getenv(constants.TRACER_DISABLED_ENV, "false")):
        return False
    in_lambda = os.getenv(constants.LAMBDA_TASK_ROOT_ENV)
    emulated = os.getenv(constants.SAM_LOCAL_ENV) or os.getenv(constants.CHALICE_LOCAL_ENV)
    return bool(in_lambda) and not emulated


def _tracer() -> Tracing:
    if not tracing_enabled():
        return Untraced()
    from aws_lambda_powertools import Tracer

    # Patch boto3 only: patching every supported library costs cold-start time for nothing.
    tracer: Tracing = Tracer(patch_modules=["boto3", "botocore"])
    return tracer


logger = Logger()
metrics = Metrics()
tracer = _tracer()
