"""Synthetic report directories (clue-report.json + predictions/*.jsonl) for the HTML report's tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# A reply that would run script if the page ever put model output into the document as markup.
HOSTILE = ("<script>window.__pwned=1</script><img src=x onerror=\"window.__pwned=2\">"
           "</script><!-- \u2028\u2029 & done")

TASKS = {  # task -> (title, level, metric names, headline)
    "mednli": ("MedNLI", 1, ("accuracy",), "accuracy"),
    "meqsum": ("MeQSum", 1, ("rouge1", "rouge2", "rougeL"), "rougeL"),
    "longhealth-t3": ("LongHealth task 3", 2, ("accuracy", "accuracy_lenient", "parsed"), "accuracy"),
    "medisumcode": ("MeDiSumCode", 2, ("icd_em_f1", "icd_ap_f1", "valid_codes"), "icd_ap_f1"),
}
KINDS = {"mednli": ["format", "hedged", "wrong_answer"], "meqsum": ["low_overlap", "repetition_loop"],
         "longhealth-t3": ["unanswerable_missed", "format", "truncated"], "medisumcode": ["code_increment", "format"]}


def row(task: str, i: int, *, prompt_chars: int = 600, hostile: bool = False, baseline: bool = False) -> dict[str, Any]:
    failed = i % 3 == 0
    kinds = [KINDS[task][(i // 3) % len(KINDS[task])]] if failed else []
    metrics = {m: (0.0 if failed else round(0.5 + (i % 50) / 100, 3)) for m in TASKS[task][2]}
    response = HOSTILE if hostile else f"the patient {i} reports chest pain and shortness of breath"
    data = {
        "id": f"s{i:05d}", "sample_id": f"s{i:05d}", "task": task, "outcome": "failed" if failed else "passed",
        "Model Answer": response, "Ground Truth Answer": f"patient {i} reports chest pain on exertion",
        **metrics, "metrics": metrics, "reason": "ROUGE-L 0.0 < floor 0.1" if failed else "ok",
        "kinds": kinds, "finish_reason": "length" if "truncated" in kinds else "eos_token",
        "tokens_in": 812, "tokens_out": 37, "latency_s": 0.42,
        # Unique from its start, like a LongHealth prompt (its own documents): nothing shared to store once.
        "prompt": (f"[user] documents of sample {i}: " + f"history {i} of present illness " * prompt_chars)[:prompt_chars],
        "parsed": None, "node_id": f"tests_clinical/test_{task}.py::test_sample[{task}:s{i:05d}]", "cluster": None,
    }
    if baseline:
        data["baseline"] = {"response": f"baseline answer {i}", "outcome": "passed", "metrics": metrics}
    return data


def report(tasks: dict[str, int], *, comparison: bool = False, kinds_in_report: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "run": {"model_id": "synthetic/model", "profile": "paper", "api": "chat", "finished": "2026-01-01T00:00:00+00:00",
                "seeds": {"shots": 1}},
        "requests": {"sent": sum(tasks.values()), "failed": 0, "from_store": 0, "shared": 0},
        "tasks": {}, "levels": {
            "level1": {"value": 0.41, "ci95": [0.35, 0.47], "components": {}, "not_computed": None},
            "level2": {"value": None, "ci95": [None, None], "components": {},
                       "not_computed": "needs medisumqa.rougeL (not run or not computed)"}},
        "gates": [{"gate": "mednli.accuracy >= 0.3", "status": "pass", "value": 0.5, "detail": "0.5 over 9 samples"}],
        "verdict": "pass",
    }
    for task, n in tasks.items():
        title, level, metrics, _ = TASKS[task]
        summary = {"title": title, "level": level, "n_samples": n, "n_passed": n - (n + 2) // 3,
                   "n_failed": (n + 2) // 3, "n_errored": 0,
                   "metrics": {m: {"value": 0.55, "ci95": [0.45, 0.65], "n": n, "not_computed": None} for m in metrics}}
        if kinds_in_report:
            counts: dict[str, int] = {}
            for i in range(n):
                for k in row(task, i)["kinds"]:
                    counts[k] = counts.get(k, 0) + 1
            summary["kinds"] = counts
        out["tasks"][task] = summary
    if comparison:
        out["comparison"] = {"tasks": {
            task: {"metric": TASKS[task][3], "difference": -0.12 + 0.08 * k, "ci95": [-0.2 + 0.08 * k, -0.04 + 0.08 * k],
                   "p_value": 0.01 + 0.2 * k, "broke": ["s00000", "s00003"], "fixed": ["s00001"]}
            for k, task in enumerate(tasks)}}
    return out


def write_report_dir(path: Path, tasks: dict[str, int], *, hostile: int | None = None, comparison: bool = False,
                     kinds_in_report: bool = True, prompt_chars: int = 600) -> Path:
    """A report directory with `tasks[t]` rows per task; row `hostile` of the first task replies HOSTILE."""
    (path / "predictions").mkdir(parents=True, exist_ok=True)
    (path / "clue-report.json").write_text(json.dumps(report(tasks, comparison=comparison,
                                                             kinds_in_report=kinds_in_report)), encoding="utf-8")
    first = next(iter(tasks))
    for task, n in tasks.items():
        with (path / "predictions" / f"{task}.jsonl").open("w", encoding="utf-8") as handle:
            for i in range(n):
                r = row(task, i, prompt_chars=prompt_chars, hostile=(task == first and i == hostile),
                        baseline=comparison)
                handle.write(json.dumps(r, ensure_ascii=False) + "\n")
    return path
