"""The local stack's DynamoDB writes, made durable before they are answered: an append-only
journal, so a crash (kill -9) loses no acknowledged write.

moto keeps its tables in memory; the periodic snapshot (persist.py) saves them every 60 s. Every
DynamoDB request moto accepts that writes (PutItem, UpdateItem, DeleteItem, BatchWriteItem,
TransactWriteItems) is appended here, one JSON line with the request as sent, under the same
lock that serializes DynamoDB requests (moto_server.py), so in that order; and fsync'd after
the lock, before the answer leaves (the others need not wait for the disk; an fsync covers
every line before it, and a generation is synced before it is closed). A snapshot reads the
tables under that lock too and starts a new generation of the journal there, so the snapshot
and the journal meet at one point: on the next start the stack restores the snapshot and sends
each journaled request after it to moto again, in order (moto is deterministic: the same state
and the same request give the same result).

The journal holds what the tables hold (personal data included): it lives beside the snapshot in
the state directory and is deleted with it (`--fresh`).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any

log = logging.getLogger("miaopi.local.journal")

#: the DynamoDB operations that change a table's items
WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
#: the most writes noted between two snapshots (`wrote`); a snapshot a minute takes far fewer
MAX_NOTED = 100_000
#: the request headers a replay needs (moto reads the region from the Authorization scope)
_HEADERS = ("X-Amz-Target", "Content-Type", "Authorization")


class Journal:
    """Generations of journaled DynamoDB writes in `directory` (`<n>.jsonl`, n from 1)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        #: held around every DynamoDB request (moto_server) and a snapshot's read (persist)
        self.lock = threading.Lock()
        #: False while the stack restores, replays and seeds (the first snapshot holds those)
        self.active = False
        #: the writes (operation, request body) since the last `take_written` (None: too many)
        self._written: list[tuple[str, bytes]] | None = []
        self._written_lock = threading.Lock()
        existing = self.generations()
        self.generation = (existing[-1] if existing else 0) + 1
        self._file: IO[bytes] = self._open()

    def _path(self, generation: int) -> Path:
        return self.directory / f"{generation:06d}.jsonl"

    def _open(self) -> IO[bytes]:
        return self._path(self.generation).open("ab")

    def generations(self) -> list[int]:
        return sorted(int(p.stem) for p in self.directory.glob("*.jsonl") if p.stem.isdigit())

    def append(self, headers: dict[str, str], body: bytes) -> IO[bytes] | None:
        """One accepted write, handed to the file in the lock's order (called under `lock`);
        the file to `sync` before its answer is sent (None: nothing journaled)."""
        if not self.active:
            return None
        line = json.dumps({"h": headers, "b": base64.b64encode(body).decode()}) + "\n"
        self._file.write(line.encode())
        self._file.flush()
        return self._file

    @staticmethod
    def sync(file: IO[bytes] | None) -> None:
        """The write `append` handed to `file`, on disk (called after the lock, so the other
        DynamoDB requests do not wait for the disk: an fsync covers every write before it, so
        concurrent ones share the disk's time). A generation that was rotated meanwhile was
        synced as it closed."""
        if file is None:
            return
        try:
            os.fsync(file.fileno())
        except (ValueError, OSError):  # closed by `rotate`, which synced it first
            if not file.closed:
                raise

    def wrote(self, operation: str, body: bytes) -> None:
        """Note an accepted write (journal active or not: the restore and the seed change
        tables too), for the next snapshot to read again what it changed (persist.py). Past
        MAX_NOTED (no snapshot for a long while) the notes are dropped: the next snapshot
        reads every table."""
        with self._written_lock:
            if self._written is None:
                return
            if len(self._written) >= MAX_NOTED:
                self._written = None
                return
            self._written.append((operation, body))

    def take_written(self) -> list[tuple[str, bytes]] | None:
        """The writes noted since the last call, oldest first; None when there were too many
        to keep (every table may have changed)."""
        with self._written_lock:
            written, self._written = self._written, []
        return written

    def rotate(self) -> int:
        """Start the next generation (called under `lock`, as a snapshot reads the tables):
        the snapshot holds everything before it. Its number."""
        self._file.flush()
        os.fsync(self._file.fileno())  # what was appended is on disk before the file closes
        self._file.close()
        self.generation += 1
        self._file = self._open()
        return self.generation

    def discard_before(self, generation: int) -> None:
        """Delete the generations a saved snapshot holds."""
        for old in self.generations():
            if old < generation:
                self._path(old).unlink(missing_ok=True)

    def replay(self, endpoint_url: str, since: int) -> int:
        """Send every journaled write of generations >= `since` to moto again, in order; how
        many. A line cut short by the crash (never answered) ends its generation."""
        count = 0
        for generation in self.generations():
            if generation < since or generation == self.generation:
                continue
            for raw in self._path(generation).read_bytes().splitlines():
                try:
                    entry: dict[str, Any] = json.loads(raw)
                except ValueError:
                    log.warning("journal %06d: an unfinished last line, not replayed", generation)
                    break
                request = urllib.request.Request(  # noqa: S310 - the stack's own loopback moto
                    endpoint_url, data=base64.b64decode(entry["b"]), headers=entry["h"]
                )
                try:
                    with urllib.request.urlopen(request, timeout=30):  # noqa: S310
                        pass
                except urllib.error.HTTPError:
                    pass  # answered as the first time (e.g. a condition that failed then too)
                count += 1
        return count

    def close(self) -> None:
        """Synced, then closed: under `lock` (a write handed to the file is on disk with it),
        unless a request stopped with moto still holds it after 5 s."""
        held = self.lock.acquire(timeout=5.0)
        try:
            if not self._file.closed:
                self._file.flush()
                os.fsync(self._file.fileno())
                self._file.close()
        finally:
            if held:
                self.lock.release()


def request_headers(environ: dict[str, Any]) -> dict[str, str]:
    """What of a WSGI request a replay sends again."""
    out = {}
    for name in _HEADERS:
        value = environ.get("HTTP_" + name.upper().replace("-", "_"))
        if name == "Content-Type":
            value = environ.get("CONTENT_TYPE") or value
        if value:
            out[name] = str(value)
    return out
