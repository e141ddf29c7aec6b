"""Appends every new decision record to its hash chain, from the decisions table's stream.

Idempotent: a record is chained once (a conditional transaction), so a redelivered record or a
retried batch has no second effect. A record whose content does not match its hash is refused
and reported; after the retries its batch goes to the stream failures queue.
"""

from aws_lambda_powertools.utilities.batch import EventType
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from miaopi_platform.audit.sequencer import sequence
from miaopi_platform.aws.batch import batch_handler
from miaopi_platform.aws.settings import Settings
from miaopi_platform.wiring import Dependencies

dependencies = Dependencies(Settings.from_env())


def record_handler(record: DynamoDBRecord) -> None:
    sequence(dependencies.chains, record.raw_event)


lambda_handler = batch_handler(EventType.DynamoDBStreams, record_handler)
