"""The e2e fixture: ONE local stack per pytest worker, in a process of its own, over HTTP.

The stack (`tests/e2e/_stack_process.py`) runs on free loopback ports with a temporary state
directory, so a developer's running `make run` stack (ports 8080/5000, .local/) is untouched.
The personas are read from the file that stack wrote while seeding: they are exactly the
data it holds (the non-bulk personas depend on the bulk count, generate() shares one RNG).

Tests never depend on each other's data: under `pytest -n 2` each worker has its own stack,
and tests that count applications, or need a decision a grant of another test would change
(one grant per subject), apply as someone new (`api.fresh(persona)`, `api.fresh_applicant`).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from miaopi_platform.identity.context import Assurance

from infra.local import people
from infra.local.idp import LocalIdentity, random_id_number, random_name
from infra.local.seed import Persona, read_personas
from infra.local.stack import free_port
from infra.local.stack_file import STACK_FILE_NAME, id_token, token_for

ROOT = Path(__file__).resolve().parents[2]
PYTHONPATH = [ROOT / "layers/core/python", ROOT / "layers/platform/python"]
PYTHONPATH += [ROOT / "layers/rules/python", ROOT]
START_TIMEOUT_S = 120.0
#: a graceful stop takes ~1 s per warm function worker (Runtime.close stops them one by one)
STOP_TIMEOUT_S = 10.0
TIMEOUT_S = 30.0


@dataclass
class Response:
    status: int
    body: Any
    text: str
    headers: dict[str, str]
    #: the body as sent (a PDF's bytes)
    content: bytes = b""


@dataclass
class Client:
    """An applicant (or anonymous, token None) talking to the API."""

    base_url: str
    token: str | None
    username: str = "anonymous"
    session: requests.Session = field(default_factory=requests.Session, repr=False)

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        out = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return {**out, **(extra or {})}

    def request(self, method: str, path: str, **kwargs: Any) -> Response:
        headers = self.headers(kwargs.pop("headers", None))
        answer = self.session.request(
            method, f"{self.base_url}{path}", headers=headers, timeout=TIMEOUT_S, **kwargs
        )
        try:
            body = answer.json()
        except ValueError:
            body = None
        return Response(answer.status_code, body, answer.text, dict(answer.headers), answer.content)

    def get(self, path: str, **kwargs: Any) -> Response:
        return self.request("GET", path, **kwargs)

    def submit(
        self,
        service_id: str,
        body: Any = None,
        *,
        key: str | None = None,
        raw: str | bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        """POST /services/{id}/applications; `raw` sends bytes as they are."""
        data = raw if raw is not None else json.dumps(body, ensure_ascii=False).encode()
        extra = {"Content-Type": "application/json", "Idempotency-Key": key or new_key()}
        return self.request(
            "POST",
            f"/services/{service_id}/applications",
            data=data,
            headers={**extra, **(headers or {})},
        )

    def applications(self, limit: int = 100) -> list[dict[str, Any]]:
        """Every page of GET /applications, in order."""
        items: list[dict[str, Any]] = []
        token: str | None = None
        for _page in range(10_000):
            params: dict[str, Any] = {"limit": limit, **({"nextToken": token} if token else {})}
            page = self.get("/applications", params=params)
            assert page.status == 200, page.text
            items += page.body["items"]
            token = page.body.get("nextToken")
            if not token:
                return items
        raise AssertionError("GET /applications never ended")


def new_key() -> str:
    return f"e2e-{uuid.uuid4().hex}"


@dataclass
class Api:
    base_url: str
    info: dict[str, Any]
    stack_file: Path
    personas: list[Persona]
    started_in_s: float
    _tokens: dict[str, str] = field(default_factory=dict)

    def token(self, username: str) -> str:
        """A token of a demo user (or persona) from the stack's identity provider."""
        if username not in self._tokens:
            self._tokens[username] = id_token(username, stack_file=self.stack_file)
        return self._tokens[username]

    def client(self, username: str | None) -> Client:
        if username is None:
            return Client(self.base_url, None)
        return Client(self.base_url, self.token(username), username)

    def signed_in(self, identity: LocalIdentity, label: str, **claims: Any) -> Client:
        """A client with a token of `identity`; `claims` replace the token's (None removes)."""
        return Client(self.base_url, token_for(identity, self.stack_file, **claims), label)

    def person(self, id_number: str, name: str, acr: Assurance | None = None) -> Client:
        """A person signed in at real-name level `acr` (L2 unless given)."""
        return self.signed_in(LocalIdentity.person(id_number, name, assurance=acr), "person")

    def legal_person(self, credit_code: str, name: str) -> Client:
        return self.signed_in(LocalIdentity.legal_person(credit_code, name), "legal person")

    def staff(self, *roles: str, acr: Assurance | None = None) -> Client:
        """A staff member (a new person) with `roles` (`reviewer:transport`), L3 unless given."""
        rng = random.Random(uuid.uuid4().int)
        identity = LocalIdentity.person(
            random_id_number(rng), random_name(rng), roles=roles, assurance=acr
        )
        return self.signed_in(identity, " ".join(roles))

    def new_applicant(self) -> Client:
        """A person never seen before (a fresh, valid ID number): no applications yet."""
        rng = random.Random(uuid.uuid4().int)
        return self.person(random_id_number(rng), random_name(rng))

    def applicant_for(self, persona: Persona) -> Client:
        """Whom the persona's application is for, signed in (the person, the enterprise)."""
        return Client(self.base_url, people.token(self.info, persona), persona.name)

    def fresh(self, persona: Persona) -> Persona:
        """Someone new in the persona's situation, known to the stack's departments: for a
        test that must not meet a grant another test took (one grant per subject)."""
        [copy] = self.fresh_all([persona])
        return copy

    def fresh_all(self, personas: list[Persona]) -> list[Persona]:
        """`fresh` for many personas at once (people.fresh: each copy drawn again until nothing
        it is looked up by is in the stack yet)."""
        return people.fresh(self.info, personas, random.Random(uuid.uuid4().int))

    def fresh_applicant(self, persona: Persona) -> tuple[Persona, Client]:
        """Someone new in the persona's situation and a client signed in as them: a person (or
        enterprise) with no applications yet, who may apply with `persona.application`."""
        person = self.fresh(persona)
        return person, self.applicant_for(person)

    @property
    def live_personas(self) -> list[Persona]:
        return [p for p in self.personas if not p.bulk]


