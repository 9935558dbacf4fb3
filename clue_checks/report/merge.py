"""`clue report merge`: shard report folders → the report of the whole run, gates decided on it.

Each shard (`pytest --clue-shard=K/N`) writes a report folder whose `predictions/<task>.jsonl`
holds every sample's full record. The merge reads them back and builds the report as a single run
does (report/build.py), so the merged report is the unsharded run's report apart from the
timestamps, the request counts and how the run went (performance). Batched metrics (BERTScore)
are recomputed over the merged samples where the metric can run here; otherwise the values the shards computed are carried
(BERTScore's per-pair values do not depend on the batch: no idf weighting, no baseline rescaling),
and the report says so. Shards compared with a baseline are compared again as one run: with the same
report folder (read again), or with the baseline endpoint's answers their records carry.

Shards must come from one configuration: their manifests (data hashes, prompts, template,
generation parameters, package versions, thresholds) and run settings must agree, every shard
K of N must be there once, and no sample may appear twice.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from clue_checks.metrics import BatchedValues
from clue_checks.record import SampleRecord
from clue_checks.report.numbers.aggregate import TaskSpec
from clue_checks.report.build import BaselineFacts, RunFacts, build_report
from clue_checks.report.document import Report
from clue_checks.report.files import PREDICTIONS, REPORT_JSON
from clue_checks.report.integrity import PREFIX as PREDICTION_HASHES
from clue_checks.report.integrity import forced_note
from clue_checks.report.manifest import TIME_KEYS, run_specific, sha256_text
from clue_checks.report.write.pieces import read_predictions
from clue_checks.report.run_dir import RunDirError, load_run_dir
from clue_checks.report.numbers.run_stats import merge_stats, stats_of_report
from clue_checks.report.numbers.thresholds import Thresholds, ThresholdsError, parse
from clue_checks.report.run_facts import synthetic_notice, unknown_threshold_keys
from clue_checks.report.write.folder import write_folder
from clue_checks.errors import ReportError
from clue_checks.report.write.junit import write_junit
from clue_checks.tasks import TASKS, get_profile

# Differences between shards that are expected: when and where each ran, and what each ran.
_RUN_FREE = ("finished", "shard", "data_dir", "endpoints")
_MANIFEST_FREE = (*TIME_KEYS, "command", "endpoint.info", "egress.endpoints")


class MergeError(ReportError):
    """The shards cannot be merged; the message names the folder or file and the fix."""


@dataclass(frozen=True)
class ShardReport:
    directory: Path
    report: Mapping[str, Any]
    records: Mapping[str, Sequence[SampleRecord]]


@dataclass(frozen=True)
class Merged:
    report: Report
    notes: tuple[str, ...] = ()  # what the merge could not do as one run would (values carried, not recomputed)


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
        records = read_predictions(directory, texts_apart=True)  # texts read back as the merge writes
    except (OSError, ValueError) as exc:
        raise MergeError(str(exc)) from None
    expected = {t: s.get("n_samples", 0) for t, s in report.get("tasks", {}).items()}
    found = {t: len(r) for t, r in records.items()}
    if {t: n for t, n in expected.items() if n} != {t: n for t, n in found.items() if n}:
        raise MergeError(f"{directory / PREDICTIONS}: the per-sample records do not match the report "
                         f"(report: {expected}, records: {found}); was the folder changed by hand?")
    return ShardReport(directory, report, records)


def _differences(a: Mapping[str, Any], b: Mapping[str, Any], free: Sequence[str]) -> list[str]:
    keys = sorted(k for k in (set(a) | set(b)) - set(free) if not run_specific(str(k)))
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
    override = run.get("bertscore_override") or {}
    options = {"bertscore_model": override.get("model"), "bertscore_layers": override.get("layers")}
    profile = get_profile(run.get("profile") or "paper")
    return {name: cls(profile, options) for name, cls in TASKS.items()}


@dataclass(frozen=True)
class ReportedTask:
    """A task the shards ran that is not one of CLUE's (a task file's): known from the reports alone."""

    title: str
    level: int | str | None
    metric_names: tuple[str, ...]
    batched_metrics: tuple[str, ...] = ()
    failure_kinds: tuple[str, ...] | None = None  # those the shards counted (a looked-for kind counts 0 too)

    @property
    def floor_metrics(self) -> tuple[str, ...]:
        return self.metric_names

    def batch_score(self, pairs: Sequence[tuple[str, str]]) -> dict[str, BatchedValues]:
        return {}


def _reported_tasks(shards: Sequence[ShardReport], known: Mapping[str, Any]) -> dict[str, ReportedTask]:
    out: dict[str, ReportedTask] = {}
    for shard in shards:
        for name, entry in shard.report.get("tasks", {}).items():
            if name not in known and name not in out:
                kinds = entry.get("kinds")
                out[name] = ReportedTask(entry.get("title") or name, entry.get("level"),
                                         tuple(entry.get("metrics") or ()),
                                         failure_kinds=tuple(kinds) if isinstance(kinds, Mapping) else None)
    return out


def merge(shards: Sequence[ShardReport], *, thresholds: Thresholds | None = None,
          thresholds_text: str | None = None, recompute_batched: bool = True,
          baseline_dir: Path | None = None) -> Merged:
    """The whole run's report from its shards (report/build.py, as one run builds it). `thresholds`: decide the
    gates by this file instead of the one the shards ran with. `baseline_dir`: the report folder the shards were
    compared with (--clue-baseline), where the shards' own record of it is not where they named it."""
    check_compatible(shards)
    first = shards[0].report
    run = dict(first["run"])
    manifest = {k: v for k, v in first["manifest"].items() if not k.startswith(PREDICTION_HASHES)}  # the shards' own
    thresholds = _thresholds(manifest, thresholds, thresholds_text)
    tasks = _tasks(run)
    tasks.update(_reported_tasks(shards, tasks))
    problems = unknown_threshold_keys(thresholds, run.get("profile") or "paper",
                                      extra={n: t for n, t in tasks.items() if isinstance(t, ReportedTask)})
    if problems:
        raise MergeError(f"{thresholds.source}: " + "; ".join(problems))
    records = [r for s in shards for rows in s.records.values() for r in rows]
    if run.get("redacted"):
        recompute_batched = False  # the rows hold hashes, not the texts BERTScore would read
    scorer = _BatchScorer(tasks, records, recompute_batched)
    facts = _run_facts(shards, run, manifest, thresholds, tasks)
    report = build_report(records, facts, baseline=_baseline(shards, baseline_dir), batch_score=scorer)
    if scorer.notes:  # known once the batched metrics were computed: said with the run, as a run says its settings
        report = replace(report, run=MappingProxyType({**report.run, "merge_notes": scorer.notes}))
    return Merged(report, tuple(scorer.notes))


