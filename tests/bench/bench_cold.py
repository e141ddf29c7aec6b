"""Cold start: importing a service function vs importing its third-party floor, fresh processes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.bench.bench_common import LAYER_DIRS, TEMPLATE, Section, median

FUNCTION_ID = "ElderlyAllowanceFunction"
FLOOR = (
    "import boto3, pydantic\nfrom aws_lambda_powertools.event_handler import APIGatewayRestResolver"
)
#: the same floor once pydantic's models are in use: `import pydantic` is lazy in pydantic 2 and
#: loads none of the BaseModel machinery that any handler with pydantic models needs
FLOOR_WITH_MODELS = FLOOR + "\nfrom pydantic import BaseModel"
FUNCTION = "import app"


def function_setup() -> tuple[dict[str, str], list[str], str]:
    """The function's environment (template.yaml resolved, as Lambda sets it), sys.path and cwd."""
    from infra.local.template import LocalTemplate

    template = LocalTemplate.load(TEMPLATE)
    resolver = template.resolver("miaopi-bench", "us-east-1")
    resolver.lenient = True  # the secret's ARN exists only once deployed: a placeholder will do
    spec = template.function_spec(FUNCTION_ID, resolver)
    env = {
        **spec.environment,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_LAMBDA_FUNCTION_NAME": spec.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
        "LAMBDA_TASK_ROOT": str(spec.code_uri),
        "_HANDLER": spec.handler,
        "TZ": ":UTC",
        "LANG": "en_US.UTF-8",
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    }
    paths = [str(spec.code_uri), *(str(d) for d in spec.layer_dirs if d.is_dir())]
    assert set(paths[1:]) == {str(d) for d in LAYER_DIRS}, paths
    return env, paths, str(spec.code_uri)


def _script(paths: list[str], code: str) -> str:
    return (
        "import sys, time\n"
        "t0 = time.perf_counter()\n"
        f"sys.path[:0] = {paths!r}\n"
        f"{code}\n"
        "print(time.perf_counter() - t0)\n"
    )


