"""One sample's verdict and the failure message a person triaging it needs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from .report.aggregate import SampleRecord
from .runner import Evaluated
from .tasks.base import SampleResult, Task, shown_against

PROMPT_TAIL = 600  # characters of the prompt's end shown on failure


def record_from(data: Mapping[str, Any]) -> SampleRecord:
    return SampleRecord.from_dict(data)


def _shown(value: float, floor: float | None) -> str:
    return shown_against(value, floor, digits=4)


class SampleCheck:
    """Handed to each sample test: `check()` asserts the task's per-sample verdict."""

    def __init__(self, task: Task, evaluated: Evaluated, floors: Mapping[str, float], index: int) -> None:
        self.task = task
        self.evaluated = evaluated
        self.floors = dict(floors)
        self.result: SampleResult = task.score(evaluated.sample, evaluated.scored_text, floors)
        self.record = SampleRecord(
            task=task.name,
            sample_id=evaluated.sample.id,
            index=index,
            outcome="passed" if self.result.passed else "failed",
            metrics=dict(self.result.metrics),
            not_computed=dict(self.result.not_computed),
            source=evaluated.outcome.source,
            reason=self.result.reason,
            response=evaluated.scored_text,
            reference=evaluated.sample.reference,
        )

    @property
    def response(self) -> str:
        return self.evaluated.scored_text

    def check(self) -> None:
        if not self.result.passed:
            # The message is the whole story; a traceback into the framework would only hide it.
            pytest.fail(self.explain(), pytrace=False)

    def explain(self) -> str:
        e = self.evaluated
        rendered = e.request.prompt if e.request.prompt is not None else "\n".join(
            f"[{m.role}] {m.content}" for m in e.request.messages)
        tail = rendered[-PROMPT_TAIL:]
        metrics = ", ".join(
            f"{k}={_shown(v, self.floors.get(k))}" if v is not None else f"{k}=not computed ({self.result.not_computed.get(k, '?')})"
            for k, v in self.result.metrics.items())
        raw = e.outcome.completion.text
        batched = ", ".join(self.task.batched_metrics)
        lines = [
            f"{e.sample.test_id} failed: {self.result.reason}",
            f"metrics: {metrics}" + (f" ({batched}: computed over the whole task at the end of the run, "
                                     "see the report's predictions file)" if batched else ""),
            f"reference: {e.sample.reference!r}",
            f"response:  {e.scored_text!r}",
        ]
        if raw != e.scored_text:
            lines.append(f"raw response (before CLUE's clean-up): {raw!r}")
        focus = self.task.focus(e.sample)
        if focus:
            lines.append("question:\n" + focus)
        lines += [
            f"finish reason: {e.outcome.completion.finish_reason}; from {e.outcome.source}",
            f"end of prompt ({e.request.mode} mode, last {len(tail)} of {len(rendered)} chars):",
            ("…" if len(rendered) > len(tail) else "") + tail,
        ]
        return "\n".join(lines)
