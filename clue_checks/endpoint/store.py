"""Durable response store: every completion is written the moment it arrives.

SQLite in WAL mode, one connection per thread, so several xdist worker processes can
read and write the same file safely. The key is `types.request_key` (endpoint identity
plus the full request), so a response is reused only for the same model and the same
request, never across models.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

from .types import Completion, EndpointIdentity, Request, request_key

class StoreError(Exception):
    """The response store cannot be used (unreadable, corrupt, locked, read-only): the message names the
    file and the fixes (--refresh, --no-cache, or deleting the file)."""


_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key        TEXT PRIMARY KEY,
    endpoint   TEXT NOT NULL,
    request    TEXT NOT NULL,
    completion TEXT NOT NULL,
    created    REAL NOT NULL
)
"""


class ResponseStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._connection() as conn:
            conn.execute(_SCHEMA)

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            # A long busy timeout: writers from other worker processes hold the lock briefly.
            conn = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def get(self, identity: EndpointIdentity, request: Request) -> Completion | None:
        row = self._connection().execute(
            "SELECT completion FROM responses WHERE key = ?", (request_key(identity, request),)
        ).fetchone()
        return None if row is None else Completion.from_dict(json.loads(row[0]))

    def put(self, identity: EndpointIdentity, request: Request, completion: Completion) -> None:
        self._connection().execute(
            "INSERT OR REPLACE INTO responses (key, endpoint, request, completion, created) VALUES (?, ?, ?, ?, ?)",
            (
                request_key(identity, request),
                json.dumps(identity.as_dict(), sort_keys=True),
                json.dumps(request.canonical(), sort_keys=True, ensure_ascii=False),
                json.dumps(completion.as_dict(), ensure_ascii=False),
                time.time(),
            ),
        )

    def __len__(self) -> int:
        return int(self._connection().execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


class NullStore:
    """`--no-cache`: nothing is read or kept."""

    def get(self, identity: EndpointIdentity, request: Request) -> Completion | None:
        return None

    def put(self, identity: EndpointIdentity, request: Request, completion: Completion) -> None:
        return None

    def close(self) -> None:
        return None
