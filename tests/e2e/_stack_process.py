"""One local stack in its own process, for the e2e tests: `python -m tests.e2e._stack_process`.

Why a process of its own: moto's backends are process-global, and other test modules in the
same pytest worker use `mock_aws()`, which resets them; the stack's pollers are threads that
would keep running in the worker. Everything the stack writes goes to --state-dir (its
stack.json, the poller checkpoints and the personas file), never to a developer's .local/.

Exit status 2 when a port is taken (the caller retries with other ports). The process stops
the stack on SIGTERM/SIGINT, and also when its parent goes away (a killed pytest).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from infra.local.stack import LocalStack, PortInUseError, exit_now


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.e2e._stack_process")
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--moto-port", type=int, required=True)
    parser.add_argument("--stack-name", default="miaopi-e2e")
    parser.add_argument("--template", type=Path, default=None)
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    state_dir: Path = args.state_dir.resolve()

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    parent = os.getppid()

    stack = LocalStack(
        port=args.port,
        moto_port=args.moto_port,
        stack_name=args.stack_name,
        state_dir=state_dir,
        **({"template": args.template.resolve()} if args.template else {}),
    )
    try:
        stack.start()  # writes state_dir/stack.json last: the caller waits for it
    except PortInUseError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        return 2
    try:
        while not stop.wait(0.5):
            if os.getppid() != parent:  # orphaned: the test session is gone
                break
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    exit_now(main())
