"""One government service's submissions. The same code serves every service; template.yaml binds
each function to its service with SERVICE_ID, and the service's behaviour is its data."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from miaopi_platform.applications import submit_route as submit
from miaopi_platform.aws.http import make_resolver
from miaopi_platform.aws.observability import logger, metrics, tracer
from miaopi_platform.aws.settings import Settings
from miaopi_platform.catalogue.services import one_service
from miaopi_platform.wiring import Dependencies

settings = Settings.from_env()
service = one_service(settings.service_id or "")  # rules compiled once, at cold start
dependencies = Dependencies(settings)
app = make_resolver()
app.include_router(submit.router)
metrics.set_default_dimensions(serviceId=service.id)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    app.append_context(deps=dependencies, service=service)
    return app.resolve(event, context)
