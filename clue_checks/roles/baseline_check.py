"""The controller's side of the run's baseline (the sample sessions' side: baseline.py).

- `check_before_inference` (at start): the parts of the manifests known before any request — data files,
  profile, prompts, seeds, version — must agree with a baseline folder's, or the run stops with every difference.
- `baseline_facts` (at the end): what the report builder compares the run with (report/build.py: the
  rest of the manifest, then the paired comparison).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from clue_checks import __version__
from clue_checks.record import SampleRecord
from clue_checks.report.build import BaselineFacts
from clue_checks.report.compare.manifest_check import ComparabilityError, require_comparable
from clue_checks.report.manifest import prompts_sha256, sha256_file
from clue_checks.report.numbers.thresholds import ThresholdsError, parse
from clue_checks.report.run_dir import RunDirError, load_run_dir
from clue_checks.run_data import RunData
from clue_checks.settings import Settings
from clue_checks.tasks.longhealth import LONGHEALTH_SEED
from clue_checks.tasks.shots import SHOT_SEED
from clue_checks.tasks.thresholds import as_toml

# Known before any request: checked at the start of a run against a baseline folder.
BEFORE_INFERENCE = frozenset({"data sha256", "profile", "prompts sha256", "shots", "seeds", "per-sample floors",
                              "version"})


def check_before_inference(settings: Settings, run: RunData, thresholds_text: str) -> str | None:
    """Against a baseline folder, before any request: the data files, profile, prompts, seeds and per-sample
    floors must agree. Returns the error (every difference) or None."""
    assert settings.baseline_dir is not None
    try:
        base = load_run_dir(settings.baseline_dir)
    except RunDirError as exc:
        return f"clue-checks: --clue-baseline: {exc}"
    manifest: dict[str, Any] = {"prompts.sha256": prompts_sha256(), "thresholds.content": thresholds_text}
    manifest["clue_checks.version"] = __version__
    for task in settings.tasks:
        try:
            source = run.load(task).source
            name = source.resolve().relative_to(settings.data_dir.resolve()).as_posix()
        except Exception:  # a data problem is the task's own collection error
            continue
        manifest[f"data.sha256.{name}"] = sha256_file(source)
    new = {"manifest": manifest, "run": {"profile": settings.profile,
                                         "seeds": {"shots": SHOT_SEED, "longhealth": LONGHEALTH_SEED}}}
    try:
        require_comparable(new, _known_tasks_floors(base.report, run), force=settings.baseline_force,
                           aspects=BEFORE_INFERENCE,
                           new_name="this run", baseline_name=str(settings.baseline_dir))
    except ComparabilityError as exc:
        return f"clue-checks: --clue-baseline: {exc}"
    return None


def _known_tasks_floors(report: Mapping[str, Any], run: RunData) -> Mapping[str, Any]:
    """The baseline's report with the floors of tasks this session does not know yet left out: a test module's
    task file is read at collection, after this check; the end of the run compares all floors."""
    manifest = report.get("manifest")
    text = manifest.get("thresholds.content") if isinstance(manifest, Mapping) else None
    try:
        theirs = parse(text, "baseline") if isinstance(text, str) else None
    except ThresholdsError:
        return report
    if theirs is None or all(task in run.tasks for task in theirs.floors):
        return report
    known = replace(theirs, floors={t: f for t, f in theirs.floors.items() if t in run.tasks})
    return {**report, "manifest": {**manifest, "thresholds.content": as_toml(known, "known tasks' floors")}}


def baseline_facts(settings: Settings, records: Sequence[SampleRecord], *, requests: Mapping[str, int] | None,
                   clean: Any = None) -> BaselineFacts | None:
    """What the report builder compares this run with (report/build.py), None when no baseline was asked for.

    --clue-baseline: the folder's report and records (unreadable: `unavailable`, with the error).
    --clue-baseline-endpoint: its answers travel on this run's records, scored as the run's own are.
    `clean`: masks secrets in what the report will say of the baseline (an endpoint URL may carry them).
    """
    if settings.baseline_dir is not None:
        try:
            base_dir = load_run_dir(settings.baseline_dir)
        except RunDirError as exc:
            return BaselineFacts({"source": str(settings.baseline_dir)},
                                 unavailable=f"clue-checks: --clue-baseline: {exc}")
        facts = BaselineFacts.of_report(base_dir.report, base_dir.records, source=str(settings.baseline_dir),
                                        force=settings.baseline_force)
        return replace(facts, described={**facts.described, "kind": "report folder"})
    if not settings.baseline_endpoints:
        return None
    model = next((r.baseline.get("model") for r in records if r.baseline is not None), None)
    source = ", ".join(settings.baseline_endpoints)
    return BaselineFacts({"source": clean(source) if clean is not None else source, "model_id": model,
                          "requests": dict(requests or {}), "kind": "endpoint"}, force=settings.baseline_force)
