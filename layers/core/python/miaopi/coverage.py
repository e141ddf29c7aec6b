"""Rule coverage: which rule branches and evidence gaps no case exercises.

    python -m miaopi.coverage [--fail-on-gaps]

For every rule of every rule set, the cases dated in its period must make it PASS and FAIL at
least once; for every evidence source, some case must see it unavailable. The report must be
empty; with --fail-on-gaps a gap (or a failing case) exits non-zero.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

from miaopi.cases import all_cases, mismatches, run_case
from miaopi.loader import load_catalogue
from miaopi.model import EvidenceStatus, RuleResult, ServiceDefinition


def gaps(services: dict[str, ServiceDefinition], root: Path) -> tuple[list[str], list[str], int]:
    seen: dict[tuple[str, str, str], set[RuleResult]] = defaultdict(set)
    unavailable: dict[str, set[str]] = defaultdict(set)
    failures: list[str] = []
    count = 0
    for loaded in all_cases(services, root):
        service = services[loaded.service_id]
        decision = run_case(service, loaded)
        count += 1
        problems = mismatches(loaded, decision)
        if problems:
            failures.append(f"{loaded.id}: {'; '.join(problems)}")
        for entry in decision.trace:
            seen[(service.id, decision.rule_set_version, entry.rule_id)].add(entry.result)
        for alias, status in decision.evidence_status.items():
            if status is EvidenceStatus.UNAVAILABLE:
                unavailable[service.id].add(alias)
    missing: list[str] = []
    for service in services.values():
        for rule_set in service.rule_sets:
            for rule in rule_set.rules:
                results = seen[(service.id, rule_set.version, rule.id)]
                for branch in (RuleResult.PASS, RuleResult.FAIL):
                    if branch not in results:
                        missing.append(
                            f"{service.id} {rule_set.version} {rule.id}: no case makes it {branch}"
                        )
        for alias in service.evidence:
            if alias not in unavailable[service.id]:
                missing.append(f"{service.id}: no case with evidence {alias!r} unavailable")
    return missing, failures, count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--fail-on-gaps", action="store_true")
    parser.add_argument("--root", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.root is None:
        from miaopi_rules import SERVICES_DIR

        args.root = SERVICES_DIR
    services = load_catalogue(args.root)
    missing, failures, count = gaps(services, args.root)
    rules = sum(len(rs.rules) for s in services.values() for rs in s.rule_sets)
    print(f"rule coverage: {len(services)} services, {rules} rules, {count} cases")
    for line in failures:
        print(f"  CASE FAILS  {line}")
    for line in missing:
        print(f"  NOT COVERED {line}")
    if not missing and not failures:
        print("  every rule passes and fails in some case; every evidence source is seen missing")
    return 1 if args.fail_on_gaps and (missing or failures) else 0


if __name__ == "__main__":
    sys.exit(main())
