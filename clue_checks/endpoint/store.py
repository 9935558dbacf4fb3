"""Durable response store: every completion is written the moment it arrives.

SQLite in WAL mode, one connection per thread, so several processes (xdist workers, or two runs
sharing one cache) read and write the same file safely. The key is `types.request_key` (endpoint
identity plus the full request, and the request's scope when it has one: a task file's identity), so an
answer is reused only for the same model, the same request and the same task definition.

Text is stored as JSON with every non-ASCII character escaped (`ensure_ascii`), so whatever the
server sent, a lone surrogate included, is kept exactly and read back exactly.

Leases: before a run asks the server for a request it takes a lease on the key (owner, host, pid,
expiry, renewed while the run lives). Another run sharing the cache that needs the same answer waits
for it instead of asking again, and takes the lease over when the owner died or let it expire. So
concurrent runs on one cache send each request once.

Every way the file can be unusable (garbage, truncated or corrupt pages, a read-only folder, a file
where the folder should be, a write lock held by another process) is a `StoreError` when the store
is opened: one line naming the file and the fixes, before any request is sent.
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from clue_checks.endpoint.store_types import (NO_CACHE, Answer, BadRow, Claim, Lease, NullStore, StoreError,
                                              completion_from_json, pid_alive)
from clue_checks.endpoint.types import Completion, EndpointIdentity, Request
from clue_checks.private_files import ignore_cache

__all__ = ["NO_CACHE", "Answer", "BadRow", "Claim", "Lease", "NullStore", "ResponseStore", "StoreError",
           "completion_from_json", "pid_alive"]

log = logging.getLogger(__name__)

# How long opening waits for another process's write lock before saying the store is locked.
LOCK_WAIT = 10.0
# During a run, writers from other processes hold the lock briefly; wait this long before a write fails.
BUSY_TIMEOUT = 60.0
# A lease lasts this long unless renewed; the owner renews its leases several times within it.
LEASE_SECONDS = 60.0

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS responses (
        key        TEXT PRIMARY KEY,
        endpoint   TEXT NOT NULL,
        request    TEXT NOT NULL,
        completion TEXT NOT NULL,
        created    REAL NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS leases (
        key     TEXT PRIMARY KEY,
        owner   TEXT NOT NULL,
        host    TEXT NOT NULL,
        pid     INTEGER NOT NULL,
        expires REAL NOT NULL
    )""",
)


def _kind_of(exc: BaseException) -> str:
    text = str(exc).lower()
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return "corrupt"
    if "locked" in text or "busy" in text:
        return "locked"
    return "unwritable"


def _stored_request(request: Request) -> dict[str, Any]:
    """The request as a person reading the store sees it: its canonical form, and its scope when it has one."""
    return {**request.canonical(), "scope": request.scope} if request.scope else request.canonical()


