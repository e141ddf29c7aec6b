"""The wiring: every store and client a function may need, built lazily from its settings on
first use. Only `functions/*/app.py` (and tests) import it; each capability declares what it
needs as a Protocol of its own (e.g. `review.flow.ReviewPorts`), which this container satisfies.

Nothing talks to AWS at import; tests inject clients instead of patching. Every client built
here ends its calls within the invocation's time (`aws.dependencies.client`).
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from miaopi_platform.aws.dependencies import client
from miaopi_platform.aws.settings import Settings
from miaopi_platform.evidence.port import DynamoEvidence
from miaopi_platform.privacy.pii import PiiHasher
from miaopi_platform.records.store import ApplicationStore

if TYPE_CHECKING:  # imported where first used: a service function's cold start skips them
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
    )

    from miaopi_platform.audit.sequencer import ChainStore
    from miaopi_platform.audit.store import AuditStore
    from miaopi_platform.certificates.signing import CertificateSigner
    from miaopi_platform.certificates.store import CertificateStore
    from miaopi_platform.credit.store import CreditList
    from miaopi_platform.intake.store import SourceLoads, SourceRecords
    from miaopi_platform.outcomes.devices import Devices, Push
    from miaopi_platform.outcomes.inbox import Inbox
    from miaopi_platform.review.store import ReviewStore
    from miaopi_platform.supervision.store import SupervisionStore


class Dependencies:
    def __init__(
        self,
        settings: Settings,
        dynamodb: Any | None = None,
        secrets: Any | None = None,
        hasher: PiiHasher | None = None,
        stepfunctions: Any | None = None,
        sns: Any | None = None,
        kms: Any | None = None,
        events: Any | None = None,
    ) -> None:
        self.settings = settings
        self._dynamodb = dynamodb
        self._secrets = secrets
        self._hasher = hasher
        self._stepfunctions = stepfunctions
        self._sns = sns
        self._kms = kms
        self._events = events

    @cached_property
    def dynamodb(self) -> Any:
        return self._dynamodb or client("dynamodb")

    @cached_property
    def secrets(self) -> Any:
        return self._secrets or client("secretsmanager")

    @cached_property
    def hasher(self) -> PiiHasher:
        # A key store that does not answer is a 503, and nothing is cached: the next request
        # of this execution environment fetches the key again.
        if self._hasher is not None:
            return self._hasher
        return PiiHasher.from_secret(self.secrets, self.settings.pii_key_secret_arn)

    @cached_property
    def evidence(self) -> DynamoEvidence:
        return DynamoEvidence(
            self.dynamodb,
            self.settings.reference_table,
            self.settings.credit_list_table,
            self.settings.grants_table,
            self.hasher,
        )

    @cached_property
    def store(self) -> ApplicationStore:
        return ApplicationStore(
            self.dynamodb,
            self.settings.applications_table,
            self.settings.decisions_table,
            self.settings.grants_table,
        )

    @cached_property
    def reviews(self) -> ReviewStore:
        from miaopi_platform.review.store import ReviewStore

        return ReviewStore(self.dynamodb, self.settings.review_tasks_table)

    @cached_property
    def stepfunctions(self) -> Any:
        return self._stepfunctions or client("stepfunctions")

    @cached_property
    def sns(self) -> Any:
        return self._sns or client("sns")

    @cached_property
    def events(self) -> Any:
        return self._events or client("events")

    @cached_property
    def inbox(self) -> Inbox:
        from miaopi_platform.outcomes.inbox import Inbox

        return Inbox(self.dynamodb, self.settings.notifications_table)

    @cached_property
    def devices(self) -> Devices:
        from miaopi_platform.outcomes.devices import Devices

        return Devices(self.dynamodb, self.settings.devices_table)

    @cached_property
    def push(self) -> Push:
        from miaopi_platform.outcomes.devices import Push, offered

        return Push(self.sns, offered(self.settings.push_platform_applications))

    @cached_property
    def credit(self) -> CreditList:
        from miaopi_platform.credit.store import CreditList

        return CreditList(
            self.dynamodb, self.settings.credit_list_table, self.settings.credit_history_table
        )

    @cached_property
    def supervision(self) -> SupervisionStore:
        from miaopi_platform.supervision.store import SupervisionStore

        return SupervisionStore(self.dynamodb, self.settings.supervision_table)

    @cached_property
    def idempotency_store(self) -> DynamoDBPersistenceLayer:
        from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

        return DynamoDBPersistenceLayer(
            table_name=self.settings.idempotency_table, boto3_client=self.dynamodb
        )

    @cached_property
    def idempotency_config(self) -> IdempotencyConfig:
        from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

        # a notice is published once per stream record for a day: longer than any redelivery
        return IdempotencyConfig(expires_after_seconds=24 * 3600)

    @cached_property
    def audit(self) -> AuditStore:
        from miaopi_platform.audit.store import AuditStore

        return AuditStore(
            self.dynamodb, self.settings.decisions_table, self.settings.chain_heads_table
        )

    @cached_property
    def chains(self) -> ChainStore:
        from miaopi_platform.audit.sequencer import ChainStore

        return ChainStore(
            self.dynamodb, self.settings.decisions_table, self.settings.chain_heads_table
        )

    @cached_property
    def kms(self) -> Any:
        return self._kms or client("kms")

    @cached_property
    def certificates(self) -> CertificateStore:
        from miaopi_platform.certificates.store import CertificateStore

        return CertificateStore(
            self.dynamodb, self.settings.certificates_table, self.settings.applications_table
        )

    @cached_property
    def signer(self) -> CertificateSigner:
        from miaopi_platform.certificates.signing import CertificateSigner

        earlier = self.settings.certificate_published_key_ids.split(",")
        return CertificateSigner(
            self.kms, self.settings.certificate_key_id, tuple(k.strip() for k in earlier if k)
        )


# ---------------------------------------------------------------- departments' data (intake)


class IntakeDependencies(Dependencies):
    """The loader's (intake.flow.IntakePorts): the intake bucket's client and the sources'
    stores, besides the PII hasher of the credit list."""

    def __init__(self, settings: Settings, s3: Any | None = None, **clients: Any) -> None:
        super().__init__(settings, **clients)
        self._s3 = s3

    @cached_property
    def s3(self) -> Any:
        return self._s3 or client("s3")

    @cached_property
    def records(self) -> SourceRecords:
        from miaopi_platform.intake.store import SourceRecords

        return SourceRecords(
            self.dynamodb, self.settings.reference_table, self.settings.credit_list_table
        )

    @cached_property
    def loads(self) -> SourceLoads:
        from miaopi_platform.intake.store import SourceLoads

        return SourceLoads(self.dynamodb, self.settings.reference_table)
