"""The scheduled reconciler (EventBridge, every 5 minutes): restarts review workflows that are
gone, writes missing supervision records and chains records the sequencer gave up on, each
through its own step's code; reports the repairs and the calendar's uncovered days as metrics.
The event may carry `{"lookbackDays": N}` for a one-off sweep further back."""

from typing import Any

from miaopi_platform.aws.observability import logger, metrics
from miaopi_platform.aws.settings import Settings
from miaopi_platform.catalogue.services import all_services
from miaopi_platform.reconcile.flow import LOOKBACK_DAYS, reconcile
from miaopi_platform.wiring import Dependencies

dependencies = Dependencies(Settings.from_env())
all_services()  # every service's rules, all versions, compiled once at cold start


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    days = event.get("lookbackDays") if isinstance(event, dict) else None
    if days is not None and (not isinstance(days, int) or isinstance(days, bool) or days < 1):
        raise ValueError("lookbackDays must be a whole number of days, at least 1")
    dependencies.idempotency_config.register_lambda_context(context)
    repairs = reconcile(dependencies, lookback_days=days or LOOKBACK_DAYS)
    return repairs.as_metrics()
