"""Scheduled events, locally: a function's `Schedule` or `ScheduleV2` event with a
`rate(...)` expression is invoked at that rate by a thread of the local stack, with the event
EventBridge would send (a rule's "Scheduled Event", or the Scheduler's `Input`, `{}` without
one). The first run comes one period after the start, as a new schedule's does; a run still
going when the next is due delays it (the functions are idempotent, a missed run is caught up
by the next). Cron schedules are not run locally (none of the functions has one)."""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from infra.local.deploy import Deployment
from infra.local.events import ACCOUNT_ID
from infra.local.runtime import Runtime
from infra.local.template import ScheduledEvent

log = logging.getLogger("miaopi.local.schedules")


def scheduled_event(schedule: ScheduledEvent, region: str, at: datetime) -> Any:
    """What EventBridge sends the function for one run."""
    if schedule.input is not None:
        return schedule.input
    if schedule.kind == "ScheduleV2":
        return {}
    rule = f"arn:aws:events:{region}:{ACCOUNT_ID}:rule/{schedule.function_id}-{schedule.event_id}"
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule],
        "detail": {},
    }


class Schedules:
    """One thread per scheduled event of the deployment's functions."""

    def __init__(self, deployment: Deployment, runtime: Runtime) -> None:
        self._deployment = deployment
        self._runtime = runtime
        self._stop = threading.Event()
        self._run_now = False
        self._after: threading.Event | None = None
        self.schedules = [s for f in deployment.functions.values() for s in f.schedules]
        self._threads = [
            threading.Thread(target=self._run, args=(s,), name=f"schedule-{s.function_id}")
            for s in self.schedules
        ]

    def start(self, *, run_now: bool = False, after: threading.Event | None = None) -> Schedules:
        """Start the schedules; `run_now`: each runs once at once (once `after` is set, if
        given), then every period (after a restart: what was in the streams when the stack
        stopped is not in the restored ones, and the reconciler repairs what that left
        unchained, unsupervised or without a workflow, after the stack resumed the review
        workflows itself)."""
        self._run_now = run_now
        self._after = after
        for thread in self._threads:
            thread.daemon = True
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float = 5.0) -> None:
        for thread in self._threads:
            thread.join(timeout)

    def run_once(self, schedule: ScheduledEvent) -> bool:
        """One run now; True when the function answered without an error."""
        event = scheduled_event(schedule, self._deployment.region, datetime.now(UTC))
        result = self._runtime.invoke(schedule.function_id, event)
        if not result.ok:
            log.warning("scheduled %s failed", schedule.function_id)
        return bool(result.ok)

    def _run(self, schedule: ScheduledEvent) -> None:
        if self._run_now and self._after is not None:
            while not self._after.wait(0.5):
                if self._stop.is_set():
                    return
        if self._run_now and not self._stop.is_set():
            try:
                self.run_once(schedule)
            except Exception:
                log.exception("scheduled %s did not run", schedule.function_id)
        while not self._stop.wait(schedule.every_s):
            try:
                self.run_once(schedule)
            except Exception:  # the stack stopping under it; the next period tries again
                log.exception("scheduled %s did not run", schedule.function_id)
