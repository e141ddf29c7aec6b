"""The inbox at work: an outcome event delivered from the bus becomes a notification for the
application's owners; an owner lists their notifications and marks one read. Anyone else's
notification is as absent as one that does not exist (404), so ids cannot be probed."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from miaopi_platform.aws.clock import iso
from miaopi_platform.aws.errors import (
    Conflict,
    DependencyUnavailable,
    NotFound,
    PlatformError,
    UnprocessableEntity,
)
from miaopi_platform.aws.observability import logger, metrics
from miaopi_platform.aws.settings import Settings
from miaopi_platform.identity.context import Identity
from miaopi_platform.outcomes.devices import (
    MAX_DEVICES,
    DeviceItem,
    Devices,
    EndpointGone,
    InvalidToken,
    Push,
    device_id,
)
from miaopi_platform.outcomes.events import DETAIL_TYPES, SOURCE, VERSION
from miaopi_platform.outcomes.inbox import Inbox, NotificationItem
from miaopi_platform.outcomes.views import view
from miaopi_platform.records.store import ApplicationStore


class InboxPorts(Protocol):
    @property
    def settings(self) -> Settings: ...
    @property
    def inbox(self) -> Inbox: ...
    @property
    def store(self) -> ApplicationStore: ...
    @property
    def devices(self) -> Devices: ...
    @property
    def push(self) -> Push: ...


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
        push(deps, item)


def push(deps: InboxPorts, item: NotificationItem) -> int:
    """A newly stored notification, pushed to its owners' registered devices (once: a
    redelivered event stores nothing and pushes nothing). A failed push is counted and
    logged, never retried and never fails the notification: the inbox holds it. The number of
    devices reached."""
    if not deps.push.applications:
        return 0
    try:
        return _push(deps, item)
    except (ClientError, BotoCoreError, PlatformError) as exc:  # the devices table's too
        logger.warning("push failed", extra={"error": type(exc).__name__})
        metrics.add_metric(name="PushFailed", unit="Count", value=1)
        return 0


def _push(deps: InboxPorts, item: NotificationItem) -> int:
    owners = deps.devices.of_owner(item["applicantId"])
    if item.get("holderHash"):
        owners += deps.devices.of_person(item["holderHash"])
    devices = {device["deviceId"]: device for device in owners}
    if not devices:
        return 0
    shown = view(item)
    data = {
        "notificationId": item["notificationId"],
        "applicationId": item["applicationId"],
        "kind": item["kind"],
    }
    reached = 0
    for device in devices.values():
        try:
            deps.push.send(device["endpointArn"], shown.message.zh, shown.message.en, data)
            reached += 1
        except EndpointGone:  # the app was uninstalled or the token expired: forget the phone
            deps.devices.remove(device["deviceId"], device["ownerId"])
            deps.push.forget(device["endpointArn"])
            logger.info(
                "push endpoint gone: device removed", extra={"deviceId": device["deviceId"]}
            )
            metrics.add_metric(name="PushEndpointsRemoved", unit="Count", value=1)
        except (ClientError, DependencyUnavailable) as exc:
            logger.warning("push failed", extra={"error": type(exc).__name__})
            metrics.add_metric(name="PushFailed", unit="Count", value=1)
    if reached:
        metrics.add_metric(name="PushSent", unit="Count", value=reached)
    return reached


def register_device(
    deps: InboxPorts, me: Identity, platform: str, token: str, now: dt.datetime | None = None
) -> tuple[DeviceItem, bool]:
    """The caller's phone, registered for push; (it, whether newly the caller's). The same
    token again is the same phone (its endpoint enabled again); a phone another account had
    becomes the caller's. A platform not offered here is a 422 naming the ones that are (none
    where the partition has no mobile push: the inbox is the fallback)."""
    if platform not in deps.push.applications:
        here = ", ".join(sorted(deps.push.applications)) or "none"
        raise UnprocessableEntity(
            f"mobile push is not offered for this platform here (offered: {here}); "
            "GET /notifications is the inbox",
            [{"field": "platform", "code": "not_offered"}],
        )
    device = device_id(platform, token)
    known = deps.devices.get(device)
    mine = known is not None and known["ownerId"] == me.subject
    if not mine and len(deps.devices.of_owner(me.subject)) >= MAX_DEVICES:
        raise Conflict(
            f"an account registers at most {MAX_DEVICES} devices: remove one first "
            "(DELETE /devices/{deviceId})"
        )
    try:
        endpoint = deps.push.endpoint(platform, token, device)
    except InvalidToken:
        raise UnprocessableEntity(
            "the push service refused this token for the platform",
            [{"field": "token", "code": "refused"}],
        ) from None
    if known is not None and mine and known["endpointArn"] == endpoint:
        return known, False
    item: DeviceItem = {
        "ownerId": me.subject,
        "deviceId": device,
        "personHash": me.subject_id_hash,
        "platform": platform,
        "endpointArn": endpoint,
        "registeredAt": iso(now or dt.datetime.now(dt.UTC)),
    }
    deps.devices.put(item)
    if not mine:
        metrics.add_metric(name="PushDevicesRegistered", unit="Count", value=1)
    return item, not mine


def remove_device(deps: InboxPorts, me: Identity, device: str) -> None:
    """The caller's phone, no longer pushed to; anyone else's is a 404."""
    item = deps.devices.get(device)
    if item is None or item["ownerId"] != me.subject:
        raise NotFound("no such device of the caller's")
    if deps.devices.remove(device, me.subject):
        deps.push.forget(item["endpointArn"])


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
