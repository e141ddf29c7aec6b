"""Outcome events (结果推送), from the applications table's stream: every final outcome on an
application (a decision, a reviewer's decision, a revocation) is published to the outcome bus,
off the submit path."""

from aws_lambda_powertools.utilities.batch import EventType
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from miaopi_platform.aws.batch import batch_handler
from miaopi_platform.aws.settings import Settings
from miaopi_platform.outcomes.publisher import on_application_change
from miaopi_platform.wiring import Dependencies

dependencies = Dependencies(Settings.from_env())


def record_handler(record: DynamoDBRecord) -> None:
    on_application_change(dependencies, record.raw_event)


lambda_handler = batch_handler(EventType.DynamoDBStreams, record_handler)
