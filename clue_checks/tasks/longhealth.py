"""LongHealth tasks 1, 2, 3: multiple choice over long clinical documents (docs/clue-faithfulness.md#longhealth).

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

import json
import random
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clue_checks.data.errors import DataError
from clue_checks.data.readers import read_text, require_file
from clue_checks.tasks.base import LoadedTask, Prompt, Sample, SampleResult, Task, clue_prompts, conversation
from clue_checks.tasks.profiles import Profile
from clue_checks.tasks.tokens import TokenCounter, TokenizerUnavailable, shared

LONGHEALTH_SEED = 1  # seeds every document shuffle and foreign draw; belongs in the report's seeds
DATA_PATH = "LongHealth/benchmark_v5.json"
REPEATS = 5  # prompts per question per task
N_FOREIGN = 10  # texts of other patients per task 2/3 prompt
OPTION_KEYS = ("answer_a", "answer_b", "answer_c", "answer_d", "answer_e")
STRICT = re.compile(r"The correct answer is (\w):")


# -- data --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Question:
    no: int
    text: str
    options: tuple[tuple[str, str], ...]  # (answer_a…answer_e, text) in the file's key order
    correct: str  # the full text of the correct option, not a letter
    answer_docs: tuple[str, ...]  # text ids from answer_location, in key order


@dataclass(frozen=True)
class Patient:
    id: str
    texts: Mapping[str, str]  # text id → document, in file order
    questions: Mapping[int, Question]  # by "No", in file order


@dataclass(frozen=True)
class Benchmark:
    path: Path
    patients: Mapping[str, Patient]  # in file order
    # Every text of every patient, in file order, and each patient's [start, end) slice of it:
    # the population task 2/3 prompts draw foreign texts from.
    all_texts: tuple[tuple[str, str], ...]
    slices: Mapping[str, tuple[int, int]]


_cache: dict[Path, tuple[tuple[int, int], Benchmark]] = {}
_cache_lock = threading.Lock()


def load_benchmark(path: Path) -> Benchmark:
    """The parsed file, read once per process for all three tasks (re-read if it changes on disk)."""
    require_file(path)
    stat = path.stat()
    stamp = (stat.st_mtime_ns, stat.st_size)
    key = path.resolve()
    with _cache_lock:  # held while parsing: three tasks loading at once still read the file once
        hit = _cache.get(key)
        if hit is None or hit[0] != stamp:
            hit = (stamp, _parse(path))
            _cache[key] = hit
        return hit[1]


def _parse(path: Path) -> Benchmark:
    text = read_text(path)  # names the line of a byte that is not UTF-8; a byte-order mark is accepted
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        # CLUE's scripts/download_datasets.sh fetched a github.com /blob/ page (HTML), not the file.
        hint = ("this is an HTML page, not the JSON file: download the raw file (raw.githubusercontent.com), "
                "not a github.com/…/blob/ page") if text.lstrip()[:1] == "<" else None
        raise DataError(path, f"malformed JSON: {exc.msg}", where=f"line {exc.lineno} column {exc.colno}",
                        hint=hint) from None
    if not isinstance(data, dict) or not data:
        raise DataError(path, "expected a JSON object keyed by patient id (\"patient_01\", …)")
    patients: dict[str, Patient] = {}
    all_texts: list[tuple[str, str]] = []
    slices: dict[str, tuple[int, int]] = {}
    for pid, record in data.items():
        patient = _patient(path, pid, record)
        patients[pid] = patient
        slices[pid] = (len(all_texts), len(all_texts) + len(patient.texts))
        all_texts.extend((pid, tid) for tid in patient.texts)
    return Benchmark(path, patients, tuple(all_texts), slices)


def _require(path: Path, where: str, record: Mapping[str, Any], name: str, kind: type | tuple[type, ...],
             what: str) -> Any:
    if name not in record:
        present = ", ".join(sorted(map(str, record))) or "none"
        raise DataError(path, f"missing field {name!r} (fields present: {present})", where=where)
    value = record[name]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise DataError(path, f"field {name!r} must be {what}, got {type(value).__name__}", where=where)
    return value


def _patient(path: Path, pid: str, record: Any) -> Patient:
    where = f"patient {pid!r}"
    if not isinstance(record, dict):
        raise DataError(path, "each patient must be a JSON object", where=where)
    # `canaray-string` (sic), name, birthday and diagnosis are not needed and not required.
    texts = _require(path, where, record, "texts", dict, "an object of text id → document")
    if not texts:
        raise DataError(path, "field 'texts' is empty", where=where)
    for tid, text in texts.items():
        if not isinstance(text, str):
            raise DataError(path, f"field 'texts' entry {tid!r} must be text, got {type(text).__name__}", where=where)
    questions: dict[int, Question] = {}
    for position, raw in enumerate(_require(path, where, record, "questions", list, "a list"), start=1):
        question = _question(path, pid, position, raw, texts)
        if question.no in questions:
            raise DataError(path, f"question number {question.no} appears twice", where=where)
        questions[question.no] = question
    return Patient(pid, texts, questions)


def _question(path: Path, pid: str, position: int, raw: Any, texts: Mapping[str, str]) -> Question:
    where = f"patient {pid!r}, question #{position} in the list"
    if not isinstance(raw, dict):
        raise DataError(path, "each question must be a JSON object", where=where)
    no = _require(path, where, raw, "No", (int, str), "a question number")
    try:
        no = int(no)
    except ValueError:
        raise DataError(path, f"field 'No' must be a question number, got {no!r}", where=where) from None
    where = f"patient {pid!r}, question {no}"
    text = _require(path, where, raw, "question", str, "text")
    for key in OPTION_KEYS:
        _require(path, where, raw, key, str, "text")
    correct = _require(path, where, raw, "correct", str, "text (the correct option's text)")
    if not correct:
        raise DataError(path, "field 'correct' is empty (it would match every option)", where=where)
    location = _require(path, where, raw, "answer_location", dict, "an object keyed by text id")
    for tid in location:
        if tid not in texts:
            raise DataError(path, f"field 'answer_location' names {tid!r}, which is not in the patient's texts "
                                  f"({', '.join(texts)})", where=where)
    options = tuple((key, raw[key]) for key in raw if key in OPTION_KEYS)  # file key order, as CLUE walked it
    return Question(no, text, options, correct, tuple(location))


def ground_truth(question: Question, *, with_f: bool, match: str) -> str | None:
    """The letter of the option whose text contains `correct`; first or last match; None if none."""
    keys = [key for key, text in question.options if question.correct in text]
    if with_f and question.correct in clue_prompts()["longhealth"]["option_f"]:
        keys.append("answer_f")
    if not keys:
        return None
    return (keys[0] if match == "first" else keys[-1])[-1].upper()


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


# -- answers -----------------------------------------------------------------------------------

_LETTER = r"[*_\"'(\[]*(?:([A-F])(?![A-Za-z0-9])|([a-f])(?=[*_\"')\]]*[:)]))"
# Forms a reader would accept but CLUE's pattern does not, most specific first.
LENIENT_FORMS: tuple[tuple[str, re.Pattern[str]], ...] = (
    # Markdown emphasis may close after the label or the colon: "**The correct answer is:** C", "**Answer:** C".
    ("'correct answer is' + letter",
     re.compile(r"(?i:correct answer is)[\s*_]*:?[\s*_]*(?i:option\s+)?" + _LETTER)),
    ("'Answer: X'", re.compile(r"\b(?i:answer)[*_]*\s*:[\s*_]*(?i:option\s+)?" + _LETTER)),
    ("a leading letter", re.compile(r"^[\s*_\"'(\[]*([A-F])()[*_\"')\]]*\s*(?:[:.)]|$)")),
)
# The model says the documents do not answer the question (LongHealth issue #2).
ABSTAINS = re.compile(
    r"(?i)\b(?:cannot|can ?not|can't|could not|couldn't) be (?:answered|determined)\b"
    r"|\bunable to (?:answer|determine)\b"
    r"|\b(?:documents?|letters?|texts?|records?) (?:do|does) not (?:mention|contain|provide|include|specify|state)\b"
    r"|\bnot (?:mentioned|provided|stated|specified|found) in the (?:provided |given )?(?:documents?|letters?|texts?)\b"
    r"|\bno (?:information|mention)\b"
)


def strict_letter(response: str) -> str | None:
    """CLUE's parse: the first `The correct answer is X:`, X one word character, case kept."""
    found = STRICT.search(response)
    return found.group(1) if found else None


