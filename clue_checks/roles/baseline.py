"""The run's baseline, in the plugin: a previous run's report folder (--clue-baseline) or a second model
answering the same prompts in the same session (--clue-baseline-endpoint).

- `BaselineSide` lives beside each sample session (the single process, or each xdist worker): it reads the
  baseline folder, or connects to the baseline endpoint and sends this process's share of the same
  samples' requests (concurrent with the model's, each sent once and stored), and gives each sample its
  baseline answer (`baseline_for`), which travels to the controller on the sample's record.
- `check_before_inference` (controller, at start): the parts of the manifests known before any request —
  data files, profile, prompts, seeds, version — must agree, or the run stops with every difference.
- `compare_at_end` (controller): the rest of the manifest, then the paired comparison
  (report/baseline_report.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..report.aggregate import AggregateResult, SampleRecord
    from ..report.baseline_report import BaselineComparison
    from ..report.run_dir import RunDir
    from ..runner import Run
    from ..settings import Settings
    from ..tasks import Sample

# Known before any request: checked at the start of a run against a baseline folder.
BEFORE_INFERENCE = frozenset({"data sha256", "profile", "prompts sha256", "shots", "seeds", "per-sample floors",
                              "version"})


class BaselineSide:
    """One process's view of the baseline: its records (a folder) or its connection (an endpoint)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._dir: RunDir | None = None
        self._records: dict[tuple[str, str], SampleRecord] | None = None
        self.run: Run | None = None  # the baseline model's run (--clue-baseline-endpoint)

    @property
    def dir(self) -> RunDir:
        if self._dir is None:
            from ..report.run_dir import load_run_dir

            assert self.settings.baseline_dir is not None
            self._dir = load_run_dir(self.settings.baseline_dir)  # checked readable at start (RunDirError)
        return self._dir

    # -- a second model in this session ---------------------------------------------------

    def connect(self, main: Run, tasks: Sequence[str], *, concurrency_share: float) -> None:
        """Connect to the baseline endpoint with the model's settings (its own name and revision discovered);
        raises EndpointError / TemplateUnavailable / TokenizerUnavailable, or ValueError when the two models'
        requests would differ (wire mode, prompt layout, generation parameters) unless forced."""
        from ..runner import Run

        s = self.settings
        self.run = Run(replace(s, endpoints=s.baseline_endpoints, model_name=None, model_revision=None,
                               baseline_endpoints=()))
        for task in tasks:
            self.run.load(task)
        self.run.connect(list(s.baseline_endpoints), concurrency_share=concurrency_share)
        self.run.check_token_counter(tasks)
        differences = _request_differences(main, self.run, tasks)
        if differences and not s.baseline_force:
            raise ValueError("the model and the baseline endpoint would not be asked alike ("
                             + "; ".join(differences) + "; values are model / baseline): give both the same --clue-api and "
                             "--clue-prompt-layout, or compare anyway with --clue-baseline-force")

    def prefetch(self, samples: Sequence[Sample]) -> None:
        if self.run is not None:
            self.run.prefetch(samples)

    def request_counts(self) -> dict[str, int] | None:
        return self.run.request_counts() if self.run is not None and self.run.scheduler is not None else None

    def close(self) -> None:
        if self.run is not None:
            self.run.close()

    # -- per sample -----------------------------------------------------------------------

    def baseline_for(self, sample: Sample, index: int, floors: Mapping[str, float]) -> dict[str, Any] | None:
        """The baseline's answer to `sample` (report/baseline_report.baseline_of), None where it has none."""
        from ..report.baseline_report import baseline_of

        if self.settings.baseline_dir is not None:
            if self._records is None:
                self._records = {(r.task, r.sample_id): r for r in self.dir.records}
            record = self._records.get((sample.task, sample.id))
            return baseline_of(record) if record is not None else None
        if self.run is None:
            return None
        from ..sample_check import SampleCheck

        try:
            evaluated = self.run.evaluate(sample)
            answer = baseline_of(SampleCheck(self.run.tasks[sample.task], evaluated, floors, index).record)
            return {**answer, "model": self.run.info.model_id, "source": evaluated.outcome.source}
        except Exception as exc:  # the baseline's failure is its own: the sample is still judged
            return {"response": None, "outcome": "error", "metrics": {}, "kinds": [],
                    "reason": f"the baseline endpoint gave no answer: {exc}"}


