"""Starts one review workflow per referred application, from the applications table's stream.

The execution is named after the application, so a redelivered record (or a retried batch)
cannot start a second one: Step Functions answers ExecutionAlreadyExists, which is success here.
"""

from aws_lambda_powertools.utilities.batch import EventType
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from miaopi_platform.aws.batch import batch_handler
from miaopi_platform.aws.settings import Settings
from miaopi_platform.review.flow import start_referral
from miaopi_platform.wiring import Dependencies

dependencies = Dependencies(Settings.from_env())


def record_handler(record: DynamoDBRecord) -> None:
    start_referral(dependencies, record.raw_event)


lambda_handler = batch_handler(EventType.DynamoDBStreams, record_handler)
