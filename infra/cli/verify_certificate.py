"""`python -m infra.cli.verify_certificate`: check a downloaded e-certificate offline, with only
the published public key and the document: no network, no AWS, no account.

    python -m infra.cli.verify_certificate certificate.json --key keys.json
    python -m infra.cli.verify_certificate qr.txt --key certificate-key.pem

The certificate is the document `GET /applications/{id}/certificate` answers (JSON), or the text
of its QR code (`MPC1.…`). The key is the answer of `GET /certificates/keys` (every published
key; the certificate names the one that signed it) or one key's PEM. The signature is checked
over the certificate's canonical bytes (miaopi_platform.certificates.document), exactly as the
service checks it. What this cannot tell offline is whether the certificate was revoked since:
`POST /certificates/verify` (or `GET /certificates/{number}`) says that.

Exit status: 0 the signature holds, 1 it does not (a changed byte, another key, an unknown key),
2 the files could not be read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from miaopi_platform.certificates import document as doc

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)


def _certificate(path: Path) -> tuple[dict[str, Any], bytes]:
    text = path.read_text(encoding="utf-8").strip()
    if text.startswith(doc.QR_PREFIX + "."):
        return doc.from_qr(text)
    try:
        loaded = json.loads(text)
    except ValueError:
        raise doc.Malformed("document", "neither a certificate document nor QR text") from None
    return doc.from_document(loaded)


def _keys(path: Path, named: str | None) -> dict[str, doc.PublicKey]:
    text = path.read_text(encoding="utf-8").strip()
    if text.startswith("-----BEGIN"):
        key_id = named or ""
        return {key_id: doc.key_from_pem(key_id, text)}
    loaded = json.loads(text)
    keys = loaded.get("keys") if isinstance(loaded, dict) else None
    if not isinstance(keys, list):
        raise ValueError("not the answer of GET /certificates/keys")
    out: dict[str, doc.PublicKey] = {}
    for key in keys:
        out[str(key["keyId"])] = {
            "keyId": str(key["keyId"]),
            "algorithm": str(key["algorithm"]),
            "pem": str(key["pem"]),
        }
    return out


@app.command()
def verify(
    certificate: Annotated[Path, typer.Argument(help="the certificate (JSON) or its QR text")],
    key: Annotated[Path, typer.Option("--key", "-k", help="GET /certificates/keys, or a PEM")],
) -> None:
    """Check a certificate's signature offline."""
    try:
        body, signature = _certificate(certificate)
        # a lone PEM names no key: it is taken to be the one the certificate names
        keys = _keys(key, str(body.get("keyId") or ""))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        typer.echo(f"cannot read: {exc}", err=True)
        raise typer.Exit(2) from None
    check = doc.check_signature(body, signature, keys)
    if not check.valid:
        typer.echo(f"NOT VALID: {check.result} (key {check.key_id or '-'})")
        raise typer.Exit(1)
    holder = (body.get("holder") or {}).get("name") or "-"
    typer.echo(
        f"VALID signature by key {check.key_id}: {body['number']} {body['kind']} "
        f"issued {body['issuedOn']} by {body['authority']['zh']}, holder {holder}\n"
        "(offline: whether it was revoked since, POST /certificates/verify tells)"
    )


if __name__ == "__main__":
    app()
