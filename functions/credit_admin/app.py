"""The credit list for administrators: look up, list, repair (信用修复)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from miaopi_platform.dependencies import Dependencies
from miaopi_platform.http import make_resolver
from miaopi_platform.observability import logger, metrics, tracer
from miaopi_platform.routes import credit
from miaopi_platform.settings import Settings

dependencies = Dependencies(Settings.from_env())
app = make_resolver()
app.include_router(credit.router)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    app.append_context(deps=dependencies)
    return app.resolve(event, context)
