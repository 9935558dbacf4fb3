"""A rerun answered entirely from the response store, at 5k/10k/20k samples: is the cost linear?

What `--lf`, a resumed run or a second look at a report costs once inference is paid: no request
is sent, so the time is pytest, prompt rendering, the store, scoring, the report and the
terminal output. Half of the samples fail (the simulated server is scripted to name the wrong
label for every other pair), because failures are what make pytest's own reporting expensive.

1. Fill: one run of the largest size against `sim_server.py` (answering at once), into a store;
   timed and shown, with `--tb=no -rN` so the fill itself stays short.
2. Rerun each size (data files that are prefixes of one another, so every request is in the
   store) with pytest's DEFAULT output (no -q: progress, a failure section per failing sample,
   the -ra summary from pytest.ini), then again with `--tb=no -rN`.

Every rerun is checked: 0 requests sent, all answered from the store, half failed.

    python bench/bench_rerun_scale.py                       # 5k/10k/20k: ~3 min
    python bench/bench_rerun_scale.py --sizes 2000 4000     # a quick look
    python bench/bench_rerun_scale.py --repo ../other-checkout

Not a test: timing claims live here and in bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import tempfile
import time
from pathlib import Path

from _harness import DEFAULT_REPO, Timed, add_repo_argument, prepare, suite_env, timed
from sim_server import SimServer

LABELS = ("entailment", "contradiction", "neutral")


def write_mednli(folder: Path, n: int) -> Path:
    """n scored pairs (+3 shots) in MedNLI's format, from the bundled fixture's sentences.

    Every pair is distinct (no shared requests) and scripts the simulated server's answer:
    the gold label for even pairs, another label for odd ones, so exactly half fail.
    """
    source = [json.loads(line) for line in (DEFAULT_REPO / "clue_checks/fixtures/MedNLI/mli_test_v1.jsonl").read_text().splitlines()
              if line.strip()]
    path = folder / "MedNLI" / "mli_test_v1.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        for i in range(n + 3):
            record = dict(source[i % len(source)])
            gold = record["gold_label"]
            scored = i - 3
            answer = gold if scored < 0 or scored % 2 == 0 else LABELS[(LABELS.index(gold) + 1) % 3]
            record["pairID"] = f"bench-{i:06d}"
            record["sentence1"] = f"{record['sentence1']} (case {i}) <<say:{answer.upper()}>>"
            handle.write(json.dumps(record) + "\n")
    return folder


def suite(args: argparse.Namespace, url: str, data: Path, store: Path, report: Path, extra: list[str],
          log: Path) -> tuple[Timed, dict]:
    cmd = [args.python, "-m", "pytest", "tests_clinical/test_mednli.py", f"--model-endpoint={url}", "--clue-tasks=mednli",
           f"--clue-data={data}", f"--clue-cache={store}", f"--clue-report-dir={report}", *extra]
    result = timed(cmd, cwd=args.repo, env=suite_env(args.repo), log=log)
    report_file = report / "clue-report.json"
    requests = json.loads(report_file.read_text()).get("requests", {}) if report_file.exists() else {}
    tail = log.read_text(errors="replace").strip().splitlines()[-1:] or [""]
    counts = {k: int(v) for v, k in re.findall(r"(\d+) (passed|failed|errors?)", tail[0])}
    return result, {"requests": requests, "counts": counts, "tail": tail[0], "log": str(log)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_repo_argument(parser)
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 10000, 20000])
    parser.add_argument("--no-quiet-variant", dest="quiet_variant", action="store_false",
                        help="skip the --tb=no -rN reruns")
    args = parser.parse_args()
    source = prepare(args)
    sizes = sorted(args.sizes)
    started = time.time()
    rows = []
    with tempfile.TemporaryDirectory(prefix="clue-rerun-") as tmp_name, \
            SimServer(slots=512, overflow="queue", step_base=0.0005, step_per_seq=0.0) as server:
        tmp = Path(tmp_name)
        store = tmp / "store"
        data = {n: write_mednli(tmp / f"data-{n}", n) for n in sizes}
        fill, fill_info = suite(args, server.url, data[sizes[-1]], store, tmp / "report-fill",
                                ["-q", "--tb=no", "-rN"], tmp / "fill.log")
        print(f"fill {sizes[-1]}: {fill.wall_s:.1f} s, {fill_info['tail']}", flush=True)
        if fill_info["requests"].get("sent") != sizes[-1]:
            raise SystemExit(f"the fill run did not send {sizes[-1]} requests: {fill_info}")
        variants = [("default output", [])] + ([("--tb=no -rN", ["--tb=no", "-rN"])] if args.quiet_variant else [])
        for n in sizes:
            row = {"samples": n}
            for label, extra in variants:
                result, info = suite(args, server.url, data[n], store, tmp / f"report-{n}-{len(extra)}", extra,
                                     tmp / f"rerun-{n}-{len(extra)}.log")
                req = info["requests"]
                ok = (req.get("sent") == 0 and req.get("from_store") == n and info["counts"].get("failed") == n // 2)
                row[label] = {"wall_s": result.wall_s, "cpu_s": result.cpu_s, "ok": ok, "info": info}
                print(f"rerun {n} {label}: {result.wall_s:.1f} s (cpu {result.cpu_s:.1f} s) "
                      f"{'' if ok else 'UNEXPECTED: ' + json.dumps(info)}", flush=True)
            rows.append(row)
    print()
    print(f"{time.strftime('%Y-%m-%d %H:%M')}, {platform.node()}, Python {platform.python_version()}, "
          f"clue_checks from {source}; bench took {time.time() - started:.0f} s")
    print()
    print(f"Fill (first run, {sizes[-1]} MedNLI samples, server answering at once, -q --tb=no -rN): "
          f"{fill.wall_s:.1f} s, {1000 * fill.wall_s / sizes[-1]:.1f} ms/sample")
    print()
    print("| samples (half failing) | output | wall s | ms/sample | marginal ms/sample | CPU s | marginal CPU ms/sample "
          "| checked |")
    print("|---:|---|---:|---:|---:|---:|---:|---|")
    for label, _ in variants:
        previous = None
        for row in rows:
            r = row[label]
            marginal = cpu_marginal = ""
            if previous is not None:
                added = row["samples"] - previous["samples"]
                marginal = f"{1000 * (r['wall_s'] - previous[label]['wall_s']) / added:.2f}"
                cpu_marginal = f"{1000 * (r['cpu_s'] - previous[label]['cpu_s']) / added:.2f}"
            print(f"| {row['samples']} | {label} | {r['wall_s']:.1f} | {1000 * r['wall_s'] / row['samples']:.2f} "
                  f"| {marginal} | {r['cpu_s']:.1f} | {cpu_marginal} | {'ok' if r['ok'] else 'UNEXPECTED (see above)'} |")
            previous = row
    if len(rows) >= 3:
        for label, _ in variants:
            # CPU, not wall: on a shared machine the wall clock also measures the neighbours.
            steps = [(b[label]["cpu_s"] - a[label]["cpu_s"]) / (b["samples"] - a["samples"])
                     for a, b in zip(rows, rows[1:])]
            growth = steps[-1] / steps[0] if steps[0] > 0 else float("inf")
            print(f"\n{label}: the marginal CPU per sample between the two largest sizes is {growth:.2f}x that "
                  f"between the two smallest ({'about linear' if growth < 1.3 else 'super-linear'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
