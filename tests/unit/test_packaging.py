"""What Lambda gets is what the tests ran: one Python, one lock, one dependencies layer.

`sam build` installs layers/dependencies/requirements.txt for template.yaml's runtime;
`make install` installs uv.lock into the venv the tests run in. If the three drifted apart, a
deployed decision could run other packages (or another Python) than the ones that were tested,
and a replay of it later would not be a replay.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from importlib.metadata import requires, version
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from infra.local.runtime import Runtime
from infra.local.template import LocalTemplate, load_yaml

ROOT = Path(__file__).resolve().parents[2]
LAYER_REQUIREMENTS = ROOT / "layers/dependencies/requirements.txt"
UV = Path(sys.executable).parent / "uv"  # make install puts uv into the venv


def _requirement_lines(text: str) -> list[str]:
    """The requirement lines of a requirements file (pins and their hashes), comments dropped."""
    return [
        line.rstrip()
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def _layer_pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in _requirement_lines(LAYER_REQUIREMENTS.read_text()):
        if line.startswith(" "):  # a hash continuing the pin above
            continue
        name, _, pinned = line.rstrip(" \\").partition("==")
        pins[canonicalize_name(name)] = pinned
    return pins


def _pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _uv(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(UV), *args], cwd=ROOT, capture_output=True, text=True, check=False, timeout=120
    )


def test_the_lock_is_current_with_pyproject() -> None:
    # Given the dependencies pyproject.toml declares and the uv.lock next to it
    # When uv checks, without the network, whether the lock still resolves them
    result = _uv("lock", "--check", "--offline", "--python", sys.executable)

    # Then it does: nobody changed a dependency without `make lock`
    assert result.returncode == 0, result.stderr


def test_the_dependencies_layer_is_exactly_the_lock_for_the_runtime_dependencies() -> None:
    # Given the lock, exported for the runtime dependencies only (no dev extra, no project)
    exported = _uv("export", "--frozen", "--no-emit-project", "--no-dev", "--no-header")
    assert exported.returncode == 0, exported.stderr

    # When it is set beside what sam build installs into the dependencies layer
    layer = _requirement_lines(LAYER_REQUIREMENTS.read_text())

    # Then they are the same pins with the same hashes, line for line (`make lock` writes both)
    assert layer == _requirement_lines(exported.stdout)


def test_every_declared_runtime_dependency_is_pinned_in_the_layer_within_its_range() -> None:
    # Given the runtime dependencies pyproject.toml declares, boto3 among them
    declared = [Requirement(d) for d in _pyproject()["project"]["dependencies"]]

    # When each is looked up in the dependencies layer
    pins = _layer_pins()

    # Then each is there, pinned to one version its declared range accepts
    missing = [r.name for r in declared if canonicalize_name(r.name) not in pins]
    assert not missing
    outside = [
        f"{r.name}=={pins[canonicalize_name(r.name)]} not in {r.specifier}"
        for r in declared
        if not r.specifier.contains(pins[canonicalize_name(r.name)], prereleases=True)
    ]
    assert not outside


def test_the_layer_ships_boto3_with_the_botocore_it_was_released_for() -> None:
    # Given the layer's pins (aws-xray-sdk, under Powertools' tracer, needs botocore by itself)
    pins = _layer_pins()

    # When boto3's own requirement on botocore is read from the boto3 the tests run with
    assert version("boto3") == pins["boto3"]
    assert version("botocore") == pins["botocore"]
    botocore_range = next(
        Requirement(r).specifier
        for r in requires("boto3") or []
        if canonicalize_name(Requirement(r).name) == "botocore"
    )

    # Then the layer ships that pair, so the runtime's own boto3 never meets the layer's botocore
    assert botocore_range.contains(pins["botocore"])


def test_lambda_runs_the_python_the_tests_run_on() -> None:
    # Given the runtime template.yaml deploys, and every runtime its layers are built and marked
    # for (a layer built by its Makefile is compiled by the interpreter layers/layer.mk names)
    raw = load_yaml(ROOT / "template.yaml")
    runtime = raw["Globals"]["Function"]["Runtime"]
    layer_mk = (ROOT / "layers" / "layer.mk").read_text()
    compiling = next(
        line.split(":=")[1].strip()
        for line in layer_mk.splitlines()
        if line.startswith("LAYER_PYTHON")
    )
    layer_runtimes = {
        compiling if r == "makefile" else r
        for res in raw["Resources"].values()
        if res["Type"] == "AWS::Serverless::LayerVersion"
        for r in [
            *res["Properties"]["CompatibleRuntimes"],
            *[res.get("Metadata", {}).get("BuildMethod", runtime)],
        ]
    }
    function_runtimes = {
        res["Properties"].get("Runtime", runtime)
        for res in raw["Resources"].values()
        if res["Type"] == "AWS::Serverless::Function"
    }

    # When the project's own Python settings and this interpreter are read
    project = _pyproject()
    this_python = "python{}.{}".format(*sys.version_info[:2])
    minor = runtime.removeprefix("python")
    lock = tomllib.loads((ROOT / "uv.lock").read_text())

    # Then they all name one Python: the one Lambda runs
    assert layer_runtimes == function_runtimes == {runtime}
    assert this_python == runtime
    major, minor_number = (int(n) for n in minor.split("."))
    requires_python = SpecifierSet(project["project"]["requires-python"])
    assert requires_python.contains(f"{minor}.0")
    assert not requires_python.contains(f"{major}.{minor_number - 1}.99")
    assert not requires_python.contains(f"{major}.{minor_number + 1}.0")
    assert SpecifierSet(lock["requires-python"]) == SpecifierSet(f"=={minor}.*")
    assert project["tool"]["mypy"]["python_version"] == minor
    assert project["tool"]["ruff"]["target-version"] == "py" + minor.replace(".", "")


def test_the_local_runtime_tells_each_function_the_runtime_the_template_gives_it() -> None:
    # Given template.yaml's functions as the local stack reads them
    template = LocalTemplate.load(ROOT / "template.yaml")
    resolver = template.resolver("miaopi-test", "us-east-1")
    resolver.lenient = True  # the secret's ARN exists only once deployed
    runtime = load_yaml(ROOT / "template.yaml")["Globals"]["Function"]["Runtime"]
    specs = template.function_specs(resolver)

    # When the local runtime sets up each function's environment (no worker is started)
    local = Runtime(specs, endpoint_url=None, region="us-east-1")
    execution_envs = {local.environment(spec)["AWS_EXECUTION_ENV"] for spec in specs}

    # Then every function is told it runs on the template's runtime, as Lambda would tell it
    assert execution_envs == {f"AWS_Lambda_{runtime}"}
