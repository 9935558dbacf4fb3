"""The failure kinds: one table of data. Order here is the order kinds are listed everywhere.

A kind names *why* a sample looks the way it does (the paper's error analysis: repetition loops,
ignored answer formats, hallucinated answers, invented ICD-10 codes). Kinds sit beside CLUE's scores
and never change them; a passing sample can have kinds too (a MedNLI reply naming all three labels
passes CLUE's exactly-once rule, and is `hedged`). Each kind has one pure detector in `detectors.py`.
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
         "`The correct answer is X:` reads no capital letter, MeDiSumCode finds no ICD-10 code",
         MEDNLI + LONGHEALTH + CODING),
    Kind("hedged", "more than one answer: two or more different MedNLI labels, or two or more different "
                   "LongHealth letters stated as the answer", MEDNLI + LONGHEALTH),
    Kind("out_of_options", "LongHealth: the letter CLUE's pattern read was not offered (F on task 1, G-Z)",
         LONGHEALTH),
    Kind("unanswerable_missed",
         "LongHealth: the ground truth is F (the documents do not answer: always on task 3), but the answer "
         "is another offered letter", LONGHEALTH),
    Kind("abstained",
         "LongHealth: the documents answer the question (ground truth A-E), but the answer is F, or no letter "
         "and a statement that the documents do not answer", LONGHEALTH),
    Kind("invalid_code", "MeDiSumCode: a predicted code is not in ICD-10-CM (not looked for without "
                         "simple-icd-10-cm)", CODING),
    Kind("code_increment",
         "MeDiSumCode: a predicted code is a gold code with its last digit counted up (E11.65 for gold E11.64: "
         "same category and length, every other character equal)", CODING),
    Kind("wrong_answer",
         "the sample failed on a readable answer that no kind above explains: another label, another offered "
         "letter, other valid codes", MEDNLI + LONGHEALTH + CODING),
    Kind("low_overlap",
         f"summaries: a non-empty reply with ROUGE-L F below {LOW_OVERLAP_ROUGE_L}, or below a per-sample "
         "ROUGE floor when one is set (the floor then replaces it)", SUMMARIES),
)

KIND_NAMES: tuple[str, ...] = tuple(k.name for k in KINDS)
BY_NAME: dict[str, Kind] = {k.name: k for k in KINDS}


def applies(kind: Kind, task: str) -> bool:
    return kind.tasks is None or task in kind.tasks


def kinds_of_task(task: str) -> tuple[str, ...]:
    """The kinds looked for on `task`, in table order."""
    return tuple(k.name for k in KINDS if applies(k, task))
