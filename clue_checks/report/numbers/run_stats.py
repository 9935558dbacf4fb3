"""How the run went, beside the scores: duration, throughput, latency, effective concurrency, store problems.

The numbers come from two places: the scheduler's `stats()` of each process that sent requests
(summed over xdist workers by `merge_stats`), and the sample records (latency and output tokens of
each answer). Only answers sent in this run count towards latency and throughput: an answer read
from the store carries the latency of the run that asked for it, and a sample sharing another's
identical request adds no inference. Both are counted and named, never mixed in.

    stats = merge_stats([worker_a_stats, worker_b_stats])
    section = performance(records, stats, duration_s=12.5)  # -> report["performance"]
    store = store_section(stats)                              # -> report["store"]
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from clue_checks.record import SampleRecord

STORE_MESSAGES_SHOWN = 50
_SUMMED_CONCURRENCY = ("start", "ceiling", "min", "max", "final", "peak_in_flight", "decreases")


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation between order statistics (numpy's default)."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def merge_stats(parts: Iterable[Mapping[str, Any] | None]) -> dict[str, Any] | None:
    """The request statistics of several processes (xdist workers) as one run's: counts summed, store
    problems concatenated, the in-flight limits summed (each worker has its share of the server's slots)."""
    parts = [p for p in parts if p]
    if not parts:
        return None
    if len(parts) == 1:
        return dict(parts[0])
    out: dict[str, Any] = {}
    for key in {k for p in parts for k, v in p.items() if isinstance(v, int) and not isinstance(v, bool)}:
        out[key] = sum(int(p.get(key) or 0) for p in parts)
    stores = [p.get("store") or {} for p in parts]
    out["store"] = {
        "path": next((s.get("path") for s in stores if s.get("path")), None),
        "bad_rows": sum(int(s.get("bad_rows") or 0) for s in stores),
        "errors": sum(int(s.get("errors") or 0) for s in stores),
        "messages": [m for s in stores for m in s.get("messages") or ()][:STORE_MESSAGES_SHOWN],
        "notes": list(dict.fromkeys(n for s in stores for n in s.get("notes") or ())),
    }
    limits = [p["concurrency"] for p in parts if p.get("concurrency")]
    if limits:
        concurrency: dict[str, Any] = {k: sum(int(c.get(k) or 0) for c in limits) for k in _SUMMED_CONCURRENCY}
        concurrency["source"] = limits[0].get("source")
        concurrency["processes"] = len(limits)  # each value is the sum over these processes' own limits
        out["concurrency"] = concurrency
    else:
        out["concurrency"] = None
    out["replicas"] = parts[0].get("replicas") or []
    out["replica_events"] = [e for p in parts for e in p.get("replica_events") or ()]
    out["stopped"] = next((p.get("stopped") for p in parts if p.get("stopped")), None)
    return out


def stats_of_report(performance: Mapping[str, Any] | None, store: Mapping[str, Any] | None,
                    requests: Mapping[str, int] | None) -> dict[str, Any] | None:
    """The request statistics a written report still holds (its `performance`, `store` and `requests`), in
    the scheduler's shape, so the statistics of several shards merge (`merge_stats`) as workers' do."""
    if not performance:
        return None
    out: dict[str, Any] = {k: performance.get(k) for k in ("tries", "retries", "not_sent", "rerouted",
                                                            "from_other_runs", "stopped")}
    out = {k: v for k, v in out.items() if v is not None}
    if requests and "sent" in requests:
        out["sent"] = int(requests["sent"])
    out["concurrency"] = performance.get("concurrency")
    out["replicas"] = list(performance.get("replicas") or ())
    out["replica_events"] = list(performance.get("replica_events") or ())
    if store:
        out["store"] = dict(store)
    return out


def _latency(records: Sequence[SampleRecord]) -> dict[str, Any]:
    sent = [r for r in records if r.source == "sent"]
    timed = [float(r.latency_s) for r in sent if r.latency_s is not None]
    not_inferred = {"from_store": sum(r.source == "store" for r in records),
                    "shared": sum(r.source == "shared" for r in records)}
    if not timed:
        why = ("no answer was sent in this run (answers from the store carry an earlier run's latency)"
               if not sent else "the server's answers carried no timing")
        return {"n": 0, "p50_s": None, "p95_s": None, "not_computed": why, "excluded": not_inferred}
    return {"n": len(timed), "p50_s": round(percentile(timed, 50), 4), "p95_s": round(percentile(timed, 95), 4),
            "mean_s": round(sum(timed) / len(timed), 4), "excluded": not_inferred}


def performance(records: Mapping[str, Sequence[SampleRecord]], stats: Mapping[str, Any] | None,
                duration_s: float) -> dict[str, Any]:
    """The report's `performance` section (latency per task over the answers sent in this run)."""
    all_records = [r for rows in records.values() for r in rows]
    sent = [r for r in all_records if r.source == "sent"]
    tokens = [r.tokens_out for r in sent if r.tokens_out is not None]
    stats = stats or {}
    requests_sent = int(stats.get("sent", len(sent)))
    section: dict[str, Any] = {
        "duration_s": round(duration_s, 3),
        "throughput": {
            "basis": "answers sent in this run, over the whole run's duration (start to report)",
            "requests_per_s": round(requests_sent / duration_s, 3) if duration_s > 0 else None,
            "output_tokens": sum(tokens) if tokens else None,
            "output_tokens_per_s": (round(sum(tokens) / duration_s, 1) if tokens and duration_s > 0 else None),
        },
        "latency": {task: _latency(rows) for task, rows in records.items()},
        "latency_basis": "per answer sent in this run: wall time of the try that answered; p50/p95 by linear "
                         "interpolation; answers from the store or shared with another sample are excluded",
        "concurrency": stats.get("concurrency"),
        "tries": stats.get("tries"),
        "retries": stats.get("retries"),
        "not_sent": stats.get("not_sent"),
        "rerouted": stats.get("rerouted"),
        "from_other_runs": stats.get("from_other_runs"),
        "replicas": stats.get("replicas"),
        "replica_events": list(stats.get("replica_events") or ()),
        "stopped": stats.get("stopped"),
    }
    if tokens and len(tokens) < len(sent):
        section["throughput"]["output_tokens_note"] = f"{len(sent) - len(tokens)} answers carried no token count"
    elif sent and not tokens:
        section["throughput"]["output_tokens_not_computed"] = "the server's answers carried no token counts"
    return section


def store_section(stats: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The report's `store` section: rows that could not be read back (asked again), writes that failed."""
    if not stats or not stats.get("store"):
        return None
    return dict(stats["store"])


def summary_line(section: Mapping[str, Any]) -> str:
    """One terminal line: `run: 12.4 s · 3.1 req/s · 410 output tok/s · latency p50 0.52 s, p95 1.9 s · ...`."""
    parts = [f"run: {section['duration_s']:.1f} s"]
    throughput = section["throughput"]
    if throughput.get("requests_per_s") is not None:
        parts.append(f"{throughput['requests_per_s']:.1f} req/s")
    if throughput.get("output_tokens_per_s") is not None:
        parts.append(f"{throughput['output_tokens_per_s']:,.0f} output tok/s")
    timed = [(t, lat) for t, lat in section["latency"].items() if lat.get("n")]
    if timed:
        parts.append("latency " + "; ".join(f"{t} p50 {lat['p50_s']:.2f} s, p95 {lat['p95_s']:.2f} s"
                                            for t, lat in timed))
    concurrency = section.get("concurrency")
    if concurrency:
        # Under xdist each value is summed over the workers: their peaks need not have coincided.
        processes = int(concurrency.get("processes") or 1)
        peak = (f"peak in flight {concurrency.get('peak_in_flight')}" if processes == 1 else
                f"peak in flight at most {concurrency.get('peak_in_flight')} (the sum of {processes} workers' peaks)")
        parts.append(f"concurrency {concurrency.get('final')} (start {concurrency.get('start')}, "
                     f"{peak}, {concurrency.get('decreases')} decreases)")
    if section.get("retries"):
        parts.append(f"{section['retries']} retries")
    if section.get("rerouted"):
        parts.append(f"{section['rerouted']} rerouted")
    return " · ".join(parts)


def warning_lines(section: Mapping[str, Any], store: Mapping[str, Any] | None) -> list[str]:
    """What the reader must not miss: store problems, a stopped run, replicas taken out."""
    lines = []
    if store:
        if store.get("bad_rows"):
            lines.append(f"store: {store['bad_rows']} stored answers could not be read back and were asked again "
                         f"({store.get('path')})")
        failed = int(store.get("errors") or 0) - int(store.get("bad_rows") or 0)  # `errors` counts both
        if failed > 0:
            others = [m for m in store.get("messages") or () if "unreadable answer" not in m]
            lines.append(f"store: {failed} store operations failed; answers not stored will be asked again next "
                         f"run. First: {(others or ['(no message kept)'])[0]}")
        lines += [f"store: {note}" for note in store.get("notes") or ()]
    if section.get("stopped"):
        lines.append(f"stopped: {section['stopped']}")
    lines += [f"replica: {event}" for event in section.get("replica_events") or ()]
    return lines


def markdown_lines(section: Mapping[str, Any], store: Mapping[str, Any] | None) -> list[str]:
    lines = ["", "## Run statistics", "", f"- {summary_line(section)}"]
    lines += [f"- **{line}**" for line in warning_lines(section, store)]
    rows = [(t, lat) for t, lat in section["latency"].items()]
    if rows:
        lines += ["", "| task | answers timed | p50 s | p95 s | not timed (store / shared) |", "|---|---|---|---|---|"]
        for task, lat in rows:
            excluded = lat.get("excluded") or {}
            p50 = f"{lat['p50_s']:.3f}" if lat.get("p50_s") is not None else "not computed"
            p95 = f"{lat['p95_s']:.3f}" if lat.get("p95_s") is not None else "not computed"
            lines.append(f"| {task} | {lat.get('n', 0)} | {p50} | {p95} | "
                         f"{excluded.get('from_store', 0)} / {excluded.get('shared', 0)} |")
        lines += ["", f"Latency: {section['latency_basis']}."]
    return lines
