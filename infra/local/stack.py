"""`python -m infra.local.stack` (`make run`): the whole stack on loopback, no Docker, no AWS.

moto in server mode and the local identity provider -> every resource template.yaml declares
(the template's OIDC parameters filled with the identity provider's URLs) -> the tables'
saved data (infra.local.persist) or else reference data -> the stream/queue pollers and the API
gateway. Writes .local/stack.json so the demo and the CLIs can find the running stack. The
tables are saved to .local/data/<stack>/ every 60 s when they changed and on stop, every write in
between journaled (infra/local/journal.py); `--fresh` starts from empty tables instead.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import sys
import threading
import time
import urllib.request
from pathlib import Path
from types import FrameType
from typing import Any

from moto.server import ThreadedMotoServer

from infra.local import moto_server, seed
from infra.local.departments import DepartmentStandIns
from infra.local.deploy import AwsClients, Deployment, deploy
from infra.local.doorbell import Doorbell
from infra.local.gateway import Gateway
from infra.local.idp import DEMO_USERS, IdentityProvider
from infra.local.journal import Journal
from infra.local.persist import (
    PeriodicSnapshot,
    SnapshotStore,
    put_back_streams,
    stream_positions,
)
from infra.local.priority import RequestPriority
from infra.local.resume import RestoreHook, resume_hook
from infra.local.runtime import Runtime
from infra.local.schedules import Schedules
from infra.local.stack_file import DEFAULT_STATE_DIR, STACK_FILE_NAME
from infra.local.streams import EventSourcePollers
from infra.local.template import DEFAULT_STACK_NAME, LocalTemplate, default_region

log = logging.getLogger("miaopi.local.stack")

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TEMPLATE = ROOT / "template.yaml"
#: how long a stop waits for the API's requests in flight to be answered
DRAIN_TIMEOUT_S = 30.0


class PortInUseError(RuntimeError):
    pass


def ensure_port_free(host: str, port: int, option: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # like the servers: TIME_WAIT ok
        try:
            sock.bind((host, port))
        except OSError as err:
            raise PortInUseError(
                f"port {port} on {host} is not available ({err.strerror}); "
                f"choose another with {option}"
            ) from err


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def start_moto(
    host: str,
    port: int,
    bell: Doorbell | None = None,
    priority: RequestPriority | None = None,
    journal: Journal | None = None,
) -> ThreadedMotoServer:
    """moto on loopback with Step Functions executing for real (MOTO-NOTES); it rings `bell`
    after every write and serves the API's calls first (`priority`) — not with
    MIAOPI_PLAIN_MOTO: then the pollers poll on their own."""
    ensure_port_free(host, port, "--moto-port")
    os.environ["MOTO_PORT"] = str(port)  # the executing workflows' own clients call this port
    if os.environ.get("MIAOPI_PLAIN_MOTO"):
        server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    else:
        server = moto_server.apply()(
            ip_address=host,
            port=port,
            verbose=False,
            bell=bell,
            priority=priority,
            journal=journal,
        )
    server.start()
    _moto_api(f"http://{host}:{port}", "config", {"stepfunctions": {"execute_state_machine": True}})
    return server


def _moto_api(endpoint_url: str, path: str, body: dict[str, Any] | None = None) -> None:
    request = urllib.request.Request(  # noqa: S310 - the stack's own loopback moto
        f"{endpoint_url}/moto-api/{path}",
        data=json.dumps(body or {}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - loopback
        pass


def seed_moto_random(endpoint_url: str, *parts: str) -> None:
    """Make moto's next generated ids (e.g. a secret's ARN suffix) a function of `parts`,
    or random again without parts. moto draws every id from one seedable generator."""
    if parts:
        value = int(hashlib.sha256("/".join(parts).encode()).hexdigest()[:15], 16)
    else:
        value = secrets.randbits(60)
    _moto_api(endpoint_url, f"seed?a={value}")


def demo_users(stack_name: str) -> list[dict[str, Any]]:
    """The demo users as the stack's description lists them (no ID numbers, no names)."""
    return [
        {
            "username": user.username,
            "roles": list(user.roles),
            "assurance": user.identity(stack_name).assurance.name,
        }
        for user in DEMO_USERS
    ]


