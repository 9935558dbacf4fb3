"""One sample's verdict, its full record, and the failure message a person triaging it needs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from clue_checks.record import SampleRecord
from clue_checks.report.write.redact import redact_reason, redact_text
from clue_checks.runner import Evaluated
from clue_checks.tasks.base import SampleResult, Task, shown_against
from clue_checks.triage import evidence_for, kinds_for

PROMPT_TAIL = 600  # characters of the prompt's end shown on failure
TEXT_HEAD = 1200  # a long response is shown as its head and tail, with its size: the report has it whole
TEXT_TAIL = 800


def record_from(data: Mapping[str, Any]) -> SampleRecord:
    return SampleRecord.from_dict(data)


def _shown(value: float, floor: float | None) -> str:
    return shown_against(value, floor, digits=4)


def bounded(text: str, head: int = TEXT_HEAD, tail: int = TEXT_TAIL) -> str:
    """`repr(text)`, or for a long text its head and tail with the total size between them."""
    if len(text) <= head + tail:
        return repr(text)
    omitted = len(text) - head - tail
    return (f"{text[:head]!r} … [{omitted:,} of {len(text):,} characters not shown: the whole text is in the "
            f"report's predictions/ file] … {text[-tail:]!r}")


def rendered_prompt(evaluated: Evaluated) -> str:
    """The prompt as sent: the rendered text (generate mode) or the messages as "[role] content" lines."""
    request = evaluated.request
    if request.prompt is not None:
        return request.prompt
    return "\n".join(f"[{m.role}] {m.content}" for m in request.messages)


def parsed_answer(details: Mapping[str, Any]) -> str | None:
    """The answer the task's parser read from the response, where the task has a parser."""
    if details.get("parsed") is not None:
        return str(details["parsed"])
    predicted = details.get("predicted")
    if isinstance(predicted, (list, tuple)):
        return ", ".join(map(str, predicted))
    return None


