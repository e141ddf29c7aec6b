"""`python -m infra.local.token NAME`: print a token of the running local stack's identity
provider — for a demo user (citizen, citizen2, reviewer, clerk, auditor, admin, ...) or for a
persona (its subject: the person's ID number, or the enterprise's credit code).

On the local stack only, a token for anyone: `--id-number X --name Y` (a person),
`--credit-code X --name Y` (a legal person), with `--roles reviewer:transport auditor:*` (staff)
and `--acr L1|L2|L3` (the real-name level; staff default to L3, everyone else to L2).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from miaopi.identifiers import IdentifierInvalid, normalize
from miaopi_platform.identity.context import Assurance

from infra.local.idp import LocalIdentity
from infra.local.stack_file import DEFAULT_STACK_FILE, identity_named, issuer, read_stack


def identity_of(args: argparse.Namespace, info: dict[str, object]) -> LocalIdentity:
    """The identity the command line names; ValueError (or LookupError) when it names none."""
    acr = Assurance.parse(args.acr) if args.acr else None
    if args.id_number or args.credit_code:
        if args.name_of_subject is None:
            raise ValueError("--name is required with --id-number or --credit-code")
        if args.id_number:
            number = normalize(("cn.ric",), args.id_number)
            roles = tuple(args.roles or ())
            return LocalIdentity.person(number, args.name_of_subject, roles=roles, assurance=acr)
        if args.roles:
            raise ValueError("staff sign in as persons: --roles needs --id-number")
        code = normalize(("cn.uscc",), args.credit_code)
        return LocalIdentity.legal_person(code, args.name_of_subject, assurance=acr)
    if not args.name:
        raise ValueError("name a demo user or persona, or give --id-number or --credit-code")
    found = identity_named(dict(info), args.name)
    if args.roles is not None or acr is not None:
        found = LocalIdentity(
            found.subject_type,
            found.identifier,
            found.name,
            acr or found.assurance,
            tuple(args.roles) if args.roles is not None else found.roles,
        )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.local.token",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("name", nargs="?", help="a demo user's or a persona's name")
    parser.add_argument("--id-number", help="a person's resident ID number")
    parser.add_argument("--credit-code", help="a legal person's unified social credit code")
    parser.add_argument("--name", dest="name_of_subject", help="the person's or enterprise's name")
    parser.add_argument("--roles", nargs="*", help="staff roles, role:scope (e.g. auditor:*)")
    parser.add_argument("--acr", choices=[a.name for a in Assurance], help="real-name level")
    parser.add_argument("--stack-file", type=Path, default=DEFAULT_STACK_FILE)
    args = parser.parse_args(argv)
    if args.id_number and args.credit_code:
        parser.error("--id-number or --credit-code, not both")
    try:
        info = read_stack(args.stack_file)
        print(issuer(info).mint(identity_of(args, info)))
    except (FileNotFoundError, LookupError, ValueError, IdentifierInvalid) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
