"""Every request body and score the built-in tasks make, as JSON lines: the proof that a change to the
task API leaves CLUE's requests and scores byte-identical.

For each task, API mode (generate with the baseline's tokenizer, chat) and profile (paper, head), every
sample's canonical request and its score against the embedded baseline are written, one JSON object a line.
Run it on two versions of the code and compare the files (`cmp`).

    PYTHONPATH=. python bench/capture_task_requests.py OUT.jsonl [--data DIR] [--clue-tasks meqsum,...]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from clue_checks.report.numbers.thresholds import load as load_thresholds
from clue_checks.runner import BASELINE_TOKENIZER, Run
from clue_checks.server.baseline import BaselineServer
from clue_checks.settings import Settings
from clue_checks.tasks import TASKS

FIXTURES = Path(__file__).resolve().parents[1] / "clue_checks" / "fixtures"


def capture(out, data_dir: Path, tasks: list[str]) -> int:
    floors = load_thresholds(None)
    lines = 0
    with BaselineServer() as server:
        for profile in ("paper", "head"):
            for api in ("generate", "chat"):
                settings = Settings(endpoints=(server.url,), api=api, model_name=None,
                                    tokenizer=str(BASELINE_TOKENIZER) if api == "generate" else None,
                                    data_dir=data_dir, tasks=tuple(tasks), limit=None, concurrency=None,
                                    cache_dir=None, refresh=False, report_dir=Path("/nonexistent"), thresholds=None,
                                    profile=profile, exit_mode="pytest", request_timeout=60.0, api_key=None)
                run = Run(settings)
                try:
                    run.connect([server.url])
                    for name in tasks:
                        task = run.tasks[name]
                        for sample in run.samples(name):
                            evaluated = run.evaluate(sample)
                            result = task.score(sample, evaluated.scored_text, floors.floors_for(name))
                            row = {"profile": profile, "api": api, "id": sample.test_id,
                                   "request": evaluated.request.canonical(), "scored": evaluated.scored_text,
                                   "metrics": result.metrics, "passed": result.passed, "reason": result.reason,
                                   "details": result.details, "cluster": task.cluster_of(sample)}
                            out.write(json.dumps(row, sort_keys=True, default=str) + "\n")
                            lines += 1
                finally:
                    run.close()
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--data", type=Path, default=FIXTURES)
    parser.add_argument("--tasks", default=",".join(TASKS))
    args = parser.parse_args()
    with args.out.open("w", encoding="utf-8") as out:
        n = capture(out, args.data, args.tasks.split(","))
    print(f"{n} samples written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