class LocalStack:
    """moto + deployment + runtime + gateway + pollers; `start()` then `stop()`."""

    def __init__(
        self,
        *,
        template: Path = DEFAULT_TEMPLATE,
        host: str = "127.0.0.1",
        port: int = 8080,
        moto_port: int = 5000,
        idp_port: int = 0,
        stack_name: str = DEFAULT_STACK_NAME,
        seed: bool = True,
        state_dir: Path = DEFAULT_STATE_DIR,
        region: str | None = None,
        fresh: bool = False,
        # the journal holds every write between two snapshots: a snapshot (which holds the
        # DynamoDB lock while it reads the tables) once a minute, not every 10 s
        snapshot_interval: float = 60.0,
    ) -> None:
        self.template = template
        self.host = host
        self.port = port
        self.moto_port = moto_port
        self.idp_port = idp_port
        self.stack_name = stack_name
        self.seed = seed
        self.state_dir = state_dir
        self.region = region or default_region()
        self.fresh = fresh
        self.snapshot_interval = snapshot_interval
        self.store = SnapshotStore.for_stack(state_dir, stack_name)
        #: True when the tables were restored from the saved snapshot on start
        self.restored = False
        #: after a restore: where each stream's pollers start (table -> shard, sequence)
        self.resume_streams_after: dict[str, tuple[str, int]] = {}
        #: called after a restore in the background once the stack serves, one after the other
        #: (e.g. resume open review workflows); the event is set when the stack stops
        self.restore_hooks: list[RestoreHook] = [resume_hook]
        #: set once the restore hooks ran (at once without a restore)
        self.restored_hooks_done = threading.Event()
        self._stopping = threading.Event()
        self._after_restore: threading.Thread | None = None
        self.snapshots: PeriodicSnapshot | None = None
        #: every accepted DynamoDB write, on disk before it is answered (journal.py)
        self.journal: Journal | None = None
        self.moto: ThreadedMotoServer | None = None
        self.idp: IdentityProvider | None = None
        self.runtime: Runtime | None = None
        self.gateway: Gateway | None = None
        self.pollers: EventSourcePollers | None = None
        self.schedules: Schedules | None = None
        self.departments: DepartmentStandIns | None = None
        #: rung by moto after every write; the pollers wait for it when idle
        self.bell = Doorbell()
        #: the API's requests in flight; background work waits for them
        self.priority = RequestPriority()
        self.info: dict[str, Any] = {}

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.moto_port}"

    def start(self) -> LocalStack:
        ensure_port_free(self.host, self.port, "--port")
        if self.idp_port:
            ensure_port_free(self.host, self.idp_port, "--idp-port")
        self._stopping.clear()
        self.restored_hooks_done.clear()
        journal_dir = self.state_dir / "data" / f"{self.stack_name}.journal"
        if self.fresh:
            self.store.discard()
            shutil.rmtree(journal_dir, ignore_errors=True)
        self.journal = Journal(journal_dir)
        self.moto = start_moto(self.host, self.moto_port, self.bell, self.priority, self.journal)
        try:
            self._start_rest()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_rest(self) -> None:
        clients = AwsClients.create(self.endpoint_url, self.region)
        self.idp = IdentityProvider(self.state_dir, self.host, self.idp_port).start()
        template = LocalTemplate.load(self.template)
        # Same ids as last time (the secret's ARN), then fresh ones, as moto does by default.
        seed_moto_random(self.endpoint_url, self.stack_name)
        deployment = deploy(
            template,
            clients,
            stack_name=self.stack_name,
            parameters=self.idp.parameters(template),
        )
        seed_moto_random(self.endpoint_url)
        seeded = self._restore(deployment, clients)
        personas_file = self.state_dir / "personas.json"
        self.runtime = Runtime(
            deployment.functions, endpoint_url=self.endpoint_url, region=self.region
        )
        if self.seed and not seeded:  # through the departments' loader (infra/local/intake.py)
            seeded = seed.load(
                deployment, clients, personas_file=personas_file, runtime=self.runtime
            )
        # The tables as they are now (restored, replayed, seeded) are the first snapshot; from
        # here on every accepted DynamoDB write is journaled before it is answered.
        self.snapshots = PeriodicSnapshot(
            self.store,
            deployment.tables,
            self.region,
            interval=self.snapshot_interval,
            meta={"seeded": seeded},
            journal=self.journal,
            unprocessed=functools.partial(self._unprocessed, deployment),
        )
        self.snapshots.save()
        assert self.journal is not None
        self.journal.active = True
        # Pollers before the gateway: every stream's starting point predates the first request.
        self.pollers = EventSourcePollers(
            deployment,
            self.runtime,
            clients,
            checkpoint_path=self.state_dir / "checkpoints" / f"{self.stack_name}.json",
            resume_after=self.resume_streams_after if self.restored else None,
            bell=self.bell,
            priority=self.priority,
        ).start()
        self.departments = DepartmentStandIns(
            deployment, clients, bell=self.bell, priority=self.priority
        ).start()
        # the template's rate schedules (the reconciler, the sources' freshness) run here too;
        # after a restore at once, once the review workflows are resumed: the reconciler
        # repairs what the stopped streams left behind
        self.schedules = Schedules(deployment, self.runtime).start(
            run_now=self.restored, after=self.restored_hooks_done
        )
        self.gateway = Gateway.from_deployment(
            deployment, self.runtime, host=self.host, port=self.port, priority=self.priority
        ).start()
        self.snapshots.start()
        self.info = {
            "stackName": self.stack_name,
            "region": self.region,
            "apiUrl": self.gateway.base_url,
            "motoEndpoint": self.endpoint_url,
            "idp": self.idp.issuer.describe(self.state_dir),
            "tables": deployment.tables,
            "queues": deployment.queues,
            "topics": deployment.topics,
            "stateMachines": deployment.state_machines,
            "secrets": deployment.secrets,
            "functions": {lid: f.name for lid, f in deployment.functions.items()},
            "schedules": {
                f"{s.function_id}.{s.event_id}": f"every {s.every_s:.0f} s"
                for s in self.schedules.schedules
            },
            "outputs": {**deployment.outputs(), "ApiUrl": self.gateway.base_url},
            "demoUsers": demo_users(self.stack_name),
            "seeded": seeded,
            "personasFile": str(personas_file.resolve()) if seeded else None,
            "restored": self.restored,
            "dataDir": str(self.store.directory.resolve()),
            "pid": os.getpid(),
        }
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / STACK_FILE_NAME).write_text(json.dumps(self.info, indent=2) + "\n")
        if self.restored:  # the stack serves meanwhile
            self._after_restore = threading.Thread(
                target=self._run_restore_hooks,
                args=(deployment, clients),
                name="after-restore",
                daemon=True,
            )
            self._after_restore.start()
        else:
            self.restored_hooks_done.set()

    def _unprocessed(self, deployment: Deployment) -> dict[str, int]:
        """Table name -> the first stream record some poller has not processed (the pollers'
        own once they run; before: after the restored items, or everything)."""
        if self.pollers is not None:
            return self.pollers.unprocessed()
        if self.restored:
            return {name: seq + 1 for name, (_shard, seq) in self.resume_streams_after.items()}
        return dict.fromkeys(deployment.tables.values(), 0)

    def _run_restore_hooks(self, deployment: Deployment, clients: AwsClients) -> None:
        try:
            for hook in self.restore_hooks:
                if self._stopping.is_set():
                    break
                try:
                    hook(deployment, clients, self._stopping)
                except Exception:
                    log.exception("a restore hook failed; the reconciler repairs what it left")
        finally:
            self.restored_hooks_done.set()

    def _restore(self, deployment: Deployment, clients: AwsClients) -> dict[str, Any] | None:
        """Put the saved tables back; what the saved data set was seeded with, if anything."""
        started = time.monotonic()
        counts = self.store.restore(clients.dynamodb, deployment.tables)
        if counts is None:
            if self.journal is not None:  # writes after no snapshot at all: nothing to add to
                self.journal.discard_before(self.journal.generation)
            return None
        self.restored = True
        log.info(
            "restored %s in %.1f s from %s (--fresh to start empty)",
            ", ".join(f"{lid} {n}" for lid, n in counts.items()),
            time.monotonic() - started,
            self.store.directory,
        )
        # The pollers start after the restored items: with what no poller had processed when
        # the snapshot was taken, then the journal's writes (delivered again if they were
        # before the crash: the consumers are idempotent, as Lambda's retries require)
        self.resume_streams_after = stream_positions(deployment.tables, self.region)
        backlog = put_back_streams(self.store.stream_backlog(), deployment.tables, self.region)
        if backlog:
            log.info("%d stream records no poller had processed are delivered again", backlog)
        manifest = self.store.manifest() or {}
        since = manifest.get("meta", {}).get("journalFrom")
        if since is not None and self.journal is not None:
            started = time.monotonic()
            replayed = self.journal.replay(self.endpoint_url, int(since))
            if replayed:
                log.info(
                    "replayed %d journaled writes after the snapshot in %.1f s",
                    replayed,
                    time.monotonic() - started,
                )
        seeded: dict[str, Any] | None = manifest.get("meta", {}).get("seeded")
        return seeded

    def moto_outage(self, seconds: float) -> None:
        """moto unreachable for `seconds`, then back on the same port: its server stops (every
        kept-alive connection shut, every new one refused) and a new one starts. moto's
        backends are module state, so the data is all there again (a fault test's outage)."""
        assert self.moto is not None, "the stack is not running"
        self.moto.stop()
        time.sleep(seconds)
        self.moto = start_moto(self.host, self.moto_port, self.bell, self.priority, self.journal)

    def stop(self) -> None:
        self._stopping.set()
        if self.gateway:  # new requests: 503 + Retry-After; the ones in flight are answered
            left = self.gateway.drain(timeout=DRAIN_TIMEOUT_S)
            if left:
                log.warning("stopping with %d requests still in flight", left)
        if self.schedules:  # a run in progress ends before the runtime closes under it
            self.schedules.stop()
            self.schedules.join(timeout=10.0)
        if self._after_restore:  # the resume stops between two starts
            self._after_restore.join(timeout=10.0)
            self._after_restore = None
        if self.pollers:
            self.pollers.stop()
        if self.gateway:
            self.gateway.stop()
        if self.runtime:
            self.runtime.close()
        if self.pollers:
            self.pollers.join()
        if self.departments:
            self.departments.stop()
        if self.snapshots:  # only a stack that started completely: never save half a restore
            try:
                self.snapshots.stop()
            except Exception:
                log.exception("could not save the tables on stop")
        if self.moto:
            self.moto.stop()
        if self.journal:
            self.journal.close()
        if self.idp:
            self.idp.stop()
        stack_file = self.state_dir / STACK_FILE_NAME
        if self.info and stack_file.exists():
            stack_file.unlink()
        self.pollers = None
        self.schedules = None
        self.departments = None
        self.gateway = None
        self.runtime = None
        self.snapshots = None
        self.moto = None
        self.journal = None
        self.idp = None


