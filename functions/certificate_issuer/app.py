"""Signs and stores the certificate of every approval, and marks revoked ones REVOKED, from the
decisions table's stream; off the submit path, within a second or two of the approval.

Idempotent: a redelivered record finds its certificate signed (or revoked) and changes nothing.
"""

from aws_lambda_powertools.utilities.batch import EventType
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from miaopi_platform.aws.batch import batch_handler
from miaopi_platform.aws.settings import Settings
from miaopi_platform.certificates.flow import on_decision
from miaopi_platform.wiring import Dependencies

dependencies = Dependencies(Settings.from_env())
# each service's rules are compiled when a record of it first comes (catalogue.find): a
# city's hundreds are not all compiled at cold start


def record_handler(record: DynamoDBRecord) -> None:
    on_decision(dependencies, record.raw_event)


lambda_handler = batch_handler(EventType.DynamoDBStreams, record_handler)
