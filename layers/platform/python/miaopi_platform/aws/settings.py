"""Settings: read once from the function's environment, which template.yaml declares."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    applications_table: str = Field(alias="APPLICATIONS_TABLE")
    decisions_table: str = Field(alias="DECISIONS_TABLE")
    reference_table: str = Field(alias="REFERENCE_TABLE")
    credit_list_table: str = Field(alias="CREDIT_LIST_TABLE")
    #: one grant per subject (records.grants): read with the evidence, taken with the decision
    grants_table: str = Field(alias="GRANTS_TABLE")
    pii_key_secret_arn: str = Field(alias="PII_KEY_SECRET_ARN")
    review_tasks_table: str = Field(default="", alias="REVIEW_TASKS_TABLE")
    supervision_table: str = Field(default="", alias="SUPERVISION_TABLE")
    credit_history_table: str = Field(default="", alias="CREDIT_HISTORY_TABLE")
    idempotency_table: str = Field(default="", alias="IDEMPOTENCY_TABLE")
    #: the hash chains' heads: the chain sequencer and the audit API
    chain_heads_table: str = Field(default="", alias="CHAIN_HEADS_TABLE")
    applicant_topic_arn: str = Field(default="", alias="APPLICANT_TOPIC_ARN")
    supervisor_topic_arn: str = Field(default="", alias="SUPERVISOR_TOPIC_ARN")
    #: signed e-certificates (miaopi_platform.certificates): the register, the KMS key that
    #: signs, and earlier keys still published (comma-separated) so their certificates verify
    certificates_table: str = Field(default="", alias="CERTIFICATES_TABLE")
    certificate_key_id: str = Field(default="", alias="CERTIFICATE_KEY_ID")
    certificate_published_key_ids: str = Field(default="", alias="CERTIFICATE_PUBLISHED_KEY_IDS")
    #: the outcome events' bus (outcomes.publisher) and the applicant's inbox (outcomes.inbox)
    event_bus_name: str = Field(default="", alias="EVENT_BUS_NAME")
    notifications_table: str = Field(default="", alias="NOTIFICATIONS_TABLE")
    #: mobile push (outcomes.devices): the registered devices, and `platform=ARN` pairs of the
    #: SNS platform applications (empty where the partition has no mobile push)
    devices_table: str = Field(default="", alias="DEVICES_TABLE")
    push_platform_applications: str = Field(default="", alias="PUSH_PLATFORM_APPLICATIONS")
    #: only the functions that start review workflows are given it
    review_state_machine_arn: str = Field(default="", alias="REVIEW_STATE_MACHINE_ARN")
    #: bound per function in template.yaml; empty for functions that serve every service
    service_id: str | None = Field(default=None, alias="SERVICE_ID")
    #: departments' data (intake): a source not loaded for this many hours is stale (alarmed)
    source_max_age_hours: float = Field(default=26, alias="SOURCE_MAX_AGE_HOURS")
    #: the API's own body limit, far below API Gateway's 10 MB
    max_body_bytes: int = Field(default=64 * 1024, alias="MAX_BODY_BYTES")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        source = os.environ if env is None else env
        return cls.model_validate({k: v for k, v in source.items() if k in _NAMES})


_NAMES = {field.alias for field in Settings.model_fields.values()}
