"""A subject newly on the credit list has their approvals still under supervision checked again
(联合惩戒), from the credit list's stream."""

from aws_lambda_powertools.utilities.batch import EventType
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from miaopi_platform.aws.batch import batch_handler
from miaopi_platform.aws.settings import Settings
from miaopi_platform.supervision.flow import on_credit_entry
from miaopi_platform.wiring import Dependencies

dependencies = Dependencies(Settings.from_env())
# each service's rules are compiled when a record of it first comes (catalogue.find): a
# city's hundreds are not all compiled at cold start


def record_handler(record: DynamoDBRecord) -> None:
    on_credit_entry(dependencies, record.raw_event)


lambda_handler = batch_handler(EventType.DynamoDBStreams, record_handler)
