"""What every CLUE task provides: load → shots → prompt → clean → score → sample verdict.

A task knows nothing of HTTP. It turns records into a `Prompt` (what to ask: the turns, the
assistant prefix CLUE prefilled, the answer's length and stop strings) and turns the model's text
into metric values and a pass/fail verdict for one sample. How a prompt goes on the wire (TGI
`truncate`, model stop strings, the layout without a system role) is the renderer's
(`clue_checks/rendering_specs.py`).
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from clue_checks.metrics import BatchedValues
from clue_checks.score_display import shown_for_verdict
from clue_checks.tasks.families import has_quirk, require_family
from clue_checks.tasks.profiles import Profile


@lru_cache(maxsize=1)
def clue_prompts() -> dict[str, Any]:
    """CLUE's prompt texts, verbatim, from the one data file that carries their attribution."""
    return json.loads(resources.files(__package__).joinpath("clue_prompts.json").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Sample:
    task: str
    id: str
    record: Mapping[str, Any]
    reference: str

    @property
    def test_id(self) -> str:
        return f"{self.task}:{self.id}"


@dataclass(frozen=True)
class Turn:
    """One turn of a conversation: `role` is "system", "user" or "assistant"."""

    role: str
    content: str


@dataclass(frozen=True)
class Prompt:
    """What to ask: a conversation in CLUE's layout (system, shot pairs, target user turn) and what the
    answer needs."""

    messages: tuple[Turn, ...]
    max_new_tokens: int
    assistant_prefix: str = ""  # prefilled after the rendered chat template (paper profile)
    # The task's own stop strings (a task file's [generation] stop), sent in both API modes.
    stop_sequences: tuple[str, ...] = ()


@dataclass(frozen=True)
class SampleResult:
    """Per-sample outcome. `metrics` values are floats, or None when not computable (see `not_computed`)."""

    metrics: dict[str, float | None]
    passed: bool
    reason: str
    details: dict[str, Any] = field(default_factory=dict)
    not_computed: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadedTask:
    """The shots and the scored samples of one task, in scoring order."""

    shots: tuple[Sample, ...]
    samples: tuple[Sample, ...]
    source: Path
    extra_sources: tuple[Path, ...] = ()  # other files the task is defined by (a task file), for the manifest

    @property
    def sources(self) -> tuple[Path, ...]:
        """Every file the task read: its data, then what defines it (the manifest hashes each)."""
        return (self.source, *self.extra_sources)


# The TGI-era clean-up of "self-prompting" continuations; `.` stops at line ends (docs/clue-faithfulness.md#clean-up).
_SELF_PROMPTING = re.compile(r"(You are an AI.*)|(\[INST\].*)|((<\|user\|>).*)")


class Task(ABC):
    """One evaluation task: the public API the six CLUE tasks and users' own tasks are written on.

    A task turns its data file into `Sample`s (`load`), a sample and its shots into a `Prompt` (`prompt`),
    the model's text into the text it scores (`clean`) and that text into metric values and the sample's
    verdict (`score`). It knows nothing of HTTP: the renderer makes the request, the runner sends it, the
    report aggregates the scores. Subclass it, set the class attributes below, and implement `load`,
    `prompt` and `score`; name it in a test module with ``pytest.mark.clue_task("name")`` after registering
    it through the ``clue_checks.tasks`` entry-point group (or write a task file instead: docs/own-tasks.md).

    Example::

        class Triage(Task):
            name, title = "triage", "Triage level"
            metric_names = ("accuracy",)

            def load(self, data_dir):  ...  # -> LoadedTask(shots, samples, source)
            def prompt(self, sample, shots):  ...  # -> Prompt(messages, max_new_tokens=5)
            def score(self, sample, response, floors):
                right = response.strip().lower() == sample.reference
                return SampleResult({"accuracy": float(right)}, right, "right" if right else "wrong")
    """

    name: str  # the id prefix, e.g. "meqsum"
    title: str
    level: int | str | None = None  # CLUE Level 1 or 2; None: not CLUE's, reported beside the levels; a name: a
    #                                 level of the user's own, averaged over the tasks naming it
    data_path: str = ""  # relative to --clue-data, as in CLUE's data/ folder
    self_prompting_cleanup: bool = True
    #: the data may only go to endpoints its licence allows (PhysioNet's credentialed data: MIMIC-derived)
    credentialed: bool = False
    #: the task file it was read from (None: a task written in Python)
    task_file: Path | None = None
    #: what identifies the task's definition beyond its name (a task file's SHA-256); None for CLUE's tasks
    identity: str | None = None
    #: how its answers are read, for the failure kinds (triage/): "labels" (MedNLI), "codes" (ICD-10 lists),
    #: "choices" or "regex" (a task file's parsers), "text" (free text); a task offering option `letters`
    #: (LongHealth) is read as "letters"
    answer_reader: str = "text"
    #: the failure kinds looked for on it; None: the kinds table's entry for its name (CLUE's tasks)
    failure_kinds: tuple[str, ...] | None = None
    #: the continuous metrics `low_overlap` holds to their floors; None: ROUGE, as on CLUE's summaries
    overlap_metrics: tuple[str, ...] | None = None

    @property
    def request_scope(self) -> str:
        """The task's part of each response-store key, beside the request itself: empty for CLUE's tasks (their
        keys stay as they were), the task file's identity for a file's task, so an edited file is asked again."""
        return f"task-file:{self.identity}" if self.identity else ""

    def __init__(self, profile: Profile, options: Mapping[str, Any] | None = None) -> None:
        self.profile = profile
        # Run options a task's metrics need (e.g. a local BERTScore model); never HTTP settings.
        self.options: Mapping[str, Any] = dict(options or {})

    # -- data ------------------------------------------------------------------------------

    @abstractmethod
    def load(self, data_dir: Path) -> LoadedTask:
        """Read the task's file; raise DataError naming file, line/row and field on bad input."""

    # -- prompting -------------------------------------------------------------------------

    @abstractmethod
    def prompt(self, sample: Sample, shots: Sequence[Sample]) -> Prompt: ...

    def few_shot_prompt(self, sample: Sample, shots: Sequence[Sample], *, answer_field: str) -> Prompt:
        """CLUE's instruction-task prompt: system, shot pairs, target; the prefix is the answer template
        formatted with an empty answer ("Question: ", "ICD-10 Codes: ", …), prefilled in the paper profile."""
        texts = clue_prompts()[self.name]
        user = texts["user"][self.profile.name] if isinstance(texts["user"], dict) else texts["user"]
        assistant = texts["assistant"][self.profile.name]
        return Prompt(
            conversation(texts["system"], [(user.format(**s.record), assistant.format(**s.record)) for s in shots],
                         user.format(**sample.record)),
            max_new_tokens=self.profile.max_new_tokens[self.name],
            assistant_prefix=assistant.format(**{answer_field: ""}) if self.profile.prefills_assistant_prefix else "",
        )

    #: CLUE's TGI-era scripts cut a Phi model's answer at " <|end|>" in every task but LongHealth tasks 2
    #: and 3 (its LongHealth script did it in the task 1 loop only)
    phi_cut: bool = True

    def clean(self, text: str, family: str) -> str:
        """CLUE's paper-era output post-processing (profile `paper`); `head` uses the raw text.

        `family` is the model family (`tasks.families`: "llama3", "phi", "llama3,phi" or "other"), not a model id: the
        runner resolves it once from `--clue-model-family` or the served model's name."""
        family = require_family(family)
        if not self.profile.postprocess:
            return text
        if self.phi_cut and has_quirk(family, "phi"):
            text = cut_at_phi_end(text)
        if self.self_prompting_cleanup:
            text = _SELF_PROMPTING.sub("", text)
        return text

    # -- scoring ---------------------------------------------------------------------------

    @abstractmethod
    def score(self, sample: Sample, response: str, floors: Mapping[str, float]) -> SampleResult:
        """Metric values and the sample verdict; `floors` are the per-sample thresholds."""

    #: metrics whose task score is a mean of the per-sample values, in report order
    metric_names: tuple[str, ...] = ()
    #: metrics computed once over all samples of the task (e.g. BERTScore), by the aggregator
    batched_metrics: tuple[str, ...] = ()
    #: metrics a `[sample]` floor may name (the sample's verdict checks them). Empty: the verdict is
    #: fixed by the task (a right answer), and a floor would be a check that never applies.
    floor_metrics: tuple[str, ...] = ()
    #: without any floor set, every sample passes (the summaries); False where the sample check has a
    #: verdict of its own (MeDiSumCode: a gold code predicted exactly)
    floor_is_the_check: bool = False

    def cluster_of(self, sample: Sample) -> str | None:
        """Samples that are not independent share a cluster id (intervals resample whole clusters); None:
        the sample is its own cluster. Ids are comparable across tasks that share their questions."""
        return None

    def focus(self, sample: Sample) -> str | None:
        """What the sample asks, for a failure message whose prompt tail would not show it (None: the tail does)."""
        return None

    def batch_score(self, pairs: Sequence[tuple[str, str]]) -> dict[str, BatchedValues]:
        """Batched metrics over (response, reference) pairs in scoring order; keys are `batched_metrics`."""
        return {}


def cut_at_phi_end(text: str) -> str:
    """CLUE's Phi clean-up: everything from the first " <|end|>" (with its leading space) is dropped."""
    cut = text.find(" <|end|>")
    return text[:cut] if cut >= 0 else text


def conversation(system: str, shots: Sequence[tuple[str, str]], target_user: str) -> tuple[Turn, ...]:
    """CLUE's layout: [system, user(shot1), assistant(shot1), …, user(target)]."""
    messages = [Turn("system", system)]
    for user, assistant in shots:
        messages.append(Turn("user", user))
        messages.append(Turn("assistant", assistant))
    messages.append(Turn("user", target_user))
    return tuple(messages)


def strip_echoed_prefix(text: str, prefix: str) -> str:
    """Chat mode cannot prefill; a model that writes CLUE's prefix itself is scored on what follows it."""
    stripped = prefix.strip()
    if stripped and text.lstrip().startswith(stripped):
        return text.lstrip()[len(stripped):].lstrip(" ")
    return text


def shown_against(value: float, floor: float | None, digits: int = 3) -> str:
    """`value` next to a per-sample floor: never rounded onto the floor's other side."""
    return shown_for_verdict(value, None if floor is None else (lambda v: v >= floor), digits)


def floor_verdict(metrics: Mapping[str, float | None], floors: Mapping[str, float], response: str,
                  default: str = "rougeL") -> tuple[bool, str]:
    """The per-sample check of the summarisation tasks: every floor set for their metrics holds.

    Without any floor the sample passes and says so (the thresholds file sets the bar). A metric
    that could not be computed is not held against the sample.
    """
    configured = [(m, metrics.get(m), f) for m, f in floors.items() if m in metrics]
    if not configured:
        return True, f"no per-sample floor set for {default}"
    unmet = [f"{m} F {shown_against(v, f)} < floor {f}" for m, v, f in configured if v is not None and v < f]
    if unmet:
        why = ", ".join(unmet)
        if not response.strip():
            why += " (empty response)"
        return False, why
    return True, ", ".join(f"{m} F {shown_against(v, f)} >= floor {f}" for m, v, f in configured if v is not None)
