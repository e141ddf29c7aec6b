"""The identity provider the API trusts: read once from the authorizer's environment, which
template.yaml fills from its parameters (issuer URL, audience, JWKS URL).

The URLs are checked when the settings are read, so a misconfigured authorizer fails at its cold
start with the setting's name, not on every token.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, field_validator

from miaopi_platform.identity.keys import check_url


class IdentitySettings(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    #: the `iss` every token must carry, exactly (OIDC discovery's `issuer`)
    issuer: str = Field(alias="OIDC_ISSUER", min_length=1)
    #: the `aud` a token must contain: this API's client id at the issuer
    audience: str = Field(alias="OIDC_AUDIENCE", min_length=1)
    #: where the issuer publishes its signing keys (OIDC discovery's `jwks_uri`)
    jwks_url: str = Field(alias="OIDC_JWKS_URL", min_length=1)
    #: the PII hash key: the identity carries the ID number's keyed hash, never the number
    pii_key_secret_arn: str = Field(alias="PII_KEY_SECRET_ARN", min_length=1)

    @field_validator("issuer")
    @classmethod
    def _issuer(cls, value: str) -> str:
        return check_url(value, "OIDC_ISSUER")

    @field_validator("jwks_url")
    @classmethod
    def _jwks_url(cls, value: str) -> str:
        return check_url(value, "OIDC_JWKS_URL")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> IdentitySettings:
        source = os.environ if env is None else env
        return cls.model_validate({k: v for k, v in source.items() if k in _NAMES})


_NAMES = {field.alias for field in IdentitySettings.model_fields.values()}
