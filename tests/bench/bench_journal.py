"""The journal section: what durability costs a submission on the local stack.

Every DynamoDB write the local moto accepts is appended to the journal and fsync'd before its
answer (infra/local/journal.py), and a snapshot reads the tables written since the last one
under the DynamoDB lock (infra/local/persist.py). Here one seeded stack (in this process, every
consumer running) answers sequential submissions, round robin over the services, in batches of
`BATCH` that alternate three ways:

- `off`: the journal off (nothing appended, nothing fsync'd);
- `on`: the journal on, as `make run` runs;
- `snapshots`: the journal on and a snapshot taken every second meanwhile (the stack takes one
  a minute: this is the worst case, every request near one).

Reported: `journal.<mode>_median_ms`, `journal.<mode>_p95_ms`, the ratios of `on` and
`snapshots` to `off` (p95), and `journal.snapshot_held_ms_median`: how long a snapshot held the
DynamoDB lock (requests wait that long at most).
"""

from __future__ import annotations

import random
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from tests.bench.bench_common import SERVICES, Section, fake_aws, median, percentile, quiet_stack
from tests.bench.bench_http import Client

BATCH = 20
ROUNDS = 6
QUICK_ROUNDS = 2
MODES = ("off", "on", "snapshots")
SNAPSHOT_EVERY_S = 1.0


def run_journal(quick: bool) -> Section:
    section = Section("journal")
    state_dir = Path(tempfile.mkdtemp(prefix="miaopi-journal-"))
    try:
        with fake_aws(MOTO_PORT=None):  # start_moto sets MOTO_PORT; restored after
            _measure(section, QUICK_ROUNDS if quick else ROUNDS, state_dir)
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)
    return section


def _measure(section: Section, rounds: int, state_dir: Path) -> None:
    import infra.local.seed as seed
    from infra.local import people
    from infra.local.stack_file import STACK_FILE_NAME, id_token

    with quiet_stack("miaopi-journal", state_dir) as (stack, _moto_log):
        assert stack.journal is not None and stack.snapshots is not None
        personas = [p for p in seed.read_personas(Path(stack.info["personasFile"])) if p.bulk]
        random.Random(2019).shuffle(personas)
        by_service = {sid: [p for p in personas if p.service_id == sid] for sid in SERVICES}
        client = Client(
            stack.info["apiUrl"], id_token("citizen", stack_file=state_dir / STACK_FILE_NAME)
        )
        used = dict.fromkeys(SERVICES, 0)

        def submit(n: int) -> float:
            sid = SERVICES[n % len(SERVICES)]
            persona = by_service[sid][used[sid] % len(by_service[sid])]
            used[sid] += 1
            status, ms, _outcome, _ = client.submit(
                sid, persona.application, people.token(stack.info, persona)
            )
            assert status in (200, 201), status
            return ms

        for n in range(3 * len(SERVICES)):  # every service's cold start, not measured
            submit(n)
        timings: dict[str, list[float]] = {mode: [] for mode in MODES}
        held: list[float] = []
        count = 0
        for _round in range(rounds):
            for mode in MODES:
                stack.journal.active = mode != "off"
                stop = threading.Event()
                snapshotter = threading.Thread(
                    target=_snapshots, args=(stack.snapshots, stop, held), daemon=True
                )
                if mode == "snapshots":
                    snapshotter.start()
                for _ in range(BATCH):
                    timings[mode].append(submit(count))
                    count += 1
                stop.set()
                if snapshotter.is_alive():
                    snapshotter.join()
        stack.journal.active = True

    results: dict[str, Any] = {}
    rows = []
    for mode in MODES:
        values = timings[mode]
        results[f"journal.{mode}_median_ms"] = round(median(values), 1)
        results[f"journal.{mode}_p95_ms"] = round(percentile(values, 95), 1)
        rows.append([mode, len(values), f"{median(values):.1f}", f"{percentile(values, 95):.1f}"])
    off = results["journal.off_p95_ms"]
    results["journal.on_to_off_p95"] = round(results["journal.on_p95_ms"] / off, 2)
    results["journal.snapshots_to_off_p95"] = round(results["journal.snapshots_p95_ms"] / off, 2)
    results["journal.snapshot_held_ms_median"] = round(median(held) * 1000, 1) if held else None
    results["journal.snapshots_taken"] = len(held)
    section.results.update(results)
    section.tables.append(
        (
            "sequential submissions by durability mode (alternating batches)",
            ["mode", "n", "median ms", "p95 ms"],
            rows,
        )
    )
    section.notes.append(
        f"p95 ratio to off: journal {results['journal.on_to_off_p95']}x, journal + a snapshot "
        f"every second {results['journal.snapshots_to_off_p95']}x; a snapshot held DynamoDB "
        f"{results['journal.snapshot_held_ms_median']} ms (median of {len(held)})"
    )


def _snapshots(snapshots: Any, stop: threading.Event, held: list[float]) -> None:
    while not stop.wait(SNAPSHOT_EVERY_S):
        snapshots.save()
        if snapshots.last_held_s is not None:
            held.append(snapshots.last_held_s)
