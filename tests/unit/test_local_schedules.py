"""The local stack's rate schedules (infra/local/schedules.py): after a restart they run at once,
so the reconciler repairs what the stopped streams left behind without waiting a period."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

from infra.local.runtime import Invocation
from infra.local.schedules import Schedules
from infra.local.template import ScheduledEvent

HOURLY = ScheduledEvent("ReconcilerFunction", "Every", "ScheduleV2", 3600.0)


class Runtime:
    """Records each invocation, as the local runtime would run it."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.invoked = threading.Event()

    def invoke(self, function_id: str, event: Any) -> Invocation:
        self.events.append((function_id, event))
        self.invoked.set()
        return Invocation("r", {}, None, 1.0, False)


def deployment() -> Any:
    function = SimpleNamespace(schedules=(HOURLY,))
    return SimpleNamespace(functions={"ReconcilerFunction": function}, region="us-east-1")


def test_after_a_restore_each_schedule_runs_at_once() -> None:
    # Given an hourly reconciler on a stack that restored its tables
    runtime = Runtime()
    schedules = Schedules(deployment(), runtime).start(run_now=True)  # type: ignore[arg-type]
    try:
        # When the stack has started
        ran = runtime.invoked.wait(10)
    finally:
        schedules.stop()
        schedules.join()

    # Then the reconciler ran once at once, with the event the Scheduler sends
    assert ran
    assert [function_id for function_id, _ in runtime.events] == ["ReconcilerFunction"]
