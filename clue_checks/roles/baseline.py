"""The run's baseline, in the plugin: a previous run's report folder (--clue-baseline) or a second model
answering the same prompts in the same session (--clue-baseline-endpoint).

- `BaselineSide` lives beside each sample session (the single process, or each xdist worker): it reads the
  baseline folder, or connects to the baseline endpoint and sends this process's share of the same
  samples' requests (concurrent with the model's, each sent once and stored), and gives each sample its
  baseline answer (`baseline_for`), which travels to the controller on the sample's record.
- the controller's side (baseline_check.py) checks a baseline folder at start and hands the report builder
  what to compare with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from clue_checks.record import SampleRecord
from clue_checks.report.compare.baseline import baseline_of
from clue_checks.report.run_dir import RunDir, load_run_dir
from clue_checks.runner import Run
from clue_checks.sample_verdict import SampleCheck
from clue_checks.settings import Settings
from clue_checks.tasks import Sample


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
