"""`python -m infra.deploy.services generate | check | new | catalogue | sizes` (make services,
make new-service, make deploy-check)."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from infra.deploy.services import DEFAULT_LAYOUT, ROOT, differences, generate
from infra.deploy.services.scaffold import catalogue, new_service
from infra.deploy.services.sizes import API_RESOURCES_QUOTA, MAX_RESOURCES, api_resources, sizes

_NAME_OPTIONS = ("name_zh", "name_en", "authority_zh", "authority_en")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.deploy.services", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("generate", help="rewrite infra/services/ and template.yaml's generated parts")
    sub.add_parser("check", help="exit 1 when the generated files are out of date")
    new = sub.add_parser("new", help="a new service's data skeleton, then generate")
    new.add_argument("id")
    new.add_argument("authority")
    for name in _NAME_OPTIONS:
        new.add_argument(f"--{name.replace('_', '-')}", default="")
    cat = sub.add_parser("catalogue", help="a synthetic catalogue of N services under OUT")
    cat.add_argument("count", type=int)
    cat.add_argument("out", type=Path)
    size = sub.add_parser("sizes", help="resources per stack after the SAM transform")
    size.add_argument("template", type=Path)
    args = parser.parse_args(argv)

    if args.command == "generate":
        for path in generate(DEFAULT_LAYOUT):
            print(f"wrote {path.relative_to(ROOT)}")
        return 0
    if args.command == "check":
        stale = differences(DEFAULT_LAYOUT)
        for name in stale:
            print(f"{name}: not what `make services` writes", file=sys.stderr)
        return 1 if stale else 0
    if args.command == "new":
        folder = new_service(
            args.id,
            args.authority,
            services_dir=DEFAULT_LAYOUT.services_dir,
            names={k: getattr(args, k) for k in _NAME_OPTIONS},
            today=dt.date.today().isoformat(),
        )
        print(f"wrote {folder.relative_to(ROOT)}/ (service.yaml, rulesets/, cases.yaml, compiled)")
        for path in generate(DEFAULT_LAYOUT):
            print(f"wrote {path.relative_to(ROOT)}")
        return 0
    if args.command == "catalogue":
        layout = catalogue(args.count, args.out)
        stacks = sorted(layout.nested_dir.glob("*.yaml"))
        print(f"{args.count} services in {len(stacks)} nested stacks under {args.out}")
        return 0
    counts = sizes(args.template)
    for where, n in counts.items():
        print(f"{n:4d} resources  {where}")
    print(f"{len(counts)} stacks, the largest {max(counts.values())} (limit {MAX_RESOURCES})")
    api = api_resources(args.template)
    quota = "" if api <= API_RESOURCES_QUOTA else ": above the default quota, raise it first"
    print(f"the API: {api} resources (API Gateway's default quota {API_RESOURCES_QUOTA}){quota}")
    return 1 if max(counts.values()) >= MAX_RESOURCES else 0


if __name__ == "__main__":
    sys.exit(main())