def _run(
    code: str, env: dict[str, str], paths: list[str], cwd: str, *flags: str
) -> tuple[float, float]:
    """(import seconds measured inside, wall seconds of the whole process)."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-I", *flags, "-c", _script(paths, code)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"cold-start subprocess failed: {done.stderr[-2000:]}")
    return float(done.stdout.strip().splitlines()[-1]), wall


def _importtime(code: str, env: dict[str, str], paths: list[str], cwd: str) -> dict[str, Any]:
    """Module -> (self µs, cumulative µs, depth) from `python -X importtime`."""
    done = subprocess.run(
        [sys.executable, "-I", "-X", "importtime", "-c", _script(paths, code)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    out: dict[str, Any] = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative, name = line[len("import time:") :].split("|")
        depth = (len(name) - len(name.lstrip(" "))) // 2
        out[name.strip()] = (int(self_us), int(cumulative), depth)
    return out


def run_cold(quick: bool) -> Section:
    section = Section("cold start")
    env, paths, cwd = function_setup()
    repeats = 7 if quick else 9
    configs = {
        "deployed (tracing on)": env,
        "POWERTOOLS_TRACE_DISABLED=true": {**env, "POWERTOOLS_TRACE_DISABLED": "true"},
    }
    rows: list[list[Any]] = []
    for label, config_env in configs.items():
        _run(FLOOR, config_env, paths, cwd)  # warm the page cache and bytecode, untimed
        _run(FUNCTION, config_env, paths, cwd)
        floor: list[tuple[float, float]] = []
        function: list[tuple[float, float]] = []
        with_models: list[tuple[float, float]] = []
        for _ in range(repeats):  # alternate, so drift and noise hit both alike
            floor.append(_run(FLOOR, config_env, paths, cwd))
            function.append(_run(FUNCTION, config_env, paths, cwd))
            with_models.append(_run(FLOOR_WITH_MODELS, config_env, paths, cwd))
        floor_ms = median([f[0] for f in floor]) * 1000
        function_ms = median([f[0] for f in function]) * 1000
        floor_wall = median([f[1] for f in floor]) * 1000
        function_wall = median([f[1] for f in function]) * 1000
        ratio = function_ms / floor_ms
        ratio_wall = function_wall / floor_wall
        rows.append(
            [
                label,
                f"{floor_ms:.0f}",
                f"{function_ms:.0f}",
                f"{ratio:.2f}",
                f"{floor_wall:.0f} / {function_wall:.0f}",
                f"{ratio_wall:.2f}",
            ]
        )
        prefix = "cold_start" if config_env is env else "cold_start.trace_disabled"
        section.results[f"{prefix}.ratio_to_floor"] = round(ratio, 3)
        section.results[f"{prefix}.floor_ms"] = round(floor_ms, 1)
        section.results[f"{prefix}.function_ms"] = round(function_ms, 1)
        section.results[f"{prefix}.wall_ratio_to_floor"] = round(ratio_wall, 3)
        models_ms = median([f[0] for f in with_models]) * 1000
        section.results[f"{prefix}.floor_with_models_ms"] = round(models_ms, 1)
        section.results[f"{prefix}.ratio_to_floor_with_models"] = round(function_ms / models_ms, 3)
    section.tables.append(
        (
            f"cold-start imports, {FUNCTION_ID} (medians of {repeats} alternating runs each, ms)",
            ["configuration", "floor", "function", "ratio", "wall floor / function", "wall ratio"],
            rows,
        )
    )
    section.notes.append(
        "floor = `import boto3, pydantic; from aws_lambda_powertools.event_handler import "
        "APIGatewayRestResolver`; function = `import app` (functions/service_api, its rules "
        "compiled at import); both `python -I` with Lambda's sys.path and the template's "
        "environment; wall = the whole process, interpreter start-up included"
    )

    # What dominates: python -X importtime of the function, deployed configuration.
    function_imports = _importtime(FUNCTION, env, paths, cwd)
    floor_imports = _importtime(FLOOR, env, paths, cwd)
    top = sorted(function_imports.items(), key=lambda kv: kv[1][1], reverse=True)[:10]
    section.tables.append(
        (
            "python -X importtime of the function (deployed configuration): top 10 cumulative",
            ["module", "cumulative ms", "self ms", "in floor?"],
            [
                [
                    "  " * depth + name,
                    f"{cum / 1000:.1f}",
                    f"{own / 1000:.1f}",
                    "yes" if name in floor_imports else "no",
                ]
                for name, (own, cum, depth) in top
            ],
        )
    )
    # Beyond the floor: import the floor first, then the function; what is new is the excess.
    both = _importtime(f"{FLOOR}\n{FUNCTION}", env, paths, cwd)
    extra = {n: v for n, v in both.items() if n not in floor_imports}
    excess_ms = sum(own for own, _cum, _depth in extra.values()) / 1000
    groups: dict[str, list[int]] = {}
    for name, (own, _cum, _depth) in extra.items():
        groups.setdefault(name.split(".")[0], []).append(own)
    heaviest = sorted(groups.items(), key=lambda kv: sum(kv[1]), reverse=True)[:8]
    section.tables.append(
        (
            f"beyond the floor: {len(extra)} more modules, {excess_ms:.0f} ms (self times), by"
            " package (`app` = the module body: the service's rules loaded and compiled)",
            ["package", "modules", "ms", "share of excess"],
            [
                [n, len(v), f"{sum(v) / 1000:.1f}", f"{sum(v) / 1000 / excess_ms:.0%}"]
                for n, v in heaviest
            ],
        )
    )
    disabled_imports = _importtime(FUNCTION, configs["POWERTOOLS_TRACE_DISABLED=true"], paths, cwd)
    xray = [n for n in extra if n.split(".")[0] in ("aws_xray_sdk", "wrapt")]
    xray_ms = sum(extra[n][0] for n in xray) / 1000
    loaded_when_disabled = "aws_xray_sdk.core" in disabled_imports
    section.results["cold_start.xray_sdk_beyond_floor_ms"] = round(xray_ms, 1)
    section.results["cold_start.xray_sdk_loaded_when_trace_disabled"] = loaded_when_disabled
    section.notes.append(
        f"the X-Ray SDK (with wrapt) adds {len(xray)} modules, {xray_ms:.0f} ms beyond the floor"
        " (botocore, which its cumulative figure includes, is in the floor already); it is"
        " imported "
        + (
            "even with POWERTOOLS_TRACE_DISABLED=true (Powertools' Tracer builds its X-Ray"
            " provider whether or not tracing is disabled), hence the two similar ratios"
            if loaded_when_disabled
            else "only with tracing enabled"
        )
    )
    _bytecode(section, env, paths, repeats)
    section.results["cold_start.beyond_floor_ms"] = round(excess_ms, 1)
    section.results["cold_start.beyond_floor_by_package_ms"] = {
        n: round(sum(v) / 1000, 1) for n, v in heaviest
    }
    return section


def _layer_builds() -> dict[Path, str]:
    """Each layer folder `sam build` builds with its Makefile (layers/layer.mk): its id."""
    from infra.local.template import LocalTemplate

    template = LocalTemplate.load(TEMPLATE)
    return {
        (TEMPLATE.parent / str(template.properties(lid)["ContentUri"])).resolve(): lid
        for lid in template.of_type("AWS::Serverless::LayerVersion")
        if (template.resources[lid].get("Metadata") or {}).get("BuildMethod") == "makefile"
    }


def _bytecode(section: Section, env: dict[str, str], paths: list[str], repeats: int) -> None:
    """What shipping the layers' bytecode saves on Lambda, whose /opt is read-only: the function
    and our three layers copied without bytecode and imported with -B (compiled at every start,
    as a layer shipped as source would be), against the layers as `sam build` builds them (each
    layer's own Makefile, layers/layer.mk, run by this interpreter; the third-party packages
    have their bytecode either way: pip made it)."""
    builds = _layer_builds()
    with tempfile.TemporaryDirectory(prefix="miaopi-cold-") as tmp:
        copies = []
        for n, path in enumerate(paths):
            copy = Path(tmp) / "source" / str(n)
            shutil.copytree(path, copy, ignore=shutil.ignore_patterns("__pycache__"))
            copies.append(str(copy))
        compiled_paths = [copies[0]]  # the function's own code is not a layer
        for n, path in enumerate(paths[1:], start=1):
            folder = Path(path).parent.resolve()
            artifacts = Path(tmp) / "built" / str(n)
            makefile = str(folder / "Makefile")
            overrides = [f"ARTIFACTS_DIR={artifacts}", f"LAYER_PYTHON={sys.executable}"]
            subprocess.run(
                ["make", "--makefile", makefile, f"build-{builds[folder]}", *overrides],
                cwd=folder,
                check=True,
                capture_output=True,
            )
            compiled_paths.append(str(artifacts / "python"))
        source_ms: list[float] = []
        bytecode_ms: list[float] = []
        for _ in range(repeats):  # alternate
            source_ms.append(_run(FUNCTION, env, copies, copies[0], "-B")[0] * 1000)
            bytecode_ms.append(
                _run(FUNCTION, env, compiled_paths, compiled_paths[0], "-B")[0] * 1000
            )
    source, bytecode = median(source_ms), median(bytecode_ms)
    section.results["cold_start.layers_as_source_ms"] = round(source, 1)
    section.results["cold_start.layers_with_bytecode_ms"] = round(bytecode, 1)
    section.results["cold_start.bytecode_saves_ms"] = round(source - bytecode, 1)
    section.notes.append(
        f"the layers shipped with their bytecode (layers/layer.mk): import {bytecode:.0f} ms, "
        f"against {source:.0f} ms when our code is compiled at every start (shipped as source "
        f"on Lambda's read-only /opt): {source - bytecode:.0f} ms saved per cold start"
    )
