"""What a response store deals in: leases, claims, answers, its errors, and the store that keeps nothing.

`store.ResponseStore` keeps answers in SQLite; `NullStore` (`--clue-no-cache`) reads and keeps none. Both
answer the scheduler in these types.
"""

from __future__ import annotations

import json
import math
import os
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from clue_checks.endpoint.types import Completion, EndpointIdentity, Request
from clue_checks.errors import StoreError

NO_CACHE = "run with --clue-no-cache"


class BadRow(StoreError):
    """One stored answer cannot be read back (not JSON, not a completion): it is a miss, asked again."""


@dataclass(frozen=True)
class Lease:
    """Who is asking the server for a key: one per scheduler (a run, or an xdist worker)."""

    owner: str
    host: str
    pid: int

    @classmethod
    def mine(cls) -> Lease:
        return cls(uuid.uuid4().hex, socket.gethostname(), os.getpid())


@dataclass(frozen=True)
class Answer:
    """One answer to store: its key, and what it answers (kept beside it for people reading the store)."""

    key: str
    identity: EndpointIdentity
    request: Request
    completion: Completion


@dataclass(frozen=True)
class Claim:
    """The answer to "may I ask for this key?": already answered, held by another live run, or yes."""

    completion: Completion | None = None
    holder: str | None = None  # "pid 123 on host h": another run is asking for it now

    @property
    def acquired(self) -> bool:
        return self.completion is None and self.holder is None


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine (signal 0 only asks)."""
    if os.name == "nt":  # os.kill(pid, 0) would terminate it on Windows: rely on lease expiry there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, under another user
        return True
    return True


def completion_from_json(text: str) -> Completion:
    """A stored completion; ValueError when the row is not one (bad JSON, wrong shape or types)."""
    data = json.loads(text)
    if not isinstance(data, dict) or not isinstance(data.get("text"), str):
        raise ValueError("no text")
    for name, types in (("finish_reason", (str,)), ("generated_tokens", (int,)), ("prompt_tokens", (int,)),
                        ("latency_s", (int, float))):
        value = data.get(name)
        if value is not None and (not isinstance(value, types) or isinstance(value, bool)):
            raise ValueError(f"{name} is {type(value).__name__}")
    return Completion.from_dict(data)


class NullStore:
    """`--clue-no-cache`: nothing is read or kept, every claim is granted."""

    path = None
    notes: tuple[str, ...] = ()

    def get(self, key: str) -> Completion | None:
        return None

    def put(self, key: str, identity: EndpointIdentity, request: Request, completion: Completion,
            lease: Lease | None = None) -> None:
        self.put_many([Answer(key, identity, request, completion)], lease)

    def put_many(self, answers: Sequence[Answer], lease: Lease | None = None) -> None:
        return None

    def claim(self, key: str, lease: Lease, *, since: float = -math.inf) -> Claim:
        return self.claim_many([key], lease, since=since)[0]

    def claim_many(self, keys: Sequence[str], lease: Lease, *, since: float = -math.inf) -> list[Claim]:
        return [Claim() for _ in keys]

    def peek(self, key: str, lease: Lease, *, since: float = -math.inf) -> Claim | None:
        return None

    def release(self, key: str, lease: Lease) -> None:
        return None

    def renew(self, lease: Lease) -> None:
        return None

    def release_all(self, lease: Lease) -> None:
        return None

    def close(self) -> None:
        return None
