"""The local stack with 6 and with 200 services (issue 15: the number of services is not bounded).

Each stack is `python -m infra.local.stack` in a session of its own, on free loopback ports,
with a fresh temporary state dir: template.yaml (the 6 published services), then a generated
catalogue of 200 (infra/deploy/services: the seeds and synthetic copies, each with its own
nested stack, function and route). Measured for each: the seconds until the stack is ready
(stack.json written: moto, the deployment, the departments' data loaded), the memory of the
whole process group then (the sum of every process's resident set: moto, the gateway, the
function workers), the first `GET /services` (the catalogue function compiles every service's
rules) and the memory after it. Also the nested stacks' sizes after the SAM transform.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from tests.bench.bench_common import ROOT, TEMPLATE, Section, distinct_ports

START_TIMEOUT_S = 300.0


def _group_rss_mb(pgid: int) -> float:
    """Resident memory of every process in the session `pgid` (from /proc), in MB."""
    total_kb = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[3]) != pgid:  # the session id
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
    return total_kb / 1024


def measure_stack(template: Path, state_dir: Path) -> dict[str, float]:
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
    env.pop("MOTO_PORT", None)
    port, moto_port = distinct_ports(2)
    command = [sys.executable, "-m", "infra.local.stack", "--template", str(template)]
    command += ["--state-dir", str(state_dir), "--port", str(port), "--moto-port", str(moto_port)]
    command += ["--stack-name", "miaopi-bench", "--fresh"]
    started = time.perf_counter()
    with (state_dir / "stack.log").open("wb") as log:
        proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        info = _wait_ready(proc, state_dir / "stack.json")
        ready_s = time.perf_counter() - started
        rss_ready = _group_rss_mb(proc.pid)
        t0 = time.perf_counter()
        with urllib.request.urlopen(f"{info['apiUrl']}/services", timeout=60) as answer:  # loopback
            listed = len(json.loads(answer.read())["items"])
        list_ms = (time.perf_counter() - t0) * 1000
        rss_after = _group_rss_mb(proc.pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    return {
        "services": listed,
        "start_s": round(ready_s, 1),
        "rss_mb_ready": round(rss_ready),
        "list_first_ms": round(list_ms),
        "rss_mb_after_list": round(rss_after),
    }


def _wait_ready(proc: subprocess.Popen[bytes], stack_file: Path) -> dict[str, str]:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the stack stopped (exit {proc.returncode}); see its stack.log")
        with contextlib.suppress(FileNotFoundError, ValueError):
            info: dict[str, str] = json.loads(stack_file.read_text())
            if info.get("apiUrl"):
                return info
        time.sleep(0.1)
    raise RuntimeError("the stack did not get ready in time")


def run_catalogue(quick: bool) -> Section:
    from infra.deploy import services as gen

    section = Section("catalogue")
    rows = []
    with tempfile.TemporaryDirectory(prefix="miaopi-bench-catalogue-") as tmp:
        layout = gen.catalogue(200, Path(tmp) / "catalogue-200")
        sizes = gen.sizes(layout.template)
        nested = {k: v for k, v in sizes.items() if k != str(layout.template)}
        section.results["catalogue.services_200.stacks"] = len(sizes)
        section.results["catalogue.services_200.root_resources"] = sizes[str(layout.template)]
        section.results["catalogue.services_200.max_nested_resources"] = max(nested.values())
        section.results["catalogue.services_6.root_resources"] = gen.sizes(TEMPLATE)[str(TEMPLATE)]
        for label, template in (("services_6", TEMPLATE), ("services_200", layout.template)):
            state = Path(tmp) / f"state-{label}"
            state.mkdir()
            figures = measure_stack(template, state)
            for key, value in figures.items():
                section.results[f"catalogue.{label}.{key}"] = value
            rows.append([label, *figures.values()])
    section.tables.append(
        (
            "the local stack with 6 and with 200 services (one run each, fresh state)",
            ["stack", "services", "ready s", "RSS MB ready", "GET /services ms", "RSS MB after"],
            rows,
        )
    )
    section.notes.append(
        f"200 services: {section.results['catalogue.services_200.stacks']} stacks, the root "
        f"{section.results['catalogue.services_200.root_resources']} resources, the largest "
        f"nested {section.results['catalogue.services_200.max_nested_resources']} (limit "
        f"{gen.MAX_RESOURCES}); with 6: root "
        f"{section.results['catalogue.services_6.root_resources']}"
    )
    return section