def _banner(info: dict[str, Any]) -> str:
    api = info["apiUrl"]
    users = "\n".join(
        f"    {u['username']:<18} {u['assurance']}  {' '.join(u['roles']) or '(citizen)'}"
        for u in info["demoUsers"]
    )
    return f"""
miaopi local stack '{info["stackName"]}' is running (Ctrl-C to stop)
  API          {api}
  OpenAPI      {api}/openapi.json
  Docs         {api}/docs
  moto         {info["motoEndpoint"]}
  identity     {info["idp"]["discoveryUrl"]}
  data         {_seeded(info)}
  saved in     {info["dataDir"]}{" (restored)" if info["restored"] else ""}
  demo users (a token: python -m infra.local.token NAME; also any persona's name):
{users}
  token        TOKEN=$(.venv/bin/python -m infra.local.token citizen)
               curl -H "Authorization: Bearer $TOKEN" {api}/applications
"""


def _seeded(info: dict[str, Any]) -> str:
    seeded = info.get("seeded")
    if not seeded:
        return "no reference data (--no-seed)"
    return (
        f"{seeded['personas']} personas (make demo) + {seeded['bulk']} bulk, "
        f"{seeded['referenceItems'] + seeded['creditListItems']} reference records"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.local.stack", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="API port")
    parser.add_argument("--moto-port", type=int, default=5000)
    parser.add_argument(
        "--idp-port",
        type=int,
        default=8081,
        help="the local identity provider's port (its URL is the tokens' issuer; 0: any free one)",
    )
    parser.add_argument("--stack-name", default=DEFAULT_STACK_NAME)
    parser.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE)
    parser.add_argument("--no-seed", action="store_true", help="skip reference data")
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="discard the saved tables (then seeded anew unless --no-seed)",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=DEFAULT_STATE_DIR,
        help="where stack.json, personas.json, poller checkpoints and the saved tables go",
    )
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    os.environ.setdefault("AWS_DEFAULT_REGION", default_region())

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    stack = LocalStack(
        template=args.template,
        host=args.host,
        port=args.port,
        moto_port=args.moto_port,
        idp_port=args.idp_port,
        stack_name=args.stack_name,
        seed=not args.no_seed,
        state_dir=args.state_dir,
        fresh=args.fresh,
    )
    try:
        stack.start()
    except PortInUseError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(_banner(stack.info), flush=True)
    while not stop.wait(0.5):
        pass
    print("stopping ...", flush=True)
    stack.stop()
    print("stopped", flush=True)
    return 0


def exit_now(code: int) -> None:
    """After the stack has stopped: flush and leave without the interpreter's teardown of moto's
    large heap, which takes seconds to minutes after many submissions."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main())
