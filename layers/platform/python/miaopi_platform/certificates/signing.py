"""Signing with the certificate key in KMS (the private key never leaves it), and the public
keys anyone may check certificates with. The key's id is in every payload, so a new key can
sign while certificates signed by an earlier one still verify (the settings name both)."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from miaopi_platform.aws.dependencies import dependency_errors
from miaopi_platform.certificates.document import PublicKey, public_key

_WHAT = "the certificate signing key"


def published_id(key_id_or_arn: str) -> str:
    """A key's id as documents name it: the KMS key id, not its ARN (which names an account)."""
    return key_id_or_arn.rsplit("/", 1)[-1]


class CertificateSigner:
    """The KMS key that signs (`signing_key`) and every key still published (`published`)."""

    def __init__(self, kms: Any, signing_key: str, published: tuple[str, ...] = ()) -> None:
        self._kms = kms
        self._signing_key = signing_key
        self._published = tuple(dict.fromkeys((signing_key, *published)))

    @property
    def key_id(self) -> str:
        return published_id(self._signing_key)

    @property
    def algorithm(self) -> str:
        return self.keys[self.key_id]["algorithm"]

    @cached_property
    def keys(self) -> dict[str, PublicKey]:
        """The published public keys by id (read from KMS once per execution environment)."""
        out: dict[str, PublicKey] = {}
        for key in self._published:
            with dependency_errors(_WHAT):
                answer = self._kms.get_public_key(KeyId=key)
            key_id = published_id(str(answer["KeyId"]))
            algorithm = str(answer["SigningAlgorithms"][0])
            out[key_id] = public_key(key_id, algorithm, answer["PublicKey"])
        return out

    def sign(self, message: bytes) -> bytes:
        """The DER-encoded signature of `message` by the signing key."""
        algorithm = self.algorithm
        with dependency_errors(_WHAT):
            answer = self._kms.sign(
                KeyId=self._signing_key,
                Message=message,
                MessageType="RAW",
                SigningAlgorithm=algorithm,
            )
        return bytes(answer["Signature"])
