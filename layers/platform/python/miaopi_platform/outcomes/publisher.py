"""Publishing outcome events, from the applications table's stream (never from the submit path:
a submission keeps its two AWS calls). A redelivered record publishes the same event again,
with the same `eventId`: receivers apply an event once (docs/results.md)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Protocol

from miaopi_platform.aws.clock import iso
from miaopi_platform.aws.dependencies import dependency_errors
from miaopi_platform.aws.dynamo import from_item
from miaopi_platform.aws.observability import logger, metrics
from miaopi_platform.aws.settings import Settings
from miaopi_platform.catalogue.services import find
from miaopi_platform.outcomes.events import OutcomeDetail, entry, of_change, review_overdue
from miaopi_platform.records.store import ApplicationStore


class PublisherPorts(Protocol):
    @property
    def settings(self) -> Settings: ...
    @property
    def events(self) -> Any: ...


class OverduePorts(PublisherPorts, Protocol):
    @property
    def store(self) -> ApplicationStore: ...


class NotPublished(Exception):
    """EventBridge refused the entry: the record fails and is delivered again."""


def on_application_change(deps: PublisherPorts, stream_record: dict[str, Any]) -> None:
    change = stream_record.get("dynamodb") or {}
    image = change.get("NewImage")
    if stream_record.get("eventName") not in ("INSERT", "MODIFY") or not image:
        return
    new = from_item(image)
    old = from_item(change["OldImage"]) if change.get("OldImage") else None
    for detail in of_change(find(str(new["serviceId"])), new, old):
        publish(deps, detail)


def on_review_task(deps: OverduePorts, body: str, now: dt.datetime | None = None) -> bool:
    """A review workflow's task message (the review queue's): when the workflow escalated a
    referral past its due date, its applicant's event. True when one was published; a
    redelivered or restarted escalation publishes the same event id (stored once)."""
    message: dict[str, Any] = json.loads(body)
    task = message.get("task") or {}
    if not message.get("escalated") or task.get("kind") != "REFERRAL":
        return False
    application = deps.store.get(str(task["applicationId"]))
    if application is None:
        return False
    # when the workflow escalated (it says so in the message), not when a backlog let us read it
    at = str(message.get("sentAt") or iso(now or dt.datetime.now(dt.UTC)))
    detail = review_overdue(find(str(task["serviceId"])), dict(application), task["taskId"], at)
    if detail is None:
        return False
    publish(deps, detail)
    return True


def publish(deps: PublisherPorts, detail: OutcomeDetail) -> None:
    with dependency_errors("the outcome bus"):
        answer = deps.events.put_events(Entries=[entry(detail, deps.settings.event_bus_name)])
    if answer.get("FailedEntryCount"):
        code = (answer.get("Entries") or [{}])[0].get("ErrorCode", "unknown")
        raise NotPublished(f"the outcome bus refused {detail['eventId']}: {code}")
    metrics.add_metric(name="OutcomeEventsPublished", unit="Count", value=1)
    logger.info(
        "outcome published",
        extra={"eventId": detail["eventId"], "kind": detail["kind"], "outcome": detail["outcome"]},
    )
