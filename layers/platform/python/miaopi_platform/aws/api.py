"""The API contract's base (v1): JSON, camelCase on the wire, and the one error body.

Each capability's own API models live in its package (`records.views`, `catalogue.views`,
`review.views`, `audit.views`, `credit.routes`); they all derive from `ApiModel`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class ApiModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    def wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class Localized(ApiModel):
    zh: str
    en: str


class ErrorDetail(ApiModel):
    field: str | None = None
    code: str
    message: str | None = None


class ErrorInfo(ApiModel):
    code: str
    message: str
    details: list[ErrorDetail] = Field(default_factory=list)


class ErrorBody(ApiModel):
    error: ErrorInfo