def _thresholds(manifest: dict[str, Any], thresholds: Thresholds | None, text: str | None) -> Thresholds:
    """The thresholds the shards ran with (from their manifest), or those given, then written into `manifest`."""
    if thresholds is None:
        try:
            return parse(manifest.get("thresholds.content") or "", manifest.get("thresholds.source") or "?")
        except ThresholdsError as exc:
            raise MergeError(f"the shards' thresholds: {exc}") from None
    text = text or ""
    manifest.update({"thresholds.source": thresholds.source, "thresholds.content": text,
                     "thresholds.sha256": sha256_text(text)})
    return thresholds


def _specs(shards: Sequence[ShardReport], tasks: Mapping[str, Any]) -> tuple[TaskSpec, ...]:
    """Each task as the whole run selected it: the shards' selected samples added up."""
    specs = []
    for name, task in tasks.items():
        entries = [s.report["tasks"][name] for s in shards if name in s.report.get("tasks", {})]
        totals = [e.get("n_total") for e in entries if e.get("n_total") is not None]
        specs.append(TaskSpec(name, task.title, task.level, tuple(task.metric_names), tuple(task.batched_metrics),
                              n_selected=sum(e.get("n_selected", 0) for e in entries) or None,
                              n_total=max(totals) if totals else None, kinds=task.failure_kinds))
    return tuple(specs)


class _BatchScorer:
    """The batched metrics (BERTScore) over the merged samples: recomputed where the metric can run here,
    else the values the shards computed, carried (`notes` says which)."""

    def __init__(self, tasks: Mapping[str, Any], records: Sequence[SampleRecord], recompute: bool) -> None:
        self.tasks, self.recompute = tasks, recompute
        self.notes: list[str] = []
        self.by_task: dict[str, list[SampleRecord]] = {}
        for r in records:
            self.by_task.setdefault(r.task, []).append(r)

    def __call__(self, task: str, pairs: Sequence[tuple[str, str]]) -> Mapping[str, BatchedValues]:
        scored = sorted((r for r in self.by_task.get(task, []) if r.outcome != "error"), key=lambda r: r.index)
        computed = self.tasks[task].batch_score(pairs) if self.recompute else {}
        out = {}
        for name in self.tasks[task].batched_metrics:
            result = computed.get(name)
            carried = [r.metrics.get(name) for r in scored]
            if (result is None or result.not_computed is not None) and any(v is not None for v in carried):
                why = f": {result.not_computed}" if result is not None and result.not_computed else ""
                self.notes.append(f"{task}.{name}: the values the shards computed (not recomputed here{why})")
                out[name] = BatchedValues(tuple(carried))
            elif result is None:
                reasons = {r.not_computed.get(name) for r in scored} - {None}
                out[name] = BatchedValues(not_computed=reasons.pop() if len(reasons) == 1 else
                                          f"{name} was not computed by the shards")
            else:
                out[name] = result
        return out


