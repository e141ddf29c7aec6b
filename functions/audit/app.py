"""The auditors' API: decisions, one decision in full, statistics, chain verification, replay
and what-if. Read-only: its role may only GetItem, BatchGetItem and Query (template.yaml)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from miaopi_platform.catalogue import all_services
from miaopi_platform.dependencies import Dependencies
from miaopi_platform.http import make_resolver
from miaopi_platform.observability import logger, metrics, tracer
from miaopi_platform.routes import audit
from miaopi_platform.settings import Settings

dependencies = Dependencies(Settings.from_env())
all_services()  # every service's rules (every version) compiled once, at cold start
app = make_resolver()
app.include_router(audit.router)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    app.append_context(deps=dependencies)
    return app.resolve(event, context)
