"""The inbox at work: an outcome event delivered from the bus becomes a notification for the
application's owners; an owner lists their notifications and marks one read. Anyone else's
notification is as absent as one that does not exist (404), so ids cannot be probed."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Protocol

from miaopi_platform.aws.clock import iso
from miaopi_platform.aws.errors import NotFound
from miaopi_platform.aws.observability import logger, metrics
from miaopi_platform.aws.settings import Settings
from miaopi_platform.identity.context import Identity
from miaopi_platform.outcomes.events import DETAIL_TYPES, SOURCE, VERSION
from miaopi_platform.outcomes.inbox import Inbox, NotificationItem
from miaopi_platform.records.store import ApplicationStore


class InboxPorts(Protocol):
    @property
    def settings(self) -> Settings: ...
    @property
    def inbox(self) -> Inbox: ...
    @property
    def store(self) -> ApplicationStore: ...


def notification_id(event_id: str) -> str:
    return "NTF" + event_id[3:]


def on_event(deps: InboxPorts, body: str) -> None:
    """One EventBridge event as the inbox queue delivers it. An event of another source or a
    newer schema version is left alone (logged): it is not for this reader."""
    event: dict[str, Any] = json.loads(body)
    detail = event.get("detail") or {}
    if event.get("source") != SOURCE or detail.get("version") != VERSION:
        logger.warning("event not for the inbox", extra={"source": event.get("source")})
        return
    if detail.get("kind") not in DETAIL_TYPES:
        logger.warning("unknown outcome kind", extra={"kind": detail.get("kind")})
        return
    application = deps.store.get(str(detail["applicationId"]))
    if application is None:  # an event always follows its application's write
        raise LookupError(f"no application {detail['applicationId']}")
    nid = notification_id(str(detail["eventId"]))
    item: NotificationItem = {
        "notificationId": nid,
        "eventId": str(detail["eventId"]),
        "kind": str(detail["kind"]),
        "applicationId": application["applicationId"],
        "serviceId": application["serviceId"],
        "outcome": str(detail.get("outcome", "")),
        "decidedBy": str(detail.get("decidedBy", "")),
        "occurredAt": str(detail.get("occurredAt", "")),
        "position": f"{detail.get('occurredAt', '')}#{nid}",
        "applicantId": application["applicantId"],
    }
    if detail.get("certificateNumber"):
        item["certificateNumber"] = str(detail["certificateNumber"])
    if application.get("holderHash"):
        item["holderHash"] = application["holderHash"]
    if deps.inbox.add(item):
        metrics.add_metric(name="NotificationsStored", unit="Count", value=1)
        logger.info("notification stored", extra={"notificationId": nid, "kind": item["kind"]})


def is_own(item: NotificationItem, me: Identity) -> bool:
    return item["applicantId"] == me.subject or item.get("holderHash") == me.subject_id_hash


def mark_read(
    inbox: Inbox, me: Identity, notification: str, now: dt.datetime | None = None
) -> NotificationItem:
    item = inbox.get(notification)
    if item is None or not is_own(item, me):
        raise NotFound("no such notification")
    if "readAt" in item:
        return item
    return inbox.mark_read(notification, iso(now or dt.datetime.now(dt.UTC)))
