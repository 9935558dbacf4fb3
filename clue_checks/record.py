"""What crosses xdist's wire between the processes of a run, as plain JSON-able values.

- `SampleRecord`: what one sample test reports (the sample side builds it, the report side reads it); its
  prompt, response and reference travel as a `TextRef` to the process's spool file (text_spool.py).
- `RunDescription`: what a sample session learned when it connected.
- `WorkerReport`: what an xdist worker hands the controller when it finishes (its `workeroutput`).

Both sides import this module; it imports nothing of theirs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, ClassVar

from clue_checks.text_spool import TEXT_KEYS, TextRef, TextSpool


@dataclass(frozen=True, slots=True)  # one per sample, kept for the whole run: no per-instance dict
class SampleRecord:
    """What one sample test reports (built-in types only: it crosses xdist's wire as a dict)."""

    task: str
    sample_id: str
    index: int  # position in the task's scoring order, so aggregation is order-independent
    outcome: str  # "passed", "failed" or "error"
    metrics: Mapping[str, float | None] = field(default_factory=dict)
    not_computed: Mapping[str, str] = field(default_factory=dict)
    source: str | None = None  # "sent", "store", or "shared" (an identical request of another sample)
    reason: str = ""
    response: str | None = None
    reference: str | None = None
    # Samples that are not independent share a cluster (a LongHealth question across its repeats and
    # tasks 1-3, a MeDiSumQA discharge note); intervals resample whole clusters. None: its own cluster.
    cluster: str | None = None
    kinds: tuple[str, ...] = ()  # failure kinds (triage), beside the scores, never changing them
    finish_reason: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    latency_s: float | None = None
    prompt: str | None = None  # the rendered prompt, or the messages as "[role] content" lines
    parsed: str | None = None  # the answer the task's parser read from the response, where it has one
    node_id: str | None = None
    # In comparison mode: the baseline's answer to the same sample (report/baseline_report.baseline_of)
    baseline: Mapping[str, Any] | None = None
    # Where its prompt, response and reference lie while the run goes on (text_spool.py); they are None here then
    texts: TextRef | None = None

    def spooled(self, spool: TextSpool) -> "SampleRecord":
        """The record with its long texts in `spool` (raises TextSpoolError naming the file)."""
        if self.texts is not None:
            return self
        ref = spool.put({key: getattr(self, key) for key in TEXT_KEYS})
        return replace(self, prompt=None, response=None, reference=None, texts=ref)

    def filled(self) -> "SampleRecord":
        """The record with its texts read back, as it was before `spooled` (raises TextSpoolError)."""
        if self.texts is None:
            return self
        return replace(self, texts=None, **self.texts.read())

    def as_dict(self) -> dict[str, Any]:
        return {
            "task": self.task, "sample_id": self.sample_id, "index": self.index, "outcome": self.outcome,
            "metrics": dict(self.metrics), "not_computed": dict(self.not_computed), "source": self.source,
            "reason": self.reason, "response": self.response, "reference": self.reference,
            "cluster": self.cluster, "kinds": list(self.kinds), "finish_reason": self.finish_reason,
            "tokens_in": self.tokens_in, "tokens_out": self.tokens_out, "latency_s": self.latency_s,
            "prompt": self.prompt, "parsed": self.parsed, "node_id": self.node_id,
            **({"baseline": dict(self.baseline)} if self.baseline is not None else {}),
            **({"texts": self.texts.as_dict()} if self.texts is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SampleRecord":
        fields = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        if "kinds" in fields:
            fields["kinds"] = tuple(fields["kinds"] or ())
        if fields.get("texts") is not None:
            fields["texts"] = TextRef.from_dict(fields["texts"])
        return cls(**fields)


@dataclass(frozen=True)
class RunDescription:
    describe: Mapping[str, Any]  # Run.describe(): endpoints, server kind, model id and revision, api, profile
    endpoint_info: Mapping[str, Any] | None  # the server's own /info or /v1/models answer
    chat_template: str | None  # the template that rendered the prompts (generate mode), if any
    chat_template_note: str  # why there is none, when there is none
    generation: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # task -> generation parameters
    selected: Mapping[str, int] = field(default_factory=dict)  # samples collected per task (all workers alike)
    warnings: tuple[str, ...] = ()  # Run.mode_warnings(): what this run's requests cannot do that CLUE's did

    def as_dict(self) -> dict[str, Any]:
        return {"describe": dict(self.describe), "endpoint_info": self.endpoint_info,
                "chat_template": self.chat_template, "chat_template_note": self.chat_template_note,
                "generation": {k: dict(v) for k, v in self.generation.items()}, "selected": dict(self.selected),
                "warnings": list(self.warnings)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RunDescription":
        return cls(MappingProxyType(dict(data["describe"])), data.get("endpoint_info"), data.get("chat_template"),
                   data.get("chat_template_note", ""), MappingProxyType(dict(data.get("generation") or {})),
                   MappingProxyType(dict(data.get("selected") or {})), tuple(data.get("warnings") or ()))

    def merged(self, other: "RunDescription") -> "RunDescription":
        """Another process's description: the generation parameters of tasks this one did not render."""
        return RunDescription(self.describe, self.endpoint_info, self.chat_template, self.chat_template_note,
                              MappingProxyType({**other.generation, **self.generation}), self.selected, self.warnings)


@dataclass(frozen=True)
class WorkerReport:
    """An xdist worker's account of its run, put in its `workeroutput` after its session finished and read
    by the controller in `pytest_testnodedown` (a worker killed before then sends none)."""

    KEY: ClassVar[str] = "clue_worker_report"  # the one `workeroutput` key
    VERSION: ClassVar[int] = 1  # a controller refuses a report of another version rather than misread it

    requests: Mapping[str, int]  # Run.request_counts(): sent, failed, from the store, shared
    request_stats: Mapping[str, Any] | None  # Run.request_stats(): latencies and tokens
    baseline_requests: Mapping[str, int] | None = None  # what the baseline endpoint was sent, when one is compared
    description: RunDescription | None = None  # what the worker learned when it connected

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.VERSION, "requests": dict(self.requests),
                "request_stats": dict(self.request_stats) if self.request_stats is not None else None,
                "baseline_requests": dict(self.baseline_requests) if self.baseline_requests is not None else None,
                "description": self.description.as_dict() if self.description is not None else None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "WorkerReport":
        if data.get("version") != cls.VERSION:
            raise ValueError(f"worker report version {data.get('version')!r}, expected {cls.VERSION}")
        description = data.get("description")
        return cls(dict(data.get("requests") or {}), data.get("request_stats"), data.get("baseline_requests"),
                   RunDescription.from_dict(description) if description is not None else None)

    def put(self, workeroutput: dict[str, Any]) -> None:
        """Into a worker's `config.workeroutput` (xdist sends it after the worker's session finished)."""
        workeroutput[self.KEY] = self.as_dict()

    @classmethod
    def taken_from(cls, workeroutput: Mapping[str, Any] | None) -> "WorkerReport | None":
        """From a finished worker's output; None when it sent none (no CLUE sample ran there, or it died)."""
        data = (workeroutput or {}).get(cls.KEY)
        return cls.from_dict(data) if data is not None else None