class ResponseStore:
    """The store at `path`; raises StoreError at once if it cannot be used.

    `replace_corrupt` (under --clue-refresh): a corrupt file is moved aside (kept as `<name>.corrupt-<time>`)
    and a new store started; `notes` says so."""

    def __init__(self, path: Path, *, lock_wait: float = LOCK_WAIT, replace_corrupt: bool = False,
                 lease_seconds: float = LEASE_SECONDS, busy_timeout: float = BUSY_TIMEOUT) -> None:
        self.path = Path(path)
        self.lease_seconds = lease_seconds
        self.busy_timeout = busy_timeout
        self.notes: list[str] = []
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._open(lock_wait, replace_corrupt)
        log.info("response store %s opened", self.path)

    # -- opening: every unusable file is one message ----------------------------------------------

    def _fail(self, what: str, fix: str) -> StoreError:
        return StoreError(f"The response store {self.path} cannot be used: {what}. {fix}")

    def _fixes(self, kind: str, lock_wait: float) -> str:
        if kind == "corrupt":
            return (f"Delete it to start a new store, rerun with --clue-refresh to replace it (the old file is kept "
                    f"beside it), or {NO_CACHE}.")
        if kind == "locked":
            return (f"Another process has held a write lock on it for over {lock_wait:g} s: let that run finish, "
                    f"give --clue-cache another folder, or {NO_CACHE}.")
        return f"Give --clue-cache a writable folder, fix the permissions of {self.path.parent}, or {NO_CACHE}."

    def _open(self, lock_wait: float, replace_corrupt: bool) -> None:
        folder = self.path.parent
        blocker = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)
        if blocker is not None:
            raise self._fail(f"{blocker} is a file where its folder should be",
                             f"Give --clue-cache a folder, move that file away, or {NO_CACHE}.")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self._fail(f"its folder cannot be created ({exc.strerror or exc})", self._fixes("unwritable", 0))
        ignore_cache(folder)  # prompts and answers: never staged by `git add -A`
        if self.path.is_dir():
            raise self._fail("it is a folder, not a file", f"Give --clue-cache another folder, or {NO_CACHE}.")
        try:
            self._check(lock_wait)
        except sqlite3.Error as exc:
            kind = _kind_of(exc)
            if kind == "corrupt" and replace_corrupt:
                self._move_aside()
                self._check(lock_wait)
                return
            self.close()
            what = {"corrupt": "it is not a readable SQLite database",
                    "locked": "it is locked by another process"}.get(kind, "it cannot be written")
            raise self._fail(f"{what} ({exc})", self._fixes(kind, lock_wait)) from None

    def _check(self, lock_wait: float) -> None:
        """Open, create the tables, check every page, and make sure we can take the write lock."""
        conn = self._connection(timeout=lock_wait)
        for statement in _SCHEMA:
            conn.execute(statement)
        result = conn.execute("PRAGMA quick_check").fetchall()  # ~0.1 s for 80 MB
        if result != [("ok",)]:
            raise sqlite3.DatabaseError("database disk image is malformed: " + "; ".join(str(r[0]) for r in result[:3]))
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")

    def _move_aside(self) -> None:
        self.close()
        stamp = time.strftime("%Y%m%d-%H%M%S")
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            source = Path(str(self.path) + suffix)
            if source.exists():
                source.replace(Path(str(aside) + suffix))
        self.notes.append(f"The response store {self.path} was corrupt: kept as {aside}, a new store started.")
        log.warning("response store %s was corrupt: kept as %s, a new store started", self.path, aside)

    def _connection(self, timeout: float | None = None) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout if timeout is None else timeout, isolation_level=None, check_same_thread=False)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
            except BaseException:
                conn.close()
                raise
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def _error(self, exc: BaseException, doing: str, key: str | None = None) -> StoreError:
        about = f" for request {key[:12]}" if key else ""
        log.error("response store %s: %s%s failed (%s: %s)", self.path, doing, about, type(exc).__name__, exc)
        return self._fail(f"{doing}{about} failed ({type(exc).__name__}: {exc})", self._fixes(_kind_of(exc), self.busy_timeout))

    # -- answers ----------------------------------------------------------------------------------

    def get(self, key: str) -> Completion | None:
        """The stored answer, None if absent. BadRow for a row that is not a completion; StoreError otherwise."""
        try:
            row = self._connection().execute("SELECT completion FROM responses WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as exc:
            raise self._error(exc, "reading the stored answer", key) from None
        if row is None:
            return None
        try:
            return completion_from_json(row[0])
        except (ValueError, TypeError) as exc:
            log.warning("response store %s: unreadable answer for request %s (%s): asked again", self.path, key[:12], exc)
            raise BadRow(f"The response store {self.path} holds an unreadable answer for request {key[:12]} "
                         f"({exc}): it is asked again and replaced") from None

    def put(self, key: str, identity: EndpointIdentity, request: Request, completion: Completion,
            lease: Lease | None = None) -> None:
        """Store the answer (and hand back our lease on the key) in one transaction. Raises StoreError."""
        self.put_many([Answer(key, identity, request, completion)], lease)

    def put_many(self, answers: Sequence[Answer], lease: Lease | None = None) -> None:
        """Store answers that arrived together (and hand back their leases) in one transaction."""
        if not answers:
            return
        try:
            now = time.time()
            rows = [(a.key, json.dumps(a.identity.as_dict(), sort_keys=True),
                     json.dumps(_stored_request(a.request), sort_keys=True), json.dumps(a.completion.as_dict()), now)
                    for a in answers]
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany("INSERT OR REPLACE INTO responses (key, endpoint, request, completion, created) "
                                 "VALUES (?, ?, ?, ?, ?)", rows)
                if lease is not None:
                    conn.executemany("DELETE FROM leases WHERE key = ? AND owner = ?",
                                     [(a.key, lease.owner) for a in answers])
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except (sqlite3.Error, ValueError, OSError) as exc:
            raise self._error(exc, "storing the answer", answers[0].key if len(answers) == 1 else None) from None

    def __len__(self) -> int:
        return int(self._connection().execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    # -- leases -----------------------------------------------------------------------------------

    def _holder(self, row: Any, lease: Lease, now: float) -> str | None:
        """Who holds the lease in `row`, if it is held by another run that is still alive."""
        if row is None or row[0] == lease.owner or row[3] <= now:
            return None
        if row[1] == lease.host and not pid_alive(row[2]):
            return None  # its process died (kill -9, a crashed worker): the lease is void
        return f"pid {row[2]} on {row[1]}"

    def _stored(self, conn: sqlite3.Connection, key: str, since: float) -> Completion | None:
        row = conn.execute("SELECT completion, created FROM responses WHERE key = ?", (key,)).fetchone()
        if row is None or row[1] < since:
            return None
        try:
            return completion_from_json(row[0])
        except (ValueError, TypeError):  # reported by get(); here it is just not an answer
            return None

    def claim(self, key: str, lease: Lease, *, since: float = -math.inf) -> Claim:
        """Take the lease on `key` unless it is answered (stored at or after `since`) or held by a live run."""
        return self.claim_many([key], lease, since=since)[0]

    def claim_many(self, keys: Sequence[str], lease: Lease, *, since: float = -math.inf) -> list[Claim]:
        """`claim` for keys asked for together, in one transaction."""
        now = time.time()
        claims: list[Claim] = []
        try:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                for key in keys:
                    stored = self._stored(conn, key, since)
                    if stored is not None:
                        claims.append(Claim(completion=stored))
                        continue
                    row = conn.execute("SELECT owner, host, pid, expires FROM leases WHERE key = ?", (key,)).fetchone()
                    holder = self._holder(row, lease, now)
                    if holder is None:
                        conn.execute("INSERT OR REPLACE INTO leases (key, owner, host, pid, expires) "
                                     "VALUES (?, ?, ?, ?, ?)", (key, lease.owner, lease.host, lease.pid,
                                                                now + self.lease_seconds))
                    claims.append(Claim(holder=holder))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise self._error(exc, "taking the lease", keys[0] if len(keys) == 1 else None) from None
        return claims

    def peek(self, key: str, lease: Lease, *, since: float = -math.inf) -> Claim | None:
        """Without writing: the answer if stored, who holds the lease if alive, or None (free to claim)."""
        now = time.time()
        try:
            conn = self._connection()
            stored = self._stored(conn, key, since)
            if stored is not None:
                return Claim(completion=stored)
            row = conn.execute("SELECT owner, host, pid, expires FROM leases WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as exc:
            raise self._error(exc, "reading the lease", key) from None
        holder = self._holder(row, lease, now)
        return None if holder is None else Claim(holder=holder)

    def release(self, key: str, lease: Lease) -> None:
        self._write("DELETE FROM leases WHERE key = ? AND owner = ?", (key, lease.owner), "handing back the lease")

    def renew(self, lease: Lease) -> None:
        """Extend every lease this owner holds (called several times per lease period while it runs)."""
        self._write("UPDATE leases SET expires = ? WHERE owner = ?", (time.time() + self.lease_seconds, lease.owner),
                    "renewing the leases")

    def release_all(self, lease: Lease) -> None:
        self._write("DELETE FROM leases WHERE owner = ?", (lease.owner,), "handing back the leases")

    def _write(self, sql: str, args: tuple[Any, ...], doing: str) -> None:
        try:
            self._connection().execute(sql, args)
        except sqlite3.Error as exc:
            raise self._error(exc, doing) from None

    def close(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            try:
                conn.close()
            except sqlite3.Error:
                pass
        self._local = threading.local()
