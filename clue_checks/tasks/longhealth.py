"""LongHealth tasks 1, 2, 3: multiple choice over long clinical documents (docs/clue-faithfulness.md#longhealth).

The file is read in `longhealth_data.py`, answers are read in `longhealth_answers.py`; here the documents are
packed and the prompts built and scored.

Task 1: the patient's own documents (answer documents first), options A–E.
Task 2: the answer documents plus 10 texts of *other* patients, options A–F.
Task 3: only the 10 foreign texts, options A–F; the answer is always F.
Five prompts per question per task: task 1 repeats differ only in the document shuffle; tasks 2/3
are CLUE's ten iterations j=0…9 (odd j → task 2, even j → task 3), each drawing its own texts.

CLUE quirks reproduced (docs/clue-faithfulness.md#known-defects):
* Documents are packed with the model tokenizer's `encode()` counts, BOS included in every piece
  (question, options string, the raw template with its placeholders, each document, separator).
* The separator is counted as "\\n\\n-------------- NEW DOCUMENT --------------\\n\\n" but the shorter
  "\\n\\n--------------\\n\\n" is inserted.
* Budget = 8140 (or, profile `head` tasks 2/3, the model's whole window) − tokens of the system
  prompt; nothing is reserved for the chat template or the 50 generated tokens, so `head` task 2/3
  prompts can exceed the window.
* The first document that does not fit is cut to max(budget − used, 0) tokens, possibly to "" (a
  document that fits exactly still adds a counted separator; after an answer document overflows, the
  first other document is added empty), and packing stops. An empty document keeps its separator.
* The ground-truth letter is the option whose text *contains* `correct`; the first (`head`) or last
  (`paper`) match wins. Tasks 2/3 walk option F too, as CLUE added `answer_f` before matching.
* Answers are parsed with `The correct answer is (\\w):`, first match, case-sensitive; anything else
  is wrong.
* Paper profile clean-up: a Phi model's answer is cut at " <|end|>" in task 1 only (CLUE's script did
  it in its task 1 loop, not in the loop that served tasks 2 and 3); no self-prompting clean-up.

Deliberate differences:
* Every shuffle and draw is seeded per prompt from (LONGHEALTH_SEED, task, patient, question, repeat);
  CLUE used the unseeded global RNG, so no CLUE run can be matched draw for draw.
* The question records are not mutated: task 1 always shows A–E (CLUE added F in place).
* A cut document is the text of its first n tokens without special tokens (no literal "<s>").
* With fewer than 10 foreign texts (small test data) all are used, as CLUE's `min(n, len(texts))` did.
* `accuracy_lenient` is reported beside CLUE's strict `accuracy` (see `lenient_letter`), and `parsed`
  (the share CLUE's pattern matched at all). The sample verdict is CLUE's strict one.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clue_checks.data.errors import DataError
from clue_checks.tasks.base import LoadedTask, Prompt, Sample, SampleResult, Task, clue_prompts, conversation
from clue_checks.tasks.longhealth_answers import ABSTAINS, lenient_letter, stated_letters, strict_letter
from clue_checks.tasks.longhealth_data import OPTION_KEYS, Benchmark, Patient, Question, ground_truth, load_benchmark
from clue_checks.tasks.profiles import Profile
from clue_checks.tasks.tokens import TokenCounter, TokenizerUnavailable, shared

LONGHEALTH_SEED = 1  # seeds every document shuffle and foreign draw; belongs in the report's seeds
DATA_PATH = "LongHealth/benchmark_v5.json"
REPEATS = 5  # prompts per question per task
N_FOREIGN = 10  # texts of other patients per task 2/3 prompt


# -- packing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Packing:
    documents: tuple[str, ...]  # in packing order (answer documents first), before the shuffle
    used: int  # CLUE's running token count at the end
    cut: tuple[int, ...]  # indices of documents cut to fit (possibly to "")


def pack(counter: TokenCounter, budget: int, fixed: Sequence[str], answer_docs: Sequence[str],
         other_docs: Sequence[str]) -> Packing:
    """CLUE's `create_prompt` accounting (module docstring): fixed pieces, answer docs, then the others."""
    separator = counter.count(clue_prompts()["longhealth"]["counted_separator"])
    used = sum(counter.count(piece) for piece in fixed)
    documents: list[str] = []
    cut: list[int] = []
    for group in (answer_docs, other_docs):
        for doc in group:
            size = counter.count(doc)
            if used + size <= budget:
                documents.append(doc)
                used += size + separator
            else:
                cut.append(len(documents))
                documents.append(counter.head(doc, max(budget - used, 0)))
                used = budget
                break  # stop this group; the next group's first document is then cut to ""
    return Packing(tuple(documents), used, tuple(cut))


