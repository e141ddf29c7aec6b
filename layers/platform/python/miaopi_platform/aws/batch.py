"""Stream and queue handlers: Powertools batch processing with partial-batch failure reports.

A record that raises is reported in `batchItemFailures`; the rest of its batch stands. Lambda
then retries only what failed (and, past the retries, sends it to the on-failure destination or
the dead-letter queue that template.yaml declares). Record handlers must be idempotent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext

from miaopi_platform.aws.dependencies import invocation
from miaopi_platform.aws.observability import logger, metrics, tracer

Handler = Callable[[dict[str, Any], LambdaContext], PartialItemFailureResponse]


def batch_handler(
    event_type: EventType,
    record_handler: Callable[[Any], None],
    on_invoke: Callable[[LambdaContext], None] | None = None,
) -> Handler:
    """`on_invoke` sees each invocation's context first (e.g. for Powertools idempotency)."""
    processor = BatchProcessor(event_type=event_type)
    traced = tracer.capture_method(record_handler)

    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics
    @tracer.capture_lambda_handler
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
        if on_invoke is not None:
            on_invoke(context)
        # Within the invocation's deadline: records it leaves unprocessed fail and are retried.
        with invocation.running(context):
            return process_partial_response(
                event=event, record_handler=traced, processor=processor, context=context
            )

    return lambda_handler