def _request_differences(main: Run, base: Run, tasks: Sequence[str]) -> list[str]:
    out = []
    a, b = main.describe(), base.describe()
    for key in ("api", "prompt_layout"):
        if a.get(key) != b.get(key):
            out.append(f"{key}: {a.get(key)} / {b.get(key)}")
    for task in tasks:
        samples = main.samples(task)
        if not samples:
            continue
        try:
            pa = main.request_for(samples[0])[1].params.as_dict()
            pb = base.request_for(samples[0])[1].params.as_dict()
        except Exception:  # the sample's own test reports it
            continue
        for key in sorted(set(pa) | set(pb)):
            if key != "model" and pa.get(key) != pb.get(key):
                out.append(f"{task} {key}: {pa.get(key)!r} / {pb.get(key)!r}")
    return out


# -- the controller ----------------------------------------------------------------------------


def check_before_inference(settings: Settings, run: Run, thresholds_text: str) -> str | None:
    """Against a baseline folder, before any request: the data files, profile, prompts, seeds and per-sample
    floors must agree. Returns the error (every difference) or None."""
    from ..report.manifest import prompts_sha256, sha256_file
    from ..report.manifest_check import ComparabilityError, require_comparable
    from ..report.run_dir import RunDirError, load_run_dir
    from ..tasks.longhealth import LONGHEALTH_SEED
    from ..tasks.shots import SHOT_SEED

    assert settings.baseline_dir is not None
    try:
        base = load_run_dir(settings.baseline_dir)
    except RunDirError as exc:
        return f"clue-checks: --clue-baseline: {exc}"
    manifest: dict[str, Any] = {"prompts.sha256": prompts_sha256(), "thresholds.content": thresholds_text}
    from .. import __version__

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
        require_comparable(new, base.report, force=settings.baseline_force, aspects=BEFORE_INFERENCE,
                           new_name="this run", baseline_name=str(settings.baseline_dir))
    except ComparabilityError as exc:
        return f"clue-checks: --clue-baseline: {exc}"
    return None


def compare_at_end(settings: Settings, result: AggregateResult, report: Mapping[str, Any], gates: Sequence[Any], *,
                   requests: Mapping[str, int] | None, specs: Sequence[Any] = (), batch_score: Any = None
                   ) -> tuple[BaselineComparison, list[SampleRecord] | None, str | None]:
    """(comparison, the baseline's records, an error that stops the comparison) at the end of a run.

    `report`: this run's {"run": …, "manifest": …}. Without a baseline the comparison gates are "not run".
    `specs`, `batch_score`: as the run's own aggregation, to score the baseline endpoint's answers with the
    metrics computed over a whole task (BERTScore) the same way.
    """
    from ..report.baseline_report import (compare_with_baseline, not_compared, record_from_baseline)
    from ..report.manifest_check import ComparabilityError, require_comparable

    if settings.baseline_dir is not None:
        from ..report.run_dir import RunDirError, load_run_dir

        try:
            base_dir = load_run_dir(settings.baseline_dir)
        except RunDirError as exc:
            message = f"clue-checks: --clue-baseline: {exc}"
            return not_compared(gates, message), None, message
        base_report: Mapping[str, Any] = base_dir.report
        base_records = list(base_dir.records)
        run = base_report.get("run", {})
        described = {"source": str(settings.baseline_dir), "model_id": run.get("model_id"),
                     "model_revision": run.get("model_revision")}
    elif settings.baseline_endpoints:
        new_records = [r for rows in result.records.values() for r in rows]
        base_records = [record_from_baseline(r, r.baseline) for r in new_records if r.baseline is not None]
        if specs and batch_score is not None:
            from ..report.aggregate import aggregate

            scored = aggregate(base_records, specs, (), batch_score=batch_score)
            base_records = [r for rows in scored.records.values() for r in rows]
        base_report = {"run": dict(report.get("run", {})), "manifest": dict(report.get("manifest", {}))}
        model = next((r.baseline.get("model") for r in new_records if r.baseline is not None), None)
        described = {"source": ", ".join(settings.baseline_endpoints), "model_id": model,
                     "requests": dict(requests or {})}
    else:
        return not_compared(gates), None, None
    try:
        comparability = require_comparable(report, base_report, force=settings.baseline_force, new_name="this run",
                                           baseline_name=str(described["source"]))
    except ComparabilityError as exc:
        message = f"clue-checks: {exc}"
        return not_compared(gates, "not compared: the runs are not comparable (see the error above)"), None, message
    return (compare_with_baseline(result, base_records, gates=gates, comparability=comparability,
                                  baseline=described), base_records, None)
