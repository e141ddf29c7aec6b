"""The local identity provider's signing key: kept in the state dir, read again only when the
file changes (a new key in its place is the one that signs from then on)."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from infra.local.idp import IDP_DIR, KEY_FILE, SigningKey


def test_the_same_file_gives_the_same_key_and_a_replaced_file_its_new_key(tmp_path: Path) -> None:
    # Given a state dir whose key was made on first use
    first = SigningKey.in_dir(tmp_path)
    # When it is asked for again, unchanged
    again = SigningKey.in_dir(tmp_path)
    # Then it is the same key (and the same kid)
    assert again.kid == first.kid

    # When another key replaces the file (as a restore or an operator would)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = other.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    replacement = tmp_path / "replacement.pem"
    replacement.write_bytes(pem)
    replacement.replace(tmp_path / IDP_DIR / KEY_FILE)
    # Then the new key is the one used
    replaced = SigningKey.in_dir(tmp_path)
    assert replaced.kid != first.kid
    assert replaced.private_key.public_key().public_numbers() == (
        other.public_key().public_numbers()
    )
