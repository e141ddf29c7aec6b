"""What a function needs to talk to AWS, built lazily from its settings on first use.

Nothing talks to AWS at import; tests inject clients instead of patching.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import boto3

from miaopi_platform.evidence import DynamoEvidence
from miaopi_platform.pii import PiiHasher
from miaopi_platform.review_store import ReviewStore
from miaopi_platform.settings import Settings
from miaopi_platform.store import ApplicationStore


class Dependencies:
    def __init__(
        self,
        settings: Settings,
        dynamodb: Any | None = None,
        secrets: Any | None = None,
        hasher: PiiHasher | None = None,
        stepfunctions: Any | None = None,
    ) -> None:
        self.settings = settings
        self._dynamodb = dynamodb
        self._secrets = secrets
        self._hasher = hasher
        self._stepfunctions = stepfunctions

    @cached_property
    def dynamodb(self) -> Any:
        return self._dynamodb or boto3.client("dynamodb")

    @cached_property
    def hasher(self) -> PiiHasher:
        if self._hasher is not None:
            return self._hasher
        secrets = self._secrets or boto3.client("secretsmanager")
        return PiiHasher.from_secret(secrets, self.settings.pii_key_secret_arn)

    @cached_property
    def evidence(self) -> DynamoEvidence:
        return DynamoEvidence(
            self.dynamodb,
            self.settings.reference_table,
            self.settings.credit_list_table,
            self.hasher,
        )

    @cached_property
    def store(self) -> ApplicationStore:
        return ApplicationStore(
            self.dynamodb, self.settings.applications_table, self.settings.decisions_table
        )

    @cached_property
    def reviews(self) -> ReviewStore:
        return ReviewStore(self.dynamodb, self.settings.review_tasks_table)

    @cached_property
    def stepfunctions(self) -> Any:
        return self._stepfunctions or boto3.client("stepfunctions")
