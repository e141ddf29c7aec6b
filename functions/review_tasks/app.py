"""Stores the review tasks the workflow sends (with their task tokens) for reviewers to work;
when the workflow escalates a referral past its due date, tells its applicant (an outcome event
for the inbox)."""

from aws_lambda_powertools.utilities.batch import EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from miaopi_platform.aws.batch import batch_handler
from miaopi_platform.aws.settings import Settings
from miaopi_platform.outcomes.publisher import on_review_task
from miaopi_platform.review.flow import store_task
from miaopi_platform.wiring import Dependencies

dependencies = Dependencies(Settings.from_env())


def record_handler(record: SQSRecord) -> None:
    store_task(dependencies, record.body)
    on_review_task(dependencies, record.body)


lambda_handler = batch_handler(EventType.SQS, record_handler)
