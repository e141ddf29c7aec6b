"""The inbox as its owner reads it: what happened to which application, in words, read or not."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import ConfigDict, Field

from miaopi_platform.aws.api import ApiModel, Localized
from miaopi_platform.catalogue.services import all_services
from miaopi_platform.outcomes.devices import DeviceItem, Platform
from miaopi_platform.outcomes.inbox import NotificationItem

#: (kind, outcome) -> what the applicant is told, with the service's name in {zh}/{en}
_WORDS: dict[tuple[str, str], tuple[str, str]] = {
    ("DECIDED", "APPROVED"): ("您的「{zh}」申请已获批准。", "Your application ({en}) is approved."),
    ("DECIDED", "REJECTED"): ("您的「{zh}」申请未获批准。", "Your application ({en}) is rejected."),
    ("REVOKED", "REVOKED"): ("您的「{zh}」批准已被撤销。", "Your approval ({en}) is revoked."),
    ("CERTIFICATE_ISSUED", "APPROVED"): (
        "您的「{zh}」证照已签发，可下载。",
        "Your certificate ({en}) is issued and ready.",
    ),
    ("REVIEW_OVERDUE", "PENDING_REVIEW"): (
        "您的「{zh}」申请审核已超期，已提醒主管督办。",
        "The review of your application ({en}) is overdue; a supervisor has been told.",
    ),
}


class NotificationView(ApiModel):
    notification_id: str
    kind: str
    application_id: str
    service_id: str
    outcome: str
    decided_by: str | None = None
    occurred_at: dt.datetime
    certificate_number: str | None = None
    message: Localized
    read: bool
    read_at: dt.datetime | None = None


class NotificationUpdate(ApiModel):
    """What an owner changes on a notification: it is read (reading is not undone)."""

    model_config = ConfigDict(extra="forbid")

    read: Literal[True]


class NotificationPage(ApiModel):
    items: list[NotificationView]
    next_token: str | None = None


def view(item: NotificationItem) -> NotificationView:
    service = all_services().get(item["serviceId"])
    names = service.file.name if service else None
    zh, en = _WORDS.get((item["kind"], item["outcome"]), ("「{zh}」: {outcome}", "{en}: {outcome}"))
    fill = {
        "zh": names.zh if names else item["serviceId"],
        "en": names.en if names else item["serviceId"],
        "outcome": item["outcome"],
    }
    return NotificationView(
        notification_id=item["notificationId"],
        kind=item["kind"],
        application_id=item["applicationId"],
        service_id=item["serviceId"],
        outcome=item["outcome"],
        decided_by=item.get("decidedBy") or None,
        occurred_at=dt.datetime.fromisoformat(item["occurredAt"].replace("Z", "+00:00")),
        certificate_number=item.get("certificateNumber"),
        message=Localized(zh=zh.format(**fill), en=en.format(**fill)),
        read="readAt" in item,
        read_at=dt.datetime.fromisoformat(item["readAt"].replace("Z", "+00:00"))
        if "readAt" in item
        else None,
    )


class DeviceRegistration(ApiModel):
    """A phone to push the caller's notifications to: its platform and the token the
    platform's SDK gave the app (sent to SNS only, never shown or stored here)."""

    model_config = ConfigDict(extra="forbid")

    platform: Platform
    token: str = Field(min_length=1, max_length=4096, pattern=r"^[\x21-\x7e]+$")


class DeviceView(ApiModel):
    device_id: str
    platform: str
    registered_at: dt.datetime


class DeviceList(ApiModel):
    items: list[DeviceView]
    #: the platforms this deployment pushes to (none where the partition has no mobile push)
    offered: list[str]


def device_view(item: DeviceItem) -> DeviceView:
    return DeviceView(
        device_id=item["deviceId"],
        platform=item["platform"],
        registered_at=dt.datetime.fromisoformat(item["registeredAt"].replace("Z", "+00:00")),
    )