def lenient_letter(response: str, letters: str) -> tuple[str | None, str]:
    """(letter, form) by the secondary parser; letters outside `letters` are ignored.

    1. CLUE's strict match, when it caught an upper-case option letter (so lenient ⊇ strict).
    2. Else the first form of LENIENT_FORMS that matches: "The correct answer is: C",
       "The correct answer is **C**:", "The correct answer is C.", "... is option C", "Answer: C",
       "**Answer:** C", "**The correct answer is:** C",
       a response that starts with "C:", "C.", "**C**:" or "(C)". Upper-case letters count when not
       followed by a letter or digit; lower-case ones only directly before ":" or ")" (never the article
       in "is a combination").
    3. Else no letter: (None, "none").
    Abstention (ABSTAINS: "cannot be answered", "the documents do not mention", …) is judged separately:
    `accuracy_lenient` is 1 when this letter is the ground truth, or when the ground truth is F and the
    model states the documents do not answer, whatever letter it names (LongHealth issue #2). It is
    never below the strict `accuracy`.
    """
    strict = strict_letter(response)
    if strict is not None and strict in letters:
        return strict, "CLUE's 'The correct answer is X:'"
    for name, pattern in LENIENT_FORMS:
        for found in pattern.finditer(response):
            letter = (found.group(1) or found.group(2) or "").upper()
            if letter and letter in letters:
                return letter, name
    return None, "none"


def stated_letters(response: str) -> list[str]:
    """Every different capital letter the response states as its answer, in the order written.

    Read from CLUE's pattern (any capital, offered or not) and the lenient forms that name an answer
    ("... correct answer is: C", "Answer: C"; A–F). Two or more mean the model hedged (triage); the
    scores never use this.
    """
    found = [(m.start(), m.group(1)) for m in STRICT.finditer(response) if "A" <= m.group(1) <= "Z"]
    for _, pattern in LENIENT_FORMS[:2]:
        found += [(m.start(), (m.group(1) or m.group(2) or "").upper()) for m in pattern.finditer(response)]
    return list(dict.fromkeys(letter for _, letter in sorted(found) if letter))


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
