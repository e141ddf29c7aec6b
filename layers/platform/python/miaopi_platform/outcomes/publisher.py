"""Publishing outcome events, from the applications table's stream (never from the submit path:
a submission keeps its two AWS calls). A redelivered record publishes the same event again,
with the same `eventId`: receivers apply an event once (docs/results.md)."""

from __future__ import annotations

from typing import Any, Protocol

from miaopi_platform.aws.dependencies import dependency_errors
from miaopi_platform.aws.dynamo import from_item
from miaopi_platform.aws.observability import logger, metrics
from miaopi_platform.aws.settings import Settings
from miaopi_platform.catalogue.services import find
from miaopi_platform.outcomes.events import OutcomeDetail, decided, entry


class PublisherPorts(Protocol):
    @property
    def settings(self) -> Settings: ...
    @property
    def events(self) -> Any: ...


class NotPublished(Exception):
    """EventBridge refused the entry: the record fails and is delivered again."""


def on_application_change(deps: PublisherPorts, stream_record: dict[str, Any]) -> None:
    change = stream_record.get("dynamodb") or {}
    image = change.get("NewImage")
    if stream_record.get("eventName") not in ("INSERT", "MODIFY") or not image:
        return
    new = from_item(image)
    old = from_item(change["OldImage"]) if change.get("OldImage") else None
    detail = decided(find(str(new["serviceId"])), new, old)
    if detail is not None:
        publish(deps, detail)


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
