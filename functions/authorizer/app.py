"""API Gateway's Lambda (REQUEST) authorizer: verifies the bearer token of the configured OIDC
issuer and passes the caller's identity to the functions (miaopi_platform.identity).

The verifier (its JWKS cache and the PII hash key) is built on the first call and kept for the
execution environment's life: nothing talks to AWS or the issuer at import.
"""

from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext
from miaopi_platform.aws.observability import logger
from miaopi_platform.identity.authorizer import authorize
from miaopi_platform.identity.settings import IdentitySettings
from miaopi_platform.identity.token import TokenVerifier
from miaopi_platform.privacy.pii import PiiHasher


@cache
def verifier() -> TokenVerifier:
    settings = IdentitySettings.from_env()
    secrets = boto3.client("secretsmanager")
    return TokenVerifier.from_settings(
        settings, PiiHasher.from_secret(secrets, settings.pii_key_secret_arn)
    )


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return authorize(event, verifier)
