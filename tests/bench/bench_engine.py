"""The decision engine: `decide` per service, and against the same rules as a GoRules JDM graph."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import miaopi
import miaopi_rules
import zen
from miaopi import engine
from miaopi.cases import LoadedCase, all_cases, mismatches
from miaopi.forms import normalize
from miaopi.loader import load_catalogue
from miaopi.model import EvidenceItem, RuleResult, RuleSet, ServiceDefinition

from tests.bench.bench_common import Section, alternate, calibrate, median

GRAPH_FILE = Path(__file__).with_name("elderly_allowance.jdm.json")
GRAPH_SERVICE = "elderly-allowance"


@dataclass(frozen=True)
class Prepared:
    """A case ready for `decide`: what run_case would pass, normalized once, outside the timing."""

    loaded: LoadedCase
    service: ServiceDefinition
    rule_set: RuleSet
    application: dict[str, Any]
    evidence: dict[str, EvidenceItem]
    on: dt.date

    def decide(self) -> miaopi.Decision:
        return miaopi.decide(self.service, self.rule_set, self.application, self.evidence, self.on)


def prepare() -> tuple[dict[str, ServiceDefinition], dict[str, list[Prepared]]]:
    services = load_catalogue(miaopi_rules.SERVICES_DIR)
    by_service: dict[str, list[Prepared]] = {sid: [] for sid in services}
    for loaded in all_cases(services, miaopi_rules.SERVICES_DIR):
        service = services[loaded.service_id]
        on = loaded.case.date
        assert on is not None
        rule_set = service.rule_set_on(on)
        assert rule_set is not None, loaded.id
        application = normalize(service.form_model, loaded.application)
        by_service[service.id].append(
            Prepared(loaded, service, rule_set, application, loaded.evidence, on)
        )
    return services, by_service


def clean_case(cases: list[Prepared]) -> Prepared:
    """The service's clean approval: the first APPROVED case named "clean", else the first one."""
    approved = [c for c in cases if c.loaded.case.expect.outcome == "APPROVED"]
    named = [c for c in approved if "clean" in c.loaded.case.name.lower()]
    return (named or approved)[0]


def run_engine(quick: bool) -> Section:
    section = Section("engine")
    _services, by_service = prepare()
    wrong = [
        f"{c.loaded.id}: {problem}"
        for cases in by_service.values()
        for c in cases
        for problem in mismatches(c.loaded, c.decide())
    ]
    if wrong:
        section.notes.append(f"[red]{len(wrong)} cases do not hold:[/] {wrong[:3]}")
    rounds, batch_s = (5, 0.02) if quick else (30, 0.02)
    case_rounds, case_calls = (3, 30) if quick else (5, 100)
    # The services' clean cases in turn, batch by batch, so a noisy second hits them all alike.
    cleans = {sid: clean_case(cases) for sid, cases in by_service.items()}
    fns = {sid: case.decide for sid, case in cleans.items()}
    numbers = {sid: calibrate(fn, batch_s, warmup=0.05) for sid, fn in fns.items()}
    timed = alternate(fns, numbers, rounds)
    clean_medians = timed.medians()
    # Every case of every service, interleaved the same way.
    every = {c.loaded.id: c.decide for cases in by_service.values() for c in cases}
    every_medians = alternate(every, dict.fromkeys(every, case_calls), case_rounds).medians()
    rows: list[list[Any]] = []
    for sid, cases in by_service.items():
        clean, clean_us = cleans[sid], clean_medians[sid]
        per_case = [every_medians[case.loaded.id] for case in cases]
        section.results[f"engine.{sid}.median_us"] = round(clean_us, 2)
        section.results[f"engine.{sid}.cpu_us"] = round(timed.cpu[sid], 2)
        section.results[f"engine.{sid}.all_cases_median_us"] = round(median(per_case), 2)
        section.results[f"engine.{sid}.all_cases_max_us"] = round(max(per_case), 2)
        rows.append(
            [
                sid,
                f"{clean_us:.1f}",
                f"{timed.cpu[sid]:.1f}",
                f"{median(per_case):.1f}",
                f"{max(per_case):.1f}",
                len(cases),
                len(clean.rule_set.rules),
                len(clean.decide().trace),
            ]
        )
    section.results["engine.cases_checked"] = sum(len(c) for c in by_service.values())
    section.results["engine.cases_wrong"] = len(wrong)
    section.tables.append(
        (
            "decide() with full trace, µs per call (median of batches)",
            [
                "service",
                "clean case",
                "CPU",
                "all cases (median)",
                "slowest case",
                "cases",
                "rules",
                "trace",
            ],
            rows,
        )
    )
    section.notes.append(
        f"clean case: {rounds} batches of ~{batch_s * 1000:.0f} ms each, the services in"
        " turn (CPU = process CPU time per call, less sensitive to other load); every case, also"
        " in turn: "
        f"{case_rounds} batches of {case_calls} calls; all "
        f"{section.results['engine.cases_checked']} cases checked against their expectations"
        f" ({len(wrong)} wrong)"
    )
    return section


