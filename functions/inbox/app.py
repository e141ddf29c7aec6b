"""The applicant's inbox (主动送达), from the outcome bus's inbox queue: each outcome event
becomes a notification for the application's owners."""

from aws_lambda_powertools.utilities.batch import EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from miaopi_platform.aws.batch import batch_handler
from miaopi_platform.aws.settings import Settings
from miaopi_platform.outcomes.flow import on_event
from miaopi_platform.wiring import Dependencies

dependencies = Dependencies(Settings.from_env())


def record_handler(record: SQSRecord) -> None:
    on_event(dependencies, record.body)


lambda_handler = batch_handler(EventType.SQS, record_handler)
