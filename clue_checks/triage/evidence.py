"""What the detectors look at: one sample's response, verdict and the task's own reading of it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Evidence:
    """One scored (or errored) sample, in plain values: the detectors are pure functions of it.

    `details` is the task's `SampleResult.details`: MedNLI `label_counts`; LongHealth `parsed`, `ground_truth`,
    `lenient`, `stated`, `says_unanswerable`; MeDiSumCode (and a task file's codes parser) `predicted`, `gold`,
    `invalid`; a task file's `parsed_answer`, and `named` (the choices its text names).
    """

    task: str  # the task name, e.g. "longhealth-t3"
    passed: bool  # the task's sample verdict (CLUE's scoring, unchanged)
    response: str | None = None  # the scored text (after CLUE's clean-up); None when the request failed
    raw: str | None = None  # the model's text as received; None: same as `response`
    finish_reason: str | None = None  # as the server said: "length", "eos_token", "stop", ...
    error: str | None = None  # why there is no response (the request failed); None when there is one
    metrics: Mapping[str, float | None] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)
    reference: str | None = None  # the ground truth (a LongHealth letter, a MedNLI label, ...)
    options: str = ""  # LongHealth: the letters offered ("ABCDE" on task 1, "ABCDEF" on tasks 2/3)
    floors: Mapping[str, float] = field(default_factory=dict)  # the per-sample floors set for the task
    # What the detectors read of the task itself, never its name (`Task.answer_reader` and the rest):
    reader: str = "text"  # how answers are read: labels, letters, codes, choices, regex or text
    looked_for: tuple[str, ...] | None = None  # the kinds looked for; None: the kinds table's entry for `task`
    overlap_metrics: tuple[str, ...] | None = None  # the metrics `low_overlap` reads; None: ROUGE

    @property
    def generated(self) -> str:
        """The text the model generated: raw when known (loops are often cut away by the clean-up)."""
        return self.raw if self.raw is not None else (self.response or "")


def evidence_for(task: Any, evaluated: Any, result: Any, floors: Mapping[str, float] | None = None) -> Evidence:
    """Evidence of a scored sample: `task` a Task, `evaluated` the runner's Evaluated, `result` its SampleResult."""
    completion = evaluated.outcome.completion
    options = getattr(task, "letters", "")
    return Evidence(
        task=task.name, passed=bool(result.passed), response=evaluated.scored_text, raw=completion.text,
        finish_reason=completion.finish_reason, metrics=dict(result.metrics), details=dict(result.details),
        reference=evaluated.sample.reference, options=options, floors=dict(floors or {}),
        reader="letters" if options else getattr(task, "answer_reader", "text"),
        looked_for=getattr(task, "failure_kinds", None), overlap_metrics=getattr(task, "overlap_metrics", None),
    )


def evidence_for_error(task: str, error: str, reference: str | None = None) -> Evidence:
    """Evidence of a sample whose request failed: no response, so `endpoint_error` and nothing else."""
    return Evidence(task=task, passed=False, error=error, reference=reference)