def _run_facts(shards: Sequence[ShardReport], run: dict[str, Any], manifest: dict[str, Any],
               thresholds: Thresholds, tasks: Mapping[str, Any]) -> RunFacts:
    """The whole run's facts from its shards': its start, end and requests, how it went where every shard says."""
    explicit = run.get("tasks")
    synthetic = synthetic_notice(bool(run.get("synthetic_data")), True, run.get("server_kind"),
                                 bool(run.get("allow_synthetic")))
    run["shard"] = None
    run["finished"] = max(s.report["run"].get("finished") or "" for s in shards)
    run["thresholds"] = thresholds.source
    manifest["run.started"] = min(s.report["manifest"].get("run.started") or "" for s in shards)
    manifest["run.duration_s"] = round(max(float(s.report["manifest"].get("run.duration_s") or 0) for s in shards), 3)
    requests: dict[str, int] = {}
    for s in shards:
        for key, value in s.report.get("requests", {}).items():
            requests[key] = requests.get(key, 0) + int(value)
    performances = [s.report.get("performance") for s in shards]
    known = all(performances)  # every shard says how it went (reports of older versions do not)
    return RunFacts(
        run=run, manifest=manifest, specs=_specs(shards, tasks), gates=thresholds.gates,
        compare_gates=thresholds.compare, not_selected=tuple(t for t in tasks if t not in explicit) if explicit else (),
        pass_blockers=synthetic[1], warnings=synthetic[0], requests=requests,
        request_stats=merge_stats(stats_of_report(s.report.get("performance"), s.report.get("store"),
                                                  s.report.get("requests")) for s in shards) if known else None,
        duration_s=max(float(p.get("duration_s") or 0) for p in performances) if known else None)  # type: ignore[union-attr]


def _baseline(shards: Sequence[ShardReport], baseline_dir: Path | None) -> BaselineFacts | None:
    """What the shards were compared with: the same report folder, or a baseline endpoint whose answers the
    shards' records carry (scored there already). None: they were not compared."""
    described = [dict((s.report.get("comparison") or {}).get("baseline") or {}) for s in shards]
    sources = {d.get("source") for d in described if d}
    if len(sources) > 1:
        raise MergeError("the shards were compared with different baselines: " + ", ".join(sorted(map(str, sources))))
    forced = any((s.report.get("comparison") or {}).get("forced") for s in shards)
    if not sources and baseline_dir is None:
        return None
    base = next((d for d in described if d), {})
    endpoint = base.get("kind") == "endpoint" or ("requests" in base and base.get("kind") is None)
    if endpoint and baseline_dir is None:
        requests: dict[str, int] = {}
        for d in described:
            for key, value in (d.get("requests") or {}).items():
                requests[key] = requests.get(key, 0) + int(value)
        return BaselineFacts({**base, "requests": requests}, force=forced, rescore=False)
    folder = baseline_dir if baseline_dir is not None else Path(str(base.get("source")))
    try:
        found = load_run_dir(folder)
    except RunDirError as exc:
        raise MergeError(f"the shards were compared with the report folder {folder}, which cannot be read ({exc}); "
                         "give it with --baseline DIR") from None
    facts = BaselineFacts.of_report(found.report, found.records, source=str(base.get("source") or folder),
                                    force=forced)
    return replace(facts, described={**facts.described, "kind": "report folder"})


def merge_folders(out: Path, inputs: Sequence[Path], *, thresholds_file: Path | None = None,
                  recompute_batched: bool = True, baseline_dir: Path | None = None,
                  junit: Path | None = None, integrity_forced: Sequence[str] = ()) -> tuple[Merged, list[Path]]:
    """Read the shard folders, merge, write the merged report into `out` (never one of the inputs), and
    `junit`: the JUnit file a gate-mode run writes (samples, gates, verdict). `integrity_forced`: prediction
    files merged past a failed sha256 check (--force), said in the merged report."""
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
    merged = merge(shards, thresholds=thresholds, thresholds_text=text, recompute_batched=recompute_batched,
                   baseline_dir=baseline_dir)
    if integrity_forced:  # --force past prediction files that do not match their manifest: said in the result
        run = {**merged.report.run, "integrity_forced": list(integrity_forced)}
        merged = replace(merged, report=replace(merged.report, run=run),
                         notes=(*merged.notes, forced_note(integrity_forced)))
    paths = write_folder(out, merged.report)
    if junit is not None:
        paths.append(write_junit(junit, merged.report, redact=bool(merged.report.run.get("redacted"))))
    return merged, paths