# -- the tasks ---------------------------------------------------------------------------------


class LongHealthTask(Task):
    """Shared by the three tasks; a subclass names its part and chooses its documents."""

    part: str  # "t1", "t2", "t3": the key of Profile.longhealth_budget
    letters: str  # the option letters shown
    level = 2
    data_path = DATA_PATH
    metric_names = ("accuracy", "accuracy_lenient", "parsed")
    self_prompting_cleanup = False  # CLUE's TGI era did not apply it to LongHealth
    # CLUE's LongHealth script made the Phi " <|end|>" cut in its task 1 loop only, not in the loop that
    # answered tasks 2 and 3: task 1 turns it back on.
    phi_cut = False

    def __init__(self, profile: Profile, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(profile, options)
        self._benchmark: Benchmark | None = None
        self._counter: Callable[[], TokenCounter] | None = None
        self._window: int | None = None

    def use_token_counter(self, counter: TokenCounter | Callable[[], TokenCounter], *,
                          window: int | None = None) -> None:
        """The model's tokenizer (or a zero-argument factory, called on the first prompt) and its window."""
        self._counter = shared((lambda: counter) if isinstance(counter, TokenCounter) else counter)
        self._window = window

    # -- data

    def load(self, data_dir: Path) -> LoadedTask:
        benchmark = load_benchmark(data_dir / self.data_path)
        samples = []
        for patient in benchmark.patients.values():
            for question in patient.questions.values():
                reference = self.reference(benchmark, patient, question)
                for repeat in range(REPEATS):
                    record = {"patient": patient.id, "question": question.no, "repeat": repeat}
                    samples.append(Sample(self.name, f"{patient.id}/q{question.no:02d}/r{repeat}", record, reference))
        self._benchmark = benchmark
        return LoadedTask((), tuple(samples), benchmark.path)

    def reference(self, benchmark: Benchmark, patient: Patient, question: Question) -> str:
        letter = ground_truth(question, with_f=self.letters.endswith("F"), match=self.profile.longhealth_gt_match)
        if letter is None:
            raise DataError(benchmark.path,
                            f"field 'correct' ({question.correct!r}) is not part of any option's text, so it names "
                            "no letter", where=f"patient {patient.id!r}, question {question.no}")
        return letter

    def documents(self, benchmark: Benchmark, patient: Patient, question: Question,
                  rng: random.Random) -> tuple[list[str], list[str]]:
        """(answer documents, other documents) in packing order."""
        raise NotImplementedError

    # -- prompting

    def prompt(self, sample: Sample, shots: Sequence[Sample]) -> Prompt:
        if self._benchmark is None:
            raise RuntimeError(f"{self.name}: load() the data before building prompts")
        texts = clue_prompts()["longhealth"]
        patient = self._benchmark.patients[sample.record["patient"]]
        question = patient.questions[sample.record["question"]]
        # One generator per prompt, drawn in a fixed order: independent of process, order and worker.
        rng = random.Random(f"{LONGHEALTH_SEED}:{self.name}:{patient.id}:{question.no}:{sample.record['repeat']}")
        answer_docs, other_docs = self.documents(self._benchmark, patient, question, rng)
        options = self.options_text(question)
        counter = self.counter()
        packing = pack(counter, self.budget(counter), (question.text, options, texts["user"]), answer_docs, other_docs)
        documents = list(packing.documents)
        rng.shuffle(documents)
        user = texts["user"].format(documents=texts["document_separator"].join(documents),
                                    question_text=question.text, options=options)
        return Prompt(
            conversation(texts["system"], (), user),
            max_new_tokens=self.profile.max_new_tokens["longhealth"],
        )

    def cluster_of(self, sample: Sample) -> str | None:
        # The repeats of one question (`patient/qNN/rK`) are one question, and tasks 1-3 ask the same ones.
        return "longhealth:" + sample.id.rsplit("/r", 1)[0]

    def focus(self, sample: Sample) -> str | None:
        # The prompt ends with CLUE's answer-format instructions; the question sits before them.
        if self._benchmark is None:
            return None
        question = self._benchmark.patients[sample.record["patient"]].questions[sample.record["question"]]
        return f"{question.text}\n{self.options_text(question)}"

    def options_text(self, question: Question) -> str:
        options = dict(question.options)
        lines = [f"{key[-1].upper()}: {options[key]}" for key in OPTION_KEYS]
        if "F" in self.letters:
            lines.append(f"F: {clue_prompts()['longhealth']['option_f']}")
        return "\n".join(lines)

    def counter(self) -> TokenCounter:
        if self._counter is None:
            raise TokenizerUnavailable("LongHealth packs documents to a token budget with the model's tokenizer, "
                                       "and none was given (the runner calls use_token_counter after connecting)")
        return self._counter()

    def budget(self, counter: TokenCounter) -> int:
        """Tokens for the user prompt: the profile's budget (None: the model's window) minus the system prompt."""
        total = self.profile.longhealth_budget.get(self.part)
        if total is None:
            if self._window is None:
                raise TokenizerUnavailable(
                    f"{self.title} under profile {self.profile.name!r} packs documents to the model's whole context "
                    "window (CLUE's vLLM era), but the endpoint reported none (TGI /info max_total_tokens, vLLM "
                    "max_model_len); use --clue-profile paper for the 8,140-token budget")
            total = self._window
        return total - counter.count(clue_prompts()["longhealth"]["system"])

    # -- scoring

    def score(self, sample: Sample, response: str, floors: Mapping[str, float]) -> SampleResult:
        gold = sample.reference
        parsed = strict_letter(response)
        letter, form = lenient_letter(response, self.letters)
        abstained = "F" in self.letters and bool(ABSTAINS.search(response))
        lenient = letter or ("F" if abstained else None)
        correct = parsed == gold
        lenient_correct = lenient == gold or (gold == "F" and abstained)
        metrics: dict[str, float | None] = {
            "accuracy": float(correct), "accuracy_lenient": float(lenient_correct), "parsed": float(parsed is not None)}
        # `stated` and `says_unanswerable` are for triage (failure kinds) only; on task 1 too, where F is no option.
        details = {"parsed": parsed, "ground_truth": gold, "lenient": lenient, "lenient_form": form,
                   "abstained": abstained, "stated": stated_letters(response),
                   "says_unanswerable": bool(ABSTAINS.search(response))}
        gold_text = f"{gold} (the documents do not answer the question)" if self.part == "t3" else gold
        if correct:
            return SampleResult(metrics, True, f"parsed {parsed} = ground truth {gold}", details)
        if parsed is not None:
            why = f"parsed {parsed!r}, ground truth {gold_text}"
            if parsed == "F" and self.part == "t2":
                why += "; the documents do answer it"
            elif abstained and gold == "F":
                why += "; but the model also says the documents do not answer it (counted by accuracy_lenient)"
            return SampleResult(metrics, False, why, details)
        found = (f"the lenient parser found {letter} ({form})" if letter
                 else "the model says the documents do not answer it" if abstained
                 else "the lenient parser found no letter either")
        why = (f"no 'The correct answer is X:' in the answer (CLUE's pattern; scored wrong); {found}; "
               f"ground truth {gold_text}")
        return SampleResult(metrics, False, why, details)


class LongHealthT1(LongHealthTask):
    name = "longhealth-t1"
    title = "LongHealth task 1"
    part = "t1"
    letters = "ABCDE"
    phi_cut = True

    def documents(self, benchmark: Benchmark, patient: Patient, question: Question,
                  rng: random.Random) -> tuple[list[str], list[str]]:
        answer = set(question.answer_docs)
        return ([patient.texts[t] for t in question.answer_docs],
                [text for tid, text in patient.texts.items() if tid not in answer])


def foreign_texts(benchmark: Benchmark, patient: Patient, rng: random.Random) -> list[str]:
    """N_FOREIGN texts drawn without replacement from all texts of the other patients."""
    start, end = benchmark.slices[patient.id]
    population = len(benchmark.all_texts) - (end - start)
    # Draw positions in the list without this patient's slice; no per-prompt copy of the population.
    picks = rng.sample(range(population), min(N_FOREIGN, population))
    chosen = (benchmark.all_texts[i if i < start else i + end - start] for i in picks)
    return [benchmark.patients[pid].texts[tid] for pid, tid in chosen]


class LongHealthT2(LongHealthTask):
    name = "longhealth-t2"
    title = "LongHealth task 2"
    part = "t2"
    letters = "ABCDEF"

    def documents(self, benchmark: Benchmark, patient: Patient, question: Question,
                  rng: random.Random) -> tuple[list[str], list[str]]:
        return [patient.texts[t] for t in question.answer_docs], foreign_texts(benchmark, patient, rng)


class LongHealthT3(LongHealthTask):
    name = "longhealth-t3"
    title = "LongHealth task 3"
    part = "t3"
    letters = "ABCDEF"

    def reference(self, benchmark: Benchmark, patient: Patient, question: Question) -> str:
        super().reference(benchmark, patient, question)  # the same data check as tasks 1 and 2
        return "F"

    def documents(self, benchmark: Benchmark, patient: Patient, question: Question,
                  rng: random.Random) -> tuple[list[str], list[str]]:
        return [], foreign_texts(benchmark, patient, rng)
