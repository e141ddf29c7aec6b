"""GET /notifications and PATCH /notifications/{notificationId}: the applicant's inbox; GET and
POST /devices, DELETE /devices/{deviceId}: the phones it is also pushed to."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from miaopi_platform.aws.api import errors, request_body, signed_in
from miaopi_platform.aws.http import json_body, json_response, parse_body
from miaopi_platform.identity.caller import identity
from miaopi_platform.outcomes.flow import InboxPorts, mark_read, register_device, remove_device
from miaopi_platform.outcomes.views import (
    DeviceList,
    DeviceRegistration,
    DeviceView,
    NotificationPage,
    NotificationUpdate,
    NotificationView,
    device_view,
    view,
)

router = Router()


@router.get(
    "/notifications",
    summary="The caller's notifications, newest first",
    description="What happened to the caller's applications (decisions, a reviewer's "
    "decision, revocations, certificates), delivered as it happens: no polling needed.",
    operation_id="listNotifications",
    responses={
        200: {
            "description": "A page",
            "content": {"application/json": {"model": NotificationPage}},
        },
        **errors([400, 401, 422, 503]),
    },
    security=signed_in(),
    tags=["Notifications"],
)
def list_notifications(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    next_token: Annotated[str | None, Query(alias="nextToken", max_length=2048)] = None,
) -> Response[str]:
    ports: InboxPorts = router.context["deps"]
    me = identity(router)
    items, token = ports.inbox.list_own(me.subject, me.subject_id_hash, limit, next_token)
    return json_response(
        200, NotificationPage(items=[view(i) for i in items], next_token=token).wire()
    )


@router.patch(
    "/notifications/<notificationId>",
    summary="Mark one of the caller's notifications read",
    operation_id="updateNotification",
    openapi_extensions=request_body(NotificationUpdate, "The notification is read"),
    responses={
        200: {
            "description": "The notification, read",
            "content": {"application/json": {"model": NotificationView}},
        },
        **errors([400, 401, 413, 415, 422, 503], {404: "No such notification of the caller's"}),
    },
    security=signed_in(),
    tags=["Notifications"],
)
def read_notification(
    notification_id: Annotated[str, Path(alias="notificationId", max_length=64)],
) -> Response[str]:
    ports: InboxPorts = router.context["deps"]
    me = identity(router)
    parse_body(NotificationUpdate, json_body(router, ports.settings.max_body_bytes), "notification")
    item = mark_read(ports.inbox, me, notification_id)
    return json_response(200, view(item).wire())


@router.get(
    "/devices",
    summary="The caller's devices registered for push, and the platforms offered here",
    operation_id="listDevices",
    responses={
        200: {"description": "The devices", "content": {"application/json": {"model": DeviceList}}},
        **errors([401, 503]),
    },
    security=signed_in(),
    tags=["Notifications"],
)
def list_devices() -> Response[str]:
    ports: InboxPorts = router.context["deps"]
    me = identity(router)
    items = [device_view(d) for d in ports.devices.of_owner(me.subject)]
    shown = DeviceList(items=items, offered=sorted(ports.push.applications))
    return json_response(200, shown.wire())


@router.post(
    "/devices",
    summary="Register a phone for push notifications",
    description="The caller's notifications are also pushed to this device (SNS mobile push). "
    "The same token again is the same device (200). A platform this deployment does not push "
    "to is a 422 naming the ones it does: none in the China regions, where SNS has no mobile "
    "push; GET /notifications is the inbox everywhere.",
    operation_id="registerDevice",
    openapi_extensions=request_body(DeviceRegistration, "The device"),
    responses={
        200: {
            "description": "Registered already",
            "content": {"application/json": {"model": DeviceView}},
        },
        201: {"description": "Registered", "content": {"application/json": {"model": DeviceView}}},
        **errors(
            [400, 401, 413, 415, 422, 503],
            {409: "The account has as many devices as it may: remove one first"},
        ),
    },
    security=signed_in(),
    tags=["Notifications"],
)
def register() -> Response[str]:
    ports: InboxPorts = router.context["deps"]
    me = identity(router)
    body = json_body(router, ports.settings.max_body_bytes)
    request = parse_body(DeviceRegistration, body, "device")
    item, created = register_device(ports, me, request.platform, request.token)
    return json_response(201 if created else 200, device_view(item).wire())


@router.delete(
    "/devices/<deviceId>",
    summary="Stop pushing to one of the caller's devices",
    operation_id="removeDevice",
    responses={
        204: {"description": "Removed"},
        **errors([401, 503], {404: "No such device of the caller's"}),
    },
    security=signed_in(),
    tags=["Notifications"],
)
def remove(
    device: Annotated[str, Path(alias="deviceId", max_length=64)],
) -> Response[str]:
    ports: InboxPorts = router.context["deps"]
    remove_device(ports, identity(router), device)
    return Response(status_code=204, body="")