# ---------------------------------------------------------------- the same rules as a JDM graph


def graph_context(case: Prepared) -> dict[str, Any]:
    """What `decide` starts from: the normalized application, the evidence records (null where
    there is none) and the application date. The graph derives the rest itself."""
    records, _statuses, _missing = engine.evidence_state(case.service, case.evidence)
    return {"app": case.application, "ev": records, "date": case.on.isoformat()}


def _graph_expressions(graph: dict[str, Any]) -> dict[str, str]:
    node = next(n for n in graph["nodes"] if n["id"] == "rules")
    return {e["key"].removeprefix("rules."): e["value"] for e in node["content"]["expressions"]}


def run_zen(quick: bool) -> Section:
    section = Section("zen graph")
    _services, by_service = prepare()
    cases = by_service[GRAPH_SERVICE]
    clean = clean_case(cases)
    content = GRAPH_FILE.read_text(encoding="utf-8")
    expressions = _graph_expressions(json.loads(content))

    # The graph must hold the rule set's own rules, word for word.
    rules = {r.id: r for r in clean.rule_set.rules}
    assert all(r.when is None for r in rules.values()), "graph has no `when` guards"
    same = expressions == {rid: r.condition.text for rid, r in rules.items()}
    section.results["engine.zen_graph_same_expressions"] = same
    if not same:
        section.notes.append("[red]the graph's expressions differ from the rule set's[/]")

    zen_engine = zen.ZenEngine()
    decision = zen_engine.create_decision(content)

    # Agreement: graph booleans vs decide's trace, wherever every rule was PASS or FAIL, on the
    # cases decided under the rule set the graph holds (a case dated under a later version, with
    # rules the graph does not have, is another rule set's)
    agreed = compared = failing = 0
    disagreements: list[str] = []
    graphs_version = [c for c in cases if c.rule_set.version == clean.rule_set.version]
    other_version = len(cases) - len(graphs_version)
    section.results["engine.zen_graph_cases_other_rule_set"] = other_version
    for case in graphs_version:
        trace = case.decide().trace
        if any(t.result not in (RuleResult.PASS, RuleResult.FAIL) for t in trace):
            continue
        compared += 1
        failing += any(t.result is RuleResult.FAIL for t in trace)
        decided = case.decide()
        result = decision.evaluate(graph_context(case))["result"]
        expected = {
            "rules": {t.rule_id: t.result is RuleResult.PASS for t in trace},
            "outcome": decided.outcome.value,
            "monthlyAmount": decided.outputs.get("monthlyAmount"),
        }
        got = {
            "rules": result["rules"],
            "outcome": result["outcome"],
            "monthlyAmount": (result.get("outputs") or {}).get("monthlyAmount")
            if result["outcome"] != "REJECTED"
            else None,
        }
        if got["monthlyAmount"] is not None:
            got["monthlyAmount"] = Decimal(str(got["monthlyAmount"])).quantize(Decimal("0.01"))
        if got == expected:
            agreed += 1
        else:
            disagreements.append(f"{case.loaded.case.name}: graph {got} decide {expected}")
    agrees = compared > 1 and agreed == compared and failing > 0
    section.results["engine.zen_graph_agrees"] = agrees
    section.results["engine.zen_graph_cases_compared"] = compared
    section.notes.append(
        ("[green]AGREE[/]" if agrees else "[red]DISAGREE[/]")
        + f": the JDM graph's rule booleans, outcome and allowance equal decide()'s on"
        f" {agreed}/{compared}"
        f" {GRAPH_SERVICE} cases of rule set {clean.rule_set.version} (the clean case and"
        f" {failing} with failing rules; cases with missing evidence are left out: decide refers"
        " them, a bare graph cannot tell; and the"
        f" {other_version} dated under another rule set, whose rules the graph does not hold)"
    )
    for line in disagreements[:3]:
        section.notes.append(f"[red]{line}[/]")

    context = graph_context(clean)
    fns = {
        "decide": clean.decide,
        "zen": lambda: decision.evaluate(context),
        "zen_trace": lambda: decision.evaluate(context, {"trace": True}),
    }
    batch_s = 0.02
    # zen's first few hundred evaluations are several times slower: warm each side first
    numbers = {name: calibrate(fn, batch_s, warmup=0.5) for name, fn in fns.items()}
    timed = alternate(fns, numbers, 5 if quick else 30)
    medians = timed.medians()
    speedup = medians["zen"] / medians["decide"]
    speedup_trace = medians["zen_trace"] / medians["decide"]
    per_round = median(
        [z / d for z, d in zip(timed.wall["zen"], timed.wall["decide"], strict=True)]
    )
    cpu_ratio = timed.cpu["zen"] / timed.cpu["decide"]
    section.results["engine.vs_zen_graph_speedup"] = round(speedup, 2)
    section.results["engine.vs_zen_graph_trace_speedup"] = round(speedup_trace, 2)
    section.results["engine.vs_zen_graph_speedup_per_round_median"] = round(per_round, 2)
    section.results["engine.vs_zen_graph_cpu_ratio"] = round(cpu_ratio, 2)
    section.results["engine.zen_graph_median_us"] = round(medians["zen"], 2)
    section.results["engine.zen_graph_trace_median_us"] = round(medians["zen_trace"], 2)
    section.results[f"engine.{GRAPH_SERVICE}.decide_in_zen_run_us"] = round(medians["decide"], 2)
    section.tables.append(
        (
            f"{GRAPH_SERVICE} clean case: decide() vs the same rules as a JDM graph, µs per call",
            ["evaluation", "median µs", "ratio", "CPU µs", "CPU ratio"],
            [
                [
                    "decide() (facts, rules, outputs, full trace)",
                    f"{medians['decide']:.1f}",
                    "1",
                    f"{timed.cpu['decide']:.1f}",
                    "1",
                ],
                [
                    "zen graph decision.evaluate(ctx)",
                    f"{medians['zen']:.1f}",
                    f"{speedup:.2f}",
                    f"{timed.cpu['zen']:.1f}",
                    f"{cpu_ratio:.2f}",
                ],
                [
                    "zen graph decision.evaluate(ctx, {'trace': True})",
                    f"{medians['zen_trace']:.1f}",
                    f"{speedup_trace:.2f}",
                    f"{timed.cpu['zen_trace']:.1f}",
                    f"{timed.cpu['zen_trace'] / timed.cpu['decide']:.2f}",
                ],
            ],
        )
    )
    section.notes.append(
        f"alternating batches ({len(timed.wall['decide'])} rounds; median of the per-round"
        f" ratios {per_round:.2f}); both start from the normalized application, the evidence"
        " records and the date, and both derive the age and the parameters in force, evaluate"
        " the 7 rules, the outcome, the allowance table and the first payment month; decide()"
        " also records every rule's values. zen-engine's Python evaluate() starts OS threads on"
        " every"
        " call (2 clone3 per call under strace), so its wall time swings with the machine's"
        " load; CPU = process CPU time (all threads) per call"
    )
    return section
