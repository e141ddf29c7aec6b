"""The caller of a request: the identity the authorizer put in `requestContext.authorizer`."""

from __future__ import annotations

from typing import cast

from aws_lambda_powertools.event_handler.api_gateway import BaseRouter
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from miaopi_platform.identity.context import Identity, from_context


def caller(app: BaseRouter) -> Identity:
    """The signed-in caller; 401 when the request carries no identity context."""
    context = cast(APIGatewayProxyEvent, app.current_event).request_context
    authorizer = context.authorizer.raw_event if context.authorizer else None
    return from_context(authorizer if isinstance(authorizer, dict) else None)