class SampleCheck:
    """Handed to each sample test: `check()` asserts the task's per-sample verdict."""

    def __init__(self, task: Task, evaluated: Evaluated, floors: Mapping[str, float], index: int,
                 node_id: str | None = None, *, redact: bool = False, clean: Callable[[str], str] | None = None) -> None:
        # `clean`: what every text shown or written passes through (UTF-8-safe, secrets masked); scores
        # are computed on the text as received.
        self._clean = clean or (lambda text: text)
        self.task = task
        self.evaluated = evaluated
        self.floors = dict(floors)
        # In comparison mode: the baseline's answer to this sample (report/baseline_report.baseline_of)
        self.baseline: Mapping[str, Any] | None = None
        self.redact = redact  # --clue-redact: the messages show clinical text as hashes (CI logs are artefacts)
        self._explained: str | None = None
        self.result: SampleResult = task.score(evaluated.sample, evaluated.scored_text, floors)
        # Beside the verdict, never changing it: read from the scored result, after the task has decided.
        kinds = kinds_for(evidence_for(task, evaluated, self.result, floors))
        completion = evaluated.outcome.completion
        texts = {"reason": self.result.reason, "response": evaluated.scored_text, "reference": evaluated.sample.reference,
                 "prompt": rendered_prompt(evaluated), "parsed": parsed_answer(self.result.details)}
        if clean is not None:  # the record is made once, from the cleaned texts
            texts = {name: clean(value) if value else value for name, value in texts.items()}
        self.record = SampleRecord(
            task=task.name,
            sample_id=evaluated.sample.id,
            index=index,
            outcome="passed" if self.result.passed else "failed",
            metrics=dict(self.result.metrics),
            not_computed=dict(self.result.not_computed),
            source=evaluated.outcome.source,
            cluster=task.cluster_of(evaluated.sample),
            finish_reason=completion.finish_reason,
            tokens_in=completion.prompt_tokens,
            tokens_out=completion.generated_tokens,
            latency_s=completion.latency_s,
            node_id=node_id,
            kinds=kinds,
            **texts,
        )

    @property
    def response(self) -> str:
        return self.evaluated.scored_text

    def check(self) -> None:
        __tracebackhide__ = True  # pytest names the test's own line as where it failed
        if not self.result.passed:
            # The message is the whole story; a traceback into the framework would only hide it.
            pytest.fail(self.explain(), pytrace=False)

    def _text(self, text: str) -> str:
        """A clinical text as the messages show it: bounded, or its hash under --clue-redact."""
        return redact_text(text) if self.redact else bounded(text)

    def _reason(self) -> str:
        return redact_reason(self.result.reason) if self.redact else self.result.reason

    def _verdict_line(self, verdict: str, reason: str) -> str:
        """`mednli:123 failed [hedged, wrong_answer]: why`: the failure kinds first, where the eye lands."""
        kinds = f" [{', '.join(self.record.kinds)}]" if self.record.kinds else ""
        return f"{self.evaluated.sample.test_id} {verdict}{kinds}: {reason}"

    def headline(self) -> str:
        """One line: the sample, its failure kinds and why it failed (--tb=line / short)."""
        return self._clean(self._verdict_line("failed", " ".join(self._reason().split())))

    def metric_text(self) -> str:
        return ", ".join(
            f"{k}={_shown(v, self.floors.get(k))}" if v is not None
            else f"{k}=not computed ({self.result.not_computed.get(k, '?')})"
            for k, v in self.result.metrics.items())

    def explain(self) -> str:
        """The failure message (terminal and JUnit): bounded, UTF-8-safe, no secret. Built once: the report
        hook asks for it again to recognise the failure as this check's."""
        if self._explained is None:
            self._explained = self._clean(self._explain())
        return self._explained

    def _explain(self) -> str:
        e = self.evaluated
        rendered = rendered_prompt(e)
        tail = rendered[-PROMPT_TAIL:]
        raw = e.outcome.completion.text
        batched = ", ".join(self.task.batched_metrics)
        lines = [
            self._verdict_line("failed", self._reason()),
            f"metrics: {self.metric_text()}" + (f" ({batched}: computed over the whole task at the end of the run, "
                                                "see the report's predictions file)" if batched else ""),
            f"reference: {self._text(e.sample.reference)}",
            f"response:  {self._text(e.scored_text)}",
        ]
        if raw != e.scored_text:
            lines.append(f"raw response (before CLUE's clean-up): {self._text(raw)}")
        lines += self.baseline_lines()
        focus = self.task.focus(e.sample)
        if focus:
            lines.append("question:\n" + (redact_text(focus) if self.redact else focus))
        lines += [
            f"finish reason: {e.outcome.completion.finish_reason}; from {e.outcome.source}",
            f"end of prompt ({e.request.mode} mode, last {len(tail)} of {len(rendered)} chars):",
            redact_text(rendered) if self.redact else ("…" if len(rendered) > len(tail) else "") + tail,
        ]
        return "\n".join(lines)

    def baseline_lines(self) -> list[str]:
        """The baseline's answer beside this one (comparison mode): what it said and how it scored."""
        b = self.baseline
        if b is None:
            return []
        metrics = ", ".join(f"{k}={v:.4g}" if isinstance(v, (int, float)) else f"{k}=not computed"
                            for k, v in (b.get("metrics") or {}).items())
        lines = [f"baseline {b.get('outcome')}: {' '.join(str(b.get('reason') or '').split())}",
                 f"baseline metrics: {metrics or 'none'}"]
        if b.get("kinds"):
            lines.append(f"baseline failure kinds: {', '.join(b['kinds'])}")
        lines.append(f"baseline response: {self._text(b['response']) if isinstance(b.get('response'), str) else '—'}")
        return lines

    def passed_text(self) -> str:
        """What a passing sample shows under `-rP`: its verdict, metrics, reference and response."""
        e = self.evaluated
        return self._clean("\n".join([
            self._verdict_line("passed", self._reason()),
            f"metrics: {self.metric_text()}",
            f"reference: {self._text(e.sample.reference)}",
            f"response:  {self._text(e.scored_text)}",
            f"finish reason: {e.outcome.completion.finish_reason}; from {e.outcome.source}",
        ]))
