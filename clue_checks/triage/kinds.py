"""The failure kinds: one table of data. Order here is the order kinds are listed everywhere.

A kind names *why* a sample looks the way it does (the paper's error analysis: repetition loops,
ignored answer formats, hallucinated answers, invented ICD-10 codes). Kinds sit beside CLUE's scores
and never change them; a passing sample can have kinds too (a MedNLI reply naming all three labels
passes CLUE's exactly-once rule, and is `hedged`). Each kind has one pure detector in `detectors.py`.

CLUE's tasks are looked for the kinds whose `tasks` name them. A task file's task is looked for the kinds its
answer parser and metric make meaningful (`kinds_for_answers`), or those of them its `[task] kinds` lists.
"""

from __future__ import annotations

from dataclasses import dataclass

from clue_checks import names

# Task groups (the task names of `clue_checks.tasks.TASKS`).
MEDNLI = (names.MEDNLI,)
LONGHEALTH = names.LONGHEALTH_TASKS
CODING = (names.MEDISUMCODE,)
SUMMARIES = names.SUMMARY_TASKS

# repetition_loop: a sequence of REPEAT_WORDS words occurring REPEAT_TIMES times without overlap, or a
# non-blank line occurring REPEAT_LINES times. Five words repeated four times do not happen in a sane
# clinical answer (ICD lists and problem lists name each item once); a looping model repeats for hundreds
# of tokens, so the bar catches loops early without touching lists.
REPEAT_WORDS = 5
REPEAT_TIMES = 4
REPEAT_LINES = 4
# low_overlap: ROUGE-L F below this, when no per-sample ROUGE floor is set. At 0.1 the reply shares almost
# no word sequence with the reference (good models score 0.2-0.45 on CLUE's summaries).
LOW_OVERLAP_ROUGE_L = 0.1


@dataclass(frozen=True)
class Kind:
    name: str
    definition: str  # one line, shown in the README, the HTML report and `clue` help
    tasks: tuple[str, ...] | None  # the tasks it is looked for on; None: every task


KINDS: tuple[Kind, ...] = (
    Kind("endpoint_error", "the request failed, so there is no response to score (the sample counts as errored)",
         None),
    Kind("empty", "the scored response is empty or only whitespace", None),
    Kind("truncated", "generation stopped at the max-token limit (finish reason `length`)", None),
    Kind("repetition_loop",
         f"the model's text repeats itself: {REPEAT_WORDS} words in a row occur {REPEAT_TIMES} or more times "
         f"without overlapping, or one non-blank line occurs {REPEAT_LINES} or more times", None),
    Kind("format",
         "a response, but no answer CLUE can read: MedNLI names no label exactly once, LongHealth's strict "
         "`The correct answer is X:` reads no capital letter, MeDiSumCode finds no ICD-10 code; a task file's "
         "text names none of its choices, its pattern does not match, or its codes parser finds no code",
         MEDNLI + LONGHEALTH + CODING),
    Kind("hedged", "more than one answer: two or more different MedNLI labels, two or more different "
                   "LongHealth letters stated as the answer, or two or more of a task file's choices",
         MEDNLI + LONGHEALTH),
    Kind("out_of_options", "LongHealth: the letter CLUE's pattern read was not offered (F on task 1, G-Z)",
         LONGHEALTH),
    Kind("unanswerable_missed",
         "LongHealth: the ground truth is F (the documents do not answer: always on task 3), but the answer "
         "is another offered letter", LONGHEALTH),
    Kind("abstained",
         "LongHealth: the documents answer the question (ground truth A-E), but the answer is F, or no letter "
         "and a statement that the documents do not answer", LONGHEALTH),
    Kind("invalid_code", "MeDiSumCode (or a task file's codes parser): a predicted code is not in ICD-10-CM "
                         "(not looked for without simple-icd-10-cm)", CODING),
    Kind("code_increment",
         "MeDiSumCode (or a task file's codes parser): a predicted code is a gold code with its last digit counted up (E11.65 for gold E11.64: "
         "same category and length, every other character equal)", CODING),
    Kind("wrong_answer",
         "the sample failed on a readable answer that no kind above explains: another label, another offered "
         "letter, other valid codes; on a task file's task, a 0/1 metric failed on a parsed answer",
         MEDNLI + LONGHEALTH + CODING),
    Kind("low_overlap",
         f"summaries: a non-empty reply with ROUGE-L F below {LOW_OVERLAP_ROUGE_L}, or below a per-sample "
         "ROUGE floor when one is set (the floor then replaces it); on a task file's task with a continuous "
         "metric, below a [sample] floor on it (ROUGE-L: the same default)", SUMMARIES),
)

KIND_NAMES: tuple[str, ...] = tuple(k.name for k in KINDS)
BY_NAME: dict[str, Kind] = {k.name: k for k in KINDS}


def applies(kind: Kind, task: str) -> bool:
    return kind.tasks is None or task in kind.tasks


def kinds_of_task(task: str) -> tuple[str, ...]:
    """The kinds looked for on `task`, in table order."""
    return tuple(k.name for k in KINDS if applies(k, task))


# What a task file's answer parser and metric make meaningful, beside the kinds every task is looked for.
_BY_PARSER: dict[str, tuple[str, ...]] = {
    "choices": ("format", "hedged"),
    "regex": ("format",),
    "codes": ("format", "invalid_code", "code_increment"),
    "text": (),
}
_BY_METRIC_KIND: dict[str, tuple[str, ...]] = {"binary": ("wrong_answer",), "continuous": ("low_overlap",)}


def kinds_for_answers(parser: str, metric_kind: str, *, batched: bool = False) -> tuple[str, ...]:
    """The kinds a task file's task can be looked for, in table order: every task's own, those its parser reads
    (`format` where a text can hold no answer, ...) and its metric's (`wrong_answer` for 0/1, `low_overlap` for a
    continuous metric with per-sample values; a batched one has none)."""
    own = set(_BY_PARSER.get(parser, ())) | set(() if batched else _BY_METRIC_KIND.get(metric_kind, ()))
    return tuple(k.name for k in KINDS if k.tasks is None or k.name in own)
