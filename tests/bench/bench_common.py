"""Timing and statistics helpers shared by the benchmark sections."""

from __future__ import annotations

import logging
import math
import os
import resource
import statistics
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from miaopi.loader import SERVICE_FILE
from miaopi_rules import SERVICES_DIR

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
LAYER_DIRS = tuple(ROOT / "layers" / name / "python" for name in ("core", "platform", "rules"))
#: every service of the rules layer (a folder with its service.yaml), by id
SERVICES = tuple(sorted(path.parent.name for path in SERVICES_DIR.glob(f"*/{SERVICE_FILE}")))


@dataclass
class Section:
    """What one section measured: flat result keys, tables to print, notes and targets."""

    name: str
    results: dict[str, Any] = field(default_factory=dict)
    tables: list[tuple[str, list[str], list[list[Any]]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (p95 of 300 samples is the 285th smallest)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def warm(fn: Callable[[], Any], seconds: float) -> None:
    """Call `fn` for `seconds`: caches, allocators and lazy compilation settle first."""
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        fn()


def calibrate(fn: Callable[[], Any], target_seconds: float, warmup: float = 0.0) -> int:
    """Calls per batch so that one batch takes about `target_seconds` (after a warm-up)."""
    warm(fn, warmup)
    number = 1
    while True:
        started = time.perf_counter()
        for _ in range(number):
            fn()
        elapsed = time.perf_counter() - started
        if elapsed >= target_seconds / 4 or number >= 1 << 20:
            return max(1, round(number * target_seconds / max(elapsed, 1e-9)))
        number *= 4


def batch_us(fn: Callable[[], Any], number: int) -> float:
    """Mean µs per call over one batch of `number` calls (the loop overhead is negligible)."""
    started = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - started) / number * 1e6


@dataclass
class Alternated:
    """Per-call µs of each batch (wall clock), and the CPU µs per call over all batches."""

    wall: dict[str, list[float]]
    cpu: dict[str, float]

    def medians(self) -> dict[str, float]:
        return {name: median(values) for name, values in self.wall.items()}


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread of the process
    return usage.ru_utime + usage.ru_stime


def alternate(
    fns: Mapping[str, Callable[[], Any]], numbers: Mapping[str, int], rounds: int
) -> Alternated:
    """Batches of each function in turn, `rounds` times: drift and noise hit all alike."""
    wall: dict[str, list[float]] = {name: [] for name in fns}
    cpu = dict.fromkeys(fns, 0.0)
    for _ in range(rounds):
        for name, fn in fns.items():
            before = _cpu_seconds()
            wall[name].append(batch_us(fn, numbers[name]))
            cpu[name] += _cpu_seconds() - before
    return Alternated(wall, {name: cpu[name] / (numbers[name] * rounds) * 1e6 for name in fns})


@contextmanager
def environment(**values: str | None) -> Iterator[None]:
    """Set (or with None, remove) environment variables for the block; restore them after."""
    saved = {name: os.environ.get(name) for name in values}
    try:
        for name, value in values.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def fake_aws(**more: str | None) -> AbstractContextManager[None]:
    """moto's fake region and credentials for the block (no endpoint: each bench sets its own)."""
    return environment(
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_SESSION_TOKEN="testing",
        AWS_ACCOUNT_ID_ENDPOINT_MODE="disabled",
        AWS_ENDPOINT_URL=None,
        **more,
    )


def child_pids() -> list[int]:
    """Live processes whose parent is this process (Linux /proc)."""
    me = str(os.getpid())
    out: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
        if fields.get("PPid", "").strip() == me and not fields.get("State", "").startswith("Z"):
            out.append(int(entry.name))
    return out


@dataclass(frozen=True)
class CpuSplit:
    """CPU seconds spent so far by this process (every thread: moto, the gateway, the pollers,
    the bench's clients and its observer) and by its children (the functions' workers: the live
    ones from /proc, the ended ones from RUSAGE_CHILDREN; a worker that ends between the two
    reads is counted twice, a rare few ms)."""

    stack_s: float
    workers_s: float

    @classmethod
    def now(cls) -> CpuSplit:
        ticks = os.sysconf("SC_CLK_TCK")
        live = 0.0
        for pid in child_pids():
            try:
                fields = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            live += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
        ended = resource.getrusage(resource.RUSAGE_CHILDREN)
        return cls(_cpu_seconds(), live + ended.ru_utime + ended.ru_stime)

    def __sub__(self, before: CpuSplit) -> CpuSplit:
        return CpuSplit(self.stack_s - before.stack_s, self.workers_s - before.workers_s)


class MotoLog(logging.Handler):
    """Takes the moto server's (werkzeug's) log lines off the console; counts its errors."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.errors = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR:
            self.errors += 1


def distinct_ports(count: int) -> list[int]:
    """`count` free loopback ports, no two the same."""
    from infra.local.stack import free_port

    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


@contextmanager
def quiet_stack(stack_name: str, state_dir: Path) -> Iterator[tuple[Any, MotoLog]]:
    """A local stack of template.yaml on free ports in `state_dir`, seeded, without periodic
    snapshots (they would be measured too), started, its functions' and moto's logs off the
    console (moto's errors counted); stopped and the logging restored on the way out."""
    from infra.local.stack import LocalStack

    port, moto_port = distinct_ports(2)
    stack = LocalStack(
        template=TEMPLATE,
        port=port,
        moto_port=moto_port,
        stack_name=stack_name,
        state_dir=state_dir,
        snapshot_interval=0,
    )
    werkzeug = logging.getLogger("werkzeug")
    moto_log = MotoLog()
    saved = (werkzeug.level, werkzeug.propagate)
    werkzeug.addHandler(moto_log)
    werkzeug.setLevel(logging.INFO)
    werkzeug.propagate = False
    devnull = open(os.devnull, "w")  # noqa: SIM115 - closed in finally
    try:
        stack.start()
        assert stack.runtime is not None
        stack.runtime.output = devnull  # the functions' JSON logs would drown the tables
        yield stack, moto_log
    finally:
        stack.stop()
        devnull.close()
        werkzeug.removeHandler(moto_log)
        werkzeug.setLevel(saved[0])
        werkzeug.propagate = saved[1]
