"""The run's baseline, in the plugin: a previous run's report folder (--clue-baseline) or a second model
answering the same prompts in the same session (--clue-baseline-endpoint).

- `BaselineSide` lives beside each sample session (the single process, or each xdist worker): it reads the
  baseline folder, or connects to the baseline endpoint and sends this process's share of the same
  samples' requests (concurrent with the model's, each sent once and stored), and gives each sample its
  baseline answer (`baseline_for`), which travels to the controller on the sample's record.
- `check_before_inference` (controller, at start): the parts of the manifests known before any request —
  data files, profile, prompts, seeds, version — must agree, or the run stops with every difference.
- `baseline_facts` (controller): what the report builder compares the run with (report/build.py: the
  rest of the manifest, then the paired comparison).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from clue_checks import __version__
from clue_checks.record import SampleRecord
from clue_checks.report.build import BaselineFacts
from clue_checks.report.compare.baseline import baseline_of
from clue_checks.report.compare.manifest_check import ComparabilityError, require_comparable
from clue_checks.report.manifest import prompts_sha256, sha256_file
from clue_checks.report.numbers.thresholds import ThresholdsError, parse
from clue_checks.report.run_dir import RunDir, RunDirError, load_run_dir
from clue_checks.runner import Run
from clue_checks.sample_verdict import SampleCheck
from clue_checks.settings import Settings
from clue_checks.tasks import Sample
from clue_checks.tasks.longhealth import LONGHEALTH_SEED
from clue_checks.tasks.shots import SHOT_SEED
from clue_checks.tasks.thresholds import as_toml

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
            assert self.settings.baseline_dir is not None
            self._dir = load_run_dir(self.settings.baseline_dir)  # checked readable at start (RunDirError)
        return self._dir

    # -- a second model in this session ---------------------------------------------------

    def connect(self, main: Run, tasks: Sequence[str], *, concurrency_share: float) -> None:
        """Connect to the baseline endpoint with the model's settings (its own name and revision discovered);
        raises EndpointError / TemplateUnavailable / TokenizerUnavailable, or ValueError when the two models'
        requests would differ (wire mode, prompt layout, generation parameters) unless forced."""
        s = self.settings
        self.run = Run(replace(s, endpoints=s.baseline_endpoints, model_name=None, model_revision=None,
                               baseline_endpoints=()), catalog=main.catalog)
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
        if self.settings.baseline_dir is not None:
            if self._records is None:
                self._records = {(r.task, r.sample_id): r for r in self.dir.records}
            record = self._records.get((sample.task, sample.id))
            return baseline_of(record) if record is not None else None
        if self.run is None:
            return None
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


def _known_tasks_floors(report: Mapping[str, Any], run: Run) -> Mapping[str, Any]:
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
