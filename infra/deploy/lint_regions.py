"""`python -m infra.deploy.lint_regions CFN_LINT REGION...`: cfn-lint template.yaml and the
services' nested templates in the regions they are meant to deploy to (the AWS China regions
among them), and fail on any finding.

Every finding is printed. None is allowed: the identity provider is an OIDC Lambda authorizer
(Cognito, absent from cn-north-1 and cn-northwest-1, left the template with it).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TEMPLATE = "template.yaml"
#: the government services' nested templates (infra/deploy/services)
NESTED = "infra/services"


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: python -m infra.deploy.lint_regions CFN_LINT REGION...", file=sys.stderr)
        return 2
    cfn_lint, regions = argv[0], argv[1:]
    nested = sorted(str(p) for p in Path(NESTED).glob("**/*.yaml"))
    proc = subprocess.run(
        [cfn_lint, "--regions", *regions, "--format", "parseable", "--", TEMPLATE, *nested],
        capture_output=True,
        text=True,
        check=False,
    )
    # cfn-lint's exit status is a bit mask: 2 errors, 4 warnings, 8 informational; 1 it failed
    if proc.returncode & 1 or proc.stderr.strip():
        print(proc.stdout + proc.stderr, file=sys.stderr)
        print("cfn-lint did not run to the end", file=sys.stderr)
        return 1
    findings = [line for line in proc.stdout.splitlines() if line.strip()]
    for line in findings:
        print(line)
    print(f"cfn-lint --regions {' '.join(regions)}: {len(findings)} findings")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
