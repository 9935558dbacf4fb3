"""HTTP transports side by side: the client's CPU per request and the throughput, same requests, same server.

The requests are the six CLUE tasks' chat bodies as the framework renders them (fixture data, "paper"
profile, rendered against the embedded baseline server), replayed in turn against `sim_server.py` in its
own process (its CPU is not the client's). Each transport sends `--requests` of them with `--concurrency`
in flight on one asyncio loop in this process; its CPU is `time.process_time()` around the run (the
process does nothing else meanwhile; the loop runs on this thread). Rounds rotate the order of the
transports so drift in the machine's load is spread over all of them; each cell is the median of the
rounds with the min-max spread.

Rows: the library alone (`post` of prepared bytes), then the whole `EndpointClient.complete` path
(body built, retries, gate, parsing) on each transport the client can use. Before timing, one request
per transport goes to a recording socket server: the table of wire bytes says what each sends.

    PYTHONPATH=. python bench/bench_transports.py [--rounds 5] [--requests 1000] [--concurrency 128]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sim_server import SimServer  # noqa: E402
from transport_rows import LIBRARY_ROWS, WIRE_ROWS, client_rows, record_wire, task_requests  # noqa: E402

Row = Callable[[str, Sequence[Any], int], Awaitable[int]]


def _round(row: Row, url: str, items: Sequence[Any], concurrency: int) -> tuple[float, float, int]:
    cpu0, wall0 = time.process_time(), time.perf_counter()
    answered = asyncio.run(row(url, items, concurrency))
    return time.process_time() - cpu0, time.perf_counter() - wall0, answered


def _cell(values: Sequence[float], fmt: str) -> str:
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}–{max(values):{fmt}})"


def measure(rows: dict[str, tuple[Row, Sequence[Any]]], url: str, rounds: int, concurrency: int,
            n: int) -> list[str]:
    names = list(rows)
    cpu: dict[str, list[float]] = {name: [] for name in names}
    rate: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            row, items = rows[name]
            spent, wall, answered = _round(row, url, items, concurrency)
            if answered != n:
                raise SystemExit(f"{name}: {answered} of {n} answered")
            cpu[name].append(spent / n * 1e3)
            rate[name].append(n / wall)
        print(f"round {r + 1}/{rounds} done", file=sys.stderr, flush=True)
    lines = ["| transport | client CPU per request, ms: median (min–max) | requests/s: median (min–max) |",
             "|---|---:|---:|"]
    lines += [f"| {name} | {_cell(cpu[name], '.3f')} | {_cell(rate[name], '.0f')} |" for name in names]
    return lines


def wire_table(bodies: Sequence[bytes]) -> list[str]:
    """One request per transport to a recording server: body bytes and headers as sent."""
    seen = asyncio.run(record_wire(WIRE_ROWS, bodies[0]))
    reference = seen[next(iter(WIRE_ROWS))]
    lines = ["| transport | body SHA-256 (first 12) | same body as httpx2 | headers sent (in order) |",
             "|---|---|---|---|"]
    for name, (headers, body) in seen.items():
        shown = "; ".join(f"{k}: {v}" for k, v in headers)
        lines.append(f"| {name} | {hashlib.sha256(body).hexdigest()[:12]} | {body == reference[1]} | {shown} |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=128)
    parser.add_argument("--step-base", type=float, default=0.002,
                        help="the simulator's seconds per decode step (small: the client, not the server, bounds it)")
    args = parser.parse_args()
    requests, bodies = task_requests()
    print(f"{len(bodies)} distinct request bodies from the six tasks; {args.requests} sent per run, "
          f"{args.concurrency} in flight, {args.rounds} rounds\n")
    print("\n".join(wire_table(bodies)) + "\n")
    cycle_bodies = list(itertools.islice(itertools.cycle(bodies), args.requests))
    cycle_requests = list(itertools.islice(itertools.cycle(requests), args.requests))
    rows: dict[str, tuple[Row, Sequence[Any]]] = {name: (row, cycle_bodies) for name, row in LIBRARY_ROWS.items()}
    rows |= {name: (row, cycle_requests) for name, row in client_rows().items()}
    with SimServer(slots=args.concurrency, step_base=args.step_base, step_per_seq=0.0, min_tokens=8,
                   max_tokens=64) as server:
        asyncio.run(_warm(server.url))
        print("\n".join(measure(rows, server.url, args.rounds, args.concurrency, args.requests)))
    return 0


async def _warm(url: str) -> None:
    async with httpx2.AsyncClient(base_url=url) as client:
        (await client.get("/health")).raise_for_status()


if __name__ == "__main__":
    raise SystemExit(main())
