"""`clue report merge`: shard report folders → the report of the whole run, gates decided on it.

Each shard (`pytest --clue-shard=K/N`) writes a report folder whose `predictions/<task>.jsonl`
holds every sample's full record. The merge reads them back and runs the same aggregator and
writers as a single run, so the merged report is the unsharded run's report apart from the
timestamps and the request counts. Batched metrics (BERTScore) are recomputed over the merged
samples where the metric can run here; otherwise the values the shards computed are carried
(BERTScore's per-pair values do not depend on the batch: no idf weighting, no baseline rescaling),
and the report says so.

Shards must come from one configuration: their manifests (data hashes, prompts, template,
generation parameters, package versions, thresholds) and run settings must agree, every shard
K of N must be there once, and no sample may appear twice.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..metrics import BatchedValues
from .aggregate import AggregateResult, SampleRecord, TaskSpec, aggregate
from .manifest import TIME_KEYS, sha256_text
from .render import PREDICTIONS, REPORT_JSON, markdown, read_predictions, report_for, write_reports
from .thresholds import Thresholds, ThresholdsError, parse

# Differences between shards that are expected: when and where each ran, and what each ran.
_RUN_FREE = ("finished", "shard", "data_dir", "endpoints")
_MANIFEST_FREE = (*TIME_KEYS, "command", "endpoint.info")


class MergeError(Exception):
    """The shards cannot be merged; the message names the folder or file and the fix."""


@dataclass(frozen=True)
class ShardReport:
    directory: Path
    report: Mapping[str, Any]
    records: Mapping[str, Sequence[SampleRecord]]


@dataclass(frozen=True)
class Merged:
    report: dict[str, Any]
    markdown: str
    result: AggregateResult


def read_shard(directory: Path) -> ShardReport:
    path = directory / REPORT_JSON
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MergeError(f"{path}: not found (give the report folders the shards wrote, e.g. their "
                         "--clue-report-dir)") from None
    except (OSError, ValueError) as exc:
        raise MergeError(f"{path}: cannot read the report ({exc})") from None
    if not isinstance(report, dict) or "run" not in report or "manifest" not in report:
        raise MergeError(f"{path}: not a clue-checks report with a manifest (written by an older version?)")
    try:
        records = read_predictions(directory)
    except (OSError, ValueError) as exc:
        raise MergeError(str(exc)) from None
    expected = {t: s.get("n_samples", 0) for t, s in report.get("tasks", {}).items()}
    found = {t: len(r) for t, r in records.items()}
    if {t: n for t, n in expected.items() if n} != {t: n for t, n in found.items() if n}:
        raise MergeError(f"{directory / PREDICTIONS}: the per-sample records do not match the report "
                         f"(report: {expected}, records: {found}); was the folder changed by hand?")
    return ShardReport(directory, report, records)


def _differences(a: Mapping[str, Any], b: Mapping[str, Any], free: Sequence[str]) -> list[str]:
    keys = sorted((set(a) | set(b)) - set(free))
    return [k for k in keys if a.get(k) != b.get(k)]


def check_compatible(shards: Sequence[ShardReport]) -> None:
    if not shards:
        raise MergeError("no shard report folders given")
    first = shards[0]
    for other in shards[1:]:
        diff = [f"run.{k}" for k in _differences(first.report["run"], other.report["run"], _RUN_FREE)]
        diff += [f"manifest[{k}]" for k in _differences(first.report["manifest"], other.report["manifest"],
                                                        _MANIFEST_FREE)]
        if diff:
            raise MergeError(f"{other.directory} and {first.directory} are not shards of one run: they differ in "
                             f"{', '.join(diff)}")
    labels = [s.report["run"].get("shard") for s in shards]
    if all(label is not None for label in labels):
        parts = [tuple(int(x) for x in label.split("/")) for label in labels]
        counts = {n for _, n in parts}
        if len(counts) != 1:
            raise MergeError(f"the shards split the run differently: {', '.join(labels)}")
        (n,) = counts
        ks = sorted(k for k, _ in parts)
        missing = sorted(set(range(1, n + 1)) - set(ks))
        twice = sorted({k for k in ks if ks.count(k) > 1})
        if missing or twice:
            raise MergeError("; ".join(
                ([f"missing shard(s) {', '.join(f'{k}/{n}' for k in missing)}"] if missing else [])
                + ([f"shard(s) given twice: {', '.join(f'{k}/{n}' for k in twice)}"] if twice else [])))
    seen: dict[tuple[str, str], Path] = {}
    for shard in shards:
        for task, rows in shard.records.items():
            for r in rows:
                where = seen.setdefault((task, r.sample_id), shard.directory)
                if where != shard.directory:
                    raise MergeError(f"sample {task}:{r.sample_id} is in both {where} and {shard.directory}")


def _tasks(run: Mapping[str, Any]) -> dict[str, Any]:
    from ..tasks import TASKS, get_profile

    override = run.get("bertscore_override") or {}
    options = {"bertscore_model": override.get("model"), "bertscore_layers": override.get("layers")}
    profile = get_profile(run.get("profile") or "paper")
    return {name: cls(profile, options) for name, cls in TASKS.items()}


def merge(shards: Sequence[ShardReport], *, thresholds: Thresholds | None = None,
          thresholds_text: str | None = None, recompute_batched: bool = True) -> Merged:
    """The whole run's report from its shards. `thresholds`: decide the gates by this file instead of the
    one the shards ran with."""
    from ..roles.setup import synthetic_notice, unknown_threshold_keys

    check_compatible(shards)
    first = shards[0].report
    run = dict(first["run"])
    manifest = dict(first["manifest"])
    if thresholds is None:
        try:
            thresholds = parse(manifest.get("thresholds.content") or "", manifest.get("thresholds.source") or "?")
        except ThresholdsError as exc:
            raise MergeError(f"the shards' thresholds: {exc}") from None
    else:
        text = thresholds_text or ""
        manifest.update({"thresholds.source": thresholds.source, "thresholds.content": text,
                         "thresholds.sha256": sha256_text(text)})
    problems = unknown_threshold_keys(thresholds, run.get("profile") or "paper")
    if problems:
        raise MergeError(f"{thresholds.source}: " + "; ".join(problems))
    tasks = _tasks(run)
    records = [r for s in shards for rows in s.records.values() for r in rows]
    if run.get("redacted"):
        recompute_batched = False  # the rows hold hashes, not the texts BERTScore would read
    specs = []
    for name, task in tasks.items():
        entries = [s.report["tasks"][name] for s in shards if name in s.report.get("tasks", {})]
        totals = [e.get("n_total") for e in entries if e.get("n_total") is not None]
        specs.append(TaskSpec(name, task.title, task.level, tuple(task.metric_names), tuple(task.batched_metrics),
                              n_selected=sum(e.get("n_selected", 0) for e in entries) or None,
                              n_total=max(totals) if totals else None))
    notes: list[str] = []
    by_task: dict[str, list[SampleRecord]] = {}
    for r in records:
        by_task.setdefault(r.task, []).append(r)

    def batch_score(task: str, pairs: Sequence[tuple[str, str]]) -> Mapping[str, BatchedValues]:
        scored = sorted((r for r in by_task.get(task, []) if r.outcome != "error"), key=lambda r: r.index)
        computed = tasks[task].batch_score(pairs) if recompute_batched else {}
        out = {}
        for name in tasks[task].batched_metrics:
            result = computed.get(name)
            carried = [r.metrics.get(name) for r in scored]
            if (result is None or result.not_computed is not None) and any(v is not None for v in carried):
                why = f": {result.not_computed}" if result is not None and result.not_computed else ""
                notes.append(f"{task}.{name}: the values the shards computed (not recomputed here{why})")
                out[name] = BatchedValues(tuple(carried))
            elif result is None:
                reasons = {r.not_computed.get(name) for r in scored} - {None}
                out[name] = BatchedValues(not_computed=reasons.pop() if len(reasons) == 1 else
                                          f"{name} was not computed by the shards")
            else:
                out[name] = result
        return out

    explicit = run.get("tasks")
    result = aggregate(records, specs, thresholds.gates, batch_score=batch_score,
                       not_selected=[t for t in tasks if t not in explicit] if explicit else (),
                       pass_blockers=synthetic_notice(bool(run.get("synthetic_data")), True, run.get("server_kind"),
                                                      bool(run.get("allow_synthetic")))[1])
    warnings = synthetic_notice(bool(run.get("synthetic_data")), True, run.get("server_kind"),
                                bool(run.get("allow_synthetic")))[0]
    run["shard"] = None
    run["finished"] = max(s.report["run"].get("finished") or "" for s in shards)
    run["thresholds"] = thresholds.source
    manifest["run.started"] = min(s.report["manifest"].get("run.started") or "" for s in shards)
    manifest["run.duration_s"] = round(max(float(s.report["manifest"].get("run.duration_s") or 0) for s in shards), 3)
    if notes:
        run["merge_notes"] = notes
    requests: dict[str, int] = {}
    for s in shards:
        for key, value in s.report.get("requests", {}).items():
            requests[key] = requests.get(key, 0) + int(value)
    report = report_for(result, run, requests=requests, manifest=manifest, warnings=warnings)
    return Merged(report, markdown(report, result.tasks, result.gates, result.levels), result)


def merge_folders(out: Path, inputs: Sequence[Path], *, thresholds_file: Path | None = None,
                  recompute_batched: bool = True) -> tuple[Merged, list[Path]]:
    """Read the shard folders, merge, write the merged report into `out` (never one of the inputs)."""
    resolved_out = out.resolve()
    if any(resolved_out == p.resolve() for p in inputs):
        raise MergeError(f"{out}: the merged report needs a folder of its own, not one of the shards'")
    shards = [read_shard(p) for p in inputs]
    thresholds = text = None
    if thresholds_file is not None:
        try:
            text = thresholds_file.read_text(encoding="utf-8")
            thresholds = parse(text, str(thresholds_file.resolve()))  # as a run names it: an absolute path
        except OSError as exc:
            raise MergeError(f"{thresholds_file}: cannot read ({exc.strerror})") from None
        except ThresholdsError as exc:
            raise MergeError(str(exc)) from None
    merged = merge(shards, thresholds=thresholds, thresholds_text=text, recompute_batched=recompute_batched)
    paths = write_reports(out, merged.report, merged.markdown, merged.result.records,
                          redact=bool(merged.report["run"].get("redacted")))
    from .html import write_html

    paths.insert(2, write_html(out))
    return merged, paths
