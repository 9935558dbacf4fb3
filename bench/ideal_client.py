"""The minimal ideal client: N prepared requests, C in flight, nothing else.

The yardstick the framework is measured against: it sends exactly the request bodies the
framework sent (replayed from the simulator's record, already JSON-encoded), keeps C of them in
flight on one asyncio loop with httpx2 (the HTTP library clue-checks itself uses, so the
difference is the framework, not the library), reads each answer's text, and does nothing else:
no prompts to build, no store, no scoring, no report. A 429 is retried after a short pause (none
are expected: C never exceeds the server's slots).

It runs in the caller's process, so the caller measures its CPU with `time.process_time()`:

    result = run_ideal(url, bodies, concurrency=128)   # -> IdealResult(wall_s, cpu_s, answered, retries_429)

or from the shell, replaying a record written by `sim_server.py`:

    python bench/ideal_client.py http://127.0.0.1:PORT bodies.jsonl --clue-concurrency 128
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx2


@dataclass(frozen=True)
class IdealResult:
    wall_s: float
    cpu_s: float  # this process's user+sys CPU during the run
    answered: int
    retries_429: int
    output_chars: int


async def _send_all(url: str, bodies: Sequence[bytes], concurrency: int) -> tuple[int, int, int]:
    queue = iter(bodies)  # workers pull from one iterator: C coroutines, not N tasks
    answered = retries = chars = 0
    limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"content-type": "application/json"}
    async with httpx2.AsyncClient(base_url=url, timeout=600.0,
                                  transport=httpx2.AsyncHTTPTransport(limits=limits)) as client:

        async def worker() -> None:
            nonlocal answered, retries, chars
            for body in queue:
                while True:
                    response = await client.post("/v1/chat/completions", content=body, headers=headers)
                    if response.status_code != 429:
                        break
                    retries += 1
                    await asyncio.sleep(0.05)
                response.raise_for_status()
                chars += len(json.loads(response.content)["choices"][0]["message"]["content"])
                answered += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return answered, retries, chars


def run_ideal(url: str, bodies: Sequence[bytes], concurrency: int) -> IdealResult:
    cpu0, wall0 = time.process_time(), time.perf_counter()
    answered, retries, chars = asyncio.run(_send_all(url, bodies, concurrency))
    return IdealResult(time.perf_counter() - wall0, time.process_time() - cpu0, answered, retries, chars)


def load_bodies(path: Path) -> list[bytes]:
    """A record of chat bodies (one JSON object a line), each once, in the order first sent."""
    seen: dict[bytes, None] = {}
    for line in path.read_bytes().splitlines():
        if line.strip():
            seen.setdefault(line.strip(), None)
    return list(seen)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("bodies", type=Path, help="JSON lines of chat bodies (sim_server.py's record)")
    parser.add_argument("--concurrency", type=int, default=128)
    args = parser.parse_args()
    result = run_ideal(args.url, load_bodies(args.bodies), args.concurrency)
    print(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
