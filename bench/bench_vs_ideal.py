"""clue-checks against the ideal client (and lm-evaluation-harness) on a simulated GPU server.

For each slot limit (default 128 and 16) one simulated continuous-batching server is started in
its own process (`sim_server.py`, advertising the limit in TGI's /info). One untimed warm-up run
of the real suite records the request bodies the framework sends; then, `--reps` times, in
alternation (the order rotates each round):

- the ideal client (`ideal_client.py`) replays exactly those bodies, C = slots in flight, in
  *this* process;
- the real suite, as a user runs it, as a subprocess:
  `pytest tests_clinical/test_meqsum.py --model-endpoint=URL --clue-tasks=meqsum --clue-data=DATA
  --clue-no-cache --clue-report-dir=DIR -q`, default and with `-n 2`;
- pytest alone, the same interpreter on one parametrized no-op test with as many cases as samples
  (`pytest test_floor.py -q`, no CLUE): the CPU any one-test-per-sample run pays, printed under
  each table beside what clue-checks costs beyond it and the ideal client.

Printed per client: median wall time, its ratio to the ideal client's median, the CPU it used
(user+sys of the pytest process and its xdist workers, from os.wait4; the ideal client's from
time.process_time()), the framework's CPU per sample = (pytest CPU - ideal CPU) / samples, the
time from process start to the first generation request at the server, and from the last answer
to the process's exit. The server's counters check that every client asked for the same work
(answered requests, generated tokens) and count its 429s.

lm-evaluation-harness (`lmeval_peer.py`, installed into bench/.venv-lmeval on first use) runs the
same requests: at each `--lmeval-concurrency` value once, then its best twice more (median of 3);
and at its default num_concurrent=1 once at the first slot limit - on a prefix of the prompts,
extrapolated, when the whole run would exceed `--lmeval-seq-budget` seconds (the output says so).

    python bench/bench_vs_ideal.py                       # ~13 minutes on 2 cores
    python bench/bench_vs_ideal.py --slots 128 --reps 1 --no-lmeval     # a quick look
    python bench/bench_vs_ideal.py --repo ../other-checkout     # measure another checkout

Not a test: timing claims live here and in bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import ideal_client
import lmeval_peer
import meqsum_synth
from _harness import add_repo_argument, median, meqsum_suite, prepare, suite_env, timed
from sim_server import SimServer


@dataclass
class Run:
    wall_s: float
    cpu_s: float
    answered: int
    tokens_out: int
    rejected_429: int
    to_first_request_s: float | None = None
    after_last_answer_s: float | None = None
    ok: bool = True
    note: str = ""


FLOOR = "pytest alone"


@dataclass
class Row:
    client: str
    runs: list[Run] = field(default_factory=list)

    def ok_runs(self) -> list[Run]:
        return [r for r in self.runs if r.ok]

    def med(self, name: str) -> float | None:
        values = [getattr(r, name) for r in self.ok_runs() if getattr(r, name) is not None]
        return median(values) if values else None


def server_run(server: SimServer, timed_result, ok: bool = True, note: str = "") -> Run:
    s = server.stats()
    first = s["first_generation_wall"]
    last = s["last_response_wall"]
    return Run(timed_result.wall_s, timed_result.cpu_s, s["completed"], s["tokens_out"], s["rejected_429"],
               None if first is None else first - timed_result.started_wall,
               None if last is None else timed_result.ended_wall - last, ok, note)


class Bench:
    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args = args
        self.tmp = tmp
        self.data = tmp / "data"
        self.rows = meqsum_synth.rows(args.samples + 3)
        meqsum_synth.write(self.data, args.samples + 3)
        self.env = suite_env(args.repo)
        self.counter = 0

    def suite(self, server: SimServer, extra: list[str], record: Path | None = None) -> Run:
        self.counter += 1
        report = self.tmp / f"report-{self.counter}"
        log = self.tmp / f"pytest-{self.counter}.log"
        cmd = meqsum_suite(self.args.python, server.url, self.data, report, *extra)
        server.reset(record)
        result = timed(cmd, cwd=self.args.repo, env=self.env, log=log)
        run = server_run(server, result)
        summary = log.read_text().strip().splitlines()[-1:] or ["(no output)"]
        report_file = report / "clue-report.json"
        sent = json.loads(report_file.read_text()).get("requests", {}).get("sent") if report_file.exists() else None
        if result.returncode not in (0, 1) or run.answered != self.args.samples:
            run.ok = False
            run.note = f"exit {result.returncode}, {run.answered} answered, report sent={sent}: {summary[0]} (log {log})"
        return run

    def pytest_floor(self) -> Run:
        """pytest alone: as many parametrized no-op tests as samples, same interpreter and flags, no CLUE."""
        folder = self.tmp / "pytest-floor"
        if not folder.exists():
            folder.mkdir()
            (folder / "pytest.ini").write_text("[pytest]\n")  # the root, so no outer configuration is found
            (folder / "test_floor.py").write_text(
                f"import pytest\n\n\n@pytest.mark.parametrize('i', range({self.args.samples}))\n"
                "def test_nothing(i):\n    pass\n")
        result = timed([self.args.python, "-m", "pytest", "test_floor.py", "-q"], cwd=folder, env=self.env)
        return Run(result.wall_s, result.cpu_s, 0, 0, 0, ok=result.returncode == 0,
                   note="" if result.returncode == 0 else f"exit {result.returncode}")

    def ideal(self, server: SimServer, bodies: list[bytes], concurrency: int) -> Run:
        server.reset()
        started_wall = time.time()
        result = ideal_client.run_ideal(server.url, bodies, concurrency)
        s = server.stats()
        return Run(result.wall_s, result.cpu_s, result.answered, s["tokens_out"], s["rejected_429"],
                   s["first_generation_wall"] - started_wall, time.time() - s["last_response_wall"],
                   result.answered == len(bodies))

    def lmeval(self, server: SimServer, exe: Path, task_dir: Path, system: str, concurrency: int,
               limit: int | None = None) -> Run:
        self.counter += 1
        log = self.tmp / f"lmeval-{self.counter}.log"
        server.reset()
        result = lmeval_peer.run(exe, server.url, server.stats()["config"]["model"], task_dir, system,
                                 self.tmp / f"lmeval-out-{self.counter}", num_concurrent=concurrency, limit=limit,
                                 log=log, home=self.tmp / "lmeval-hf-home")
        run = server_run(server, result)
        wanted = limit or self.args.samples
        if result.returncode != 0 or run.answered < wanted:
            run.ok = False
            run.note = f"crashed: exit {result.returncode}, {run.answered} of {wanted} answered (log {log})"
        return run

    # -- one slot limit ------------------------------------------------------------------------

    def at_slots(self, slots: int, first: bool) -> dict[str, Any]:
        a = self.args
        with SimServer(slots=slots, advertise="tgi") as server:
            record = self.tmp / f"bodies-{slots}.jsonl"
            warm = self.suite(server, [], record)
            if not warm.ok:
                raise SystemExit(f"warm-up run failed: {warm.note}")
            bodies = ideal_client.load_bodies(record)
            assert len(bodies) == a.samples, f"recorded {len(bodies)} distinct bodies, expected {a.samples}"
            clients = [("ideal client", lambda: self.ideal(server, bodies, slots)),
                       ("clue-checks, default", lambda: self.suite(server, [])),
                       ("clue-checks, -n 2", lambda: self.suite(server, ["-n", "2"])),
                       (FLOOR, self.pytest_floor)]
            rows = {name: Row(name) for name, _ in clients}
            for rep in range(a.reps):
                order = clients[rep % len(clients):] + clients[:rep % len(clients)]
                for name, go in order:
                    run = go()
                    rows[name].runs.append(run)
                    print(f"  slots={slots} rep {rep + 1} {name}: {run.wall_s:.2f} s, cpu {run.cpu_s:.2f} s"
                          f"{'' if run.ok else '  FAILED ' + run.note}", flush=True)
            if a.lmeval:
                rows.update(self.lmeval_rows(server, slots, bodies, first))
        return {"slots": slots, "rows": rows}

    def lmeval_rows(self, server: SimServer, slots: int, bodies: list[bytes], first: bool) -> dict[str, Row]:
        a = self.args
        exe = lmeval_peer.ensure_installed(a.python)
        task_dir = self.tmp / f"lmeval-task-{slots}"
        references = {f"--------------PATIENT INQUIRY--------------\n{chq}\n--------------END PATIENT INQUIRY--------------":
                      summary for _, chq, summary in self.rows}
        system = lmeval_peer.write_task(task_dir, bodies, references)
        self.lmeval(server, exe, task_dir, system, 16, limit=16)  # warm-up: datasets cache, bytecode
        rows: dict[str, Row] = {}
        probes = {}
        for k in a.lmeval_concurrency:
            run = self.lmeval(server, exe, task_dir, system, k)
            probes[k] = run
            name = f"lm-eval, num_concurrent={k}"
            rows[name] = Row(name, [run])
            print(f"  slots={slots} {name}: {run.wall_s:.2f} s{'' if run.ok else '  ' + run.note}", flush=True)
        good = {k: r for k, r in probes.items() if r.ok}
        if good:
            best = min(good, key=lambda k: good[k].wall_s)
            name = f"lm-eval, num_concurrent={best}"
            for _ in range(2):
                rows[name].runs.append(self.lmeval(server, exe, task_dir, system, best))
            rows[f"{name} (its best)"] = rows.pop(name)
        if first:
            rows.update(self.lmeval_sequential(server, exe, task_dir, system))
        return rows

    def lmeval_sequential(self, server: SimServer, exe: Path, task_dir: Path, system: str) -> dict[str, Row]:
        a = self.args
        prefix = min(a.lmeval_seq_prefix, a.samples)
        probe = self.lmeval(server, exe, task_dir, system, 1, limit=prefix)
        # Start-up is paid once: extrapolate the per-request part only.
        fixed = probe.to_first_request_s or 0.0
        estimate = fixed + (probe.wall_s - fixed) * a.samples / prefix
        if estimate <= a.lmeval_seq_budget and prefix < a.samples:
            run = self.lmeval(server, exe, task_dir, system, 1)
            name = "lm-eval, default num_concurrent=1"
        else:
            run = Run(estimate, float("nan"), probe.answered, probe.tokens_out, probe.rejected_429,
                      probe.to_first_request_s, probe.after_last_answer_s, probe.ok,
                      f"EXTRAPOLATED from the first {prefix} prompts ({probe.wall_s:.1f} s measured): "
                      f"the whole run would take about {estimate:.0f} s > --lmeval-seq-budget {a.lmeval_seq_budget:.0f} s")
            name = f"lm-eval, default num_concurrent=1 (extrapolated from {prefix} prompts)"
        print(f"  {name}: {run.wall_s:.1f} s {run.note}", flush=True)
        return {name: Row(name, [run])}


def table(result: dict[str, Any], samples: int) -> list[str]:
    rows: dict[str, Row] = result["rows"]
    ideal = rows["ideal client"]
    ideal_wall, ideal_cpu = ideal.med("wall_s"), ideal.med("cpu_s")
    lines = [f"### {result['slots']} slots (server advertises max_concurrent_requests={result['slots']}), "
             f"{samples} MeQSum-like prompts",
             "",
             "| client | wall s | × ideal | CPU s | CPU over ideal, ms/sample | to 1st request s | after last answer s "
             "| answered | tokens out | 429s | runs |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, row in rows.items():
        if name == FLOOR:
            continue
        ok = row.ok_runs()
        if not ok:
            note = row.runs[0].note if row.runs else "not run"
            lines.append(f"| {name} | crashed | | | | | | {row.runs[0].answered if row.runs else 0} | | "
                         f"{row.runs[0].rejected_429 if row.runs else ''} | {note} |")
            continue
        wall, cpu = row.med("wall_s"), row.med("cpu_s")
        per_sample = "" if name == "ideal client" or cpu != cpu else f"{1000 * (cpu - ideal_cpu) / samples:.1f}"
        first = row.med("to_first_request_s")
        after = row.med("after_last_answer_s")
        lines.append(
            f"| {name} | {wall:.2f} | {wall / ideal_wall:.2f} | {'' if cpu != cpu else f'{cpu:.2f}'} | {per_sample} "
            f"| {'' if first is None else f'{first:.2f}'} | {'' if after is None else f'{after:.2f}'} "
            f"| {ok[0].answered} | {ok[0].tokens_out} | {sum(r.rejected_429 for r in ok)} "
            f"| {len(ok)}{'' if len(ok) == len(row.runs) else f' of {len(row.runs)}'} |")
    notes = [r.note for row in rows.values() for r in row.runs if r.note and r.ok]
    lines += [""] + [f"- {n}" for n in dict.fromkeys(notes)]
    floor, suite = rows.get(FLOOR), rows.get("clue-checks, default")
    if floor and floor.ok_runs() and suite and suite.ok_runs():
        floor_cpu = floor.med("cpu_s")
        lines.append(f"- {FLOOR} ({samples} parametrized no-op tests, the same interpreter and `-q`, no CLUE): "
                     f"{floor_cpu:.2f} s of CPU, {1000 * floor_cpu / samples:.2f} ms/sample, the floor of one pytest "
                     f"test per sample. clue-checks, default, beyond the ideal client and that floor: "
                     f"{1000 * (suite.med('cpu_s') - ideal_cpu - floor_cpu) / samples:.2f} ms/sample")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_repo_argument(parser)
    parser.add_argument("--samples", type=int, default=997, help="scored prompts (CLUE's MeQSum: 997)")
    parser.add_argument("--slots", type=int, nargs="+", default=[128, 16])
    parser.add_argument("--reps", type=int, default=3, help="alternating rounds; medians are reported")
    parser.add_argument("--lmeval", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--lmeval-concurrency", type=int, nargs="+", default=[16, 64, 128])
    parser.add_argument("--lmeval-seq-budget", type=float, default=120.0,
                        help="seconds: above this estimate, num_concurrent=1 runs on a prefix and is extrapolated")
    parser.add_argument("--lmeval-seq-prefix", type=int, default=100)
    parser.add_argument("--json", type=Path, help="also write the raw runs here")
    args = parser.parse_args()
    source = prepare(args)
    started = time.time()
    results = []
    with tempfile.TemporaryDirectory(prefix="clue-bench-") as tmp:
        bench = Bench(args, Path(tmp))
        for i, slots in enumerate(args.slots):
            results.append(bench.at_slots(slots, first=i == 0))
    print()
    print(f"{time.strftime('%Y-%m-%d %H:%M')}, {platform.node()}, {platform.processor() or platform.machine()}, "
          f"Python {platform.python_version()}, clue_checks from {source}; bench took {time.time() - started:.0f} s")
    print()
    for result in results:
        print("\n".join(table(result, args.samples)))
        print()
    if args.json:
        args.json.write_text(json.dumps([{"slots": r["slots"], "rows": {k: [asdict(x) for x in v.runs]
                                                                         for k, v in r["rows"].items()}}
                                         for r in results], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
