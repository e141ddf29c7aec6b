"""Departments' data in: a file delivered to the intake bucket (S3 ObjectCreated) is loaded and
reported; the hourly schedule checks every source's freshness (the StaleSources alarm)."""

import datetime as dt
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.typing import LambdaContext
from miaopi_platform.aws.dependencies import invocation
from miaopi_platform.aws.observability import logger, metrics
from miaopi_platform.aws.settings import Settings
from miaopi_platform.intake.flow import check_freshness, load_object
from miaopi_platform.wiring import IntakeDependencies

dependencies = IntakeDependencies(Settings.from_env())


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    with invocation.running(context):
        if event.get("source") == "aws.events":  # the schedule
            stale = check_freshness(dependencies, now, dependencies.settings.source_max_age_hours)
            return {"staleSources": stale}
        reports = [
            load_object(
                dependencies, r["s3"]["bucket"]["name"], unquote_plus(r["s3"]["object"]["key"]), now
            )
            for r in event.get("Records", [])
        ]
        return {"reports": [r for r in reports if r is not None]}