class StackProcess:
    """`python -m tests.e2e._stack_process` with its own session (process group)."""

    def __init__(self, state_dir: Path, template: Path | None = None) -> None:
        self.state_dir = state_dir
        #: another template than the repository's (e.g. a generated catalogue's)
        self.template = template
        self.log_path = state_dir / "stack.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, attempts: int = 3) -> dict[str, Any]:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(str(p) for p in PYTHONPATH),
            "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        }
        env.pop("MOTO_PORT", None)
        # a crashed stack (kill -9) leaves its stack.json: not the one to wait for
        (self.state_dir / STACK_FILE_NAME).unlink(missing_ok=True)
        for _attempt in range(attempts):
            port, moto_port = free_port(), free_port()
            with self.log_path.open("ab") as log:
                command = [sys.executable, "-m", "tests.e2e._stack_process"]
                command += ["--state-dir", str(self.state_dir), "--port", str(port)]
                command += ["--moto-port", str(moto_port)]
                if self.template is not None:
                    command += ["--template", str(self.template)]
                self.proc = subprocess.Popen(
                    command,
                    cwd=self.state_dir,  # anything written relative to the cwd lands here
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            info = self._wait_ready()
            if info is not None:
                return info
            if self.proc.returncode != 2:  # not a port race: give up
                break
        self.stop()
        raise RuntimeError(f"the local stack did not start; its log:\n{self.log()}")

    def _wait_ready(self) -> dict[str, Any] | None:
        assert self.proc is not None
        stack_file = self.state_dir / STACK_FILE_NAME
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return None
            with contextlib.suppress(FileNotFoundError, ValueError):
                info: dict[str, Any] = json.loads(stack_file.read_text())
                if info.get("apiUrl"):
                    return info
            time.sleep(0.1)
        return None

    def log(self, tail: int = 60) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-tail:])
        return "(no log)"

    def stop(self) -> None:
        """SIGTERM (the stack stops its workers), then SIGKILL to whatever is left of the group."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(STOP_TIMEOUT_S)
        # The group is the stack's own session: the stack and its function workers.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(STOP_TIMEOUT_S)


def connect(state_dir: Path, info: dict[str, Any]) -> Api:
    """The API of the stack a StackProcess started in `state_dir` (its personas, its tokens)."""
    personas = read_personas(state_dir / "personas.json")
    return Api(info["apiUrl"], info, state_dir / STACK_FILE_NAME, personas, 0.0)


@contextlib.contextmanager
def running_api(state_dir: Path, template: Path | None = None) -> Iterator[Api]:
    """A local stack of its own in `state_dir` (of `template`, else template.yaml), stopped on
    the way out."""
    stack = StackProcess(state_dir, template)
    started = time.monotonic()
    info = stack.start()
    started_in = time.monotonic() - started
    try:
        personas = read_personas(state_dir / "personas.json")
        yield Api(info["apiUrl"], info, state_dir / STACK_FILE_NAME, personas, started_in)
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with running_api(tmp_path_factory.mktemp("e2e-stack")) as running:
        yield running


@pytest.fixture(scope="session")
def citizen(api: Api) -> Client:
    return api.client("citizen")


@pytest.fixture(scope="session")
def citizen2(api: Api) -> Client:
    return api.client("citizen2")


@pytest.fixture
def applicant(api: Api) -> Client:
    """A fresh applicant per test: counts of their applications start at zero."""
    return api.new_applicant()
