"""An applicant reads their inbox and marks notifications read."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from miaopi_platform.aws.http import make_resolver
from miaopi_platform.aws.observability import logger, metrics, tracer
from miaopi_platform.aws.settings import Settings
from miaopi_platform.outcomes import routes as notifications
from miaopi_platform.wiring import Dependencies

dependencies = Dependencies(Settings.from_env())
app = make_resolver()
app.include_router(notifications.router)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    app.append_context(deps=dependencies)
    return app.resolve(event, context)
