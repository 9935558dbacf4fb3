"""The mixed suite: every bundled task's fixture plus LongHealth at full scale, in one run against `sim_server.py`.

One data folder: the bundled synthetic fixtures (MedNLI, MeQSum, ProblemSummary, MeDiSumQA, MeDiSumCode) with
their LongHealth file replaced by `longhealth_synth.py`'s (20 patients: 6,000 LongHealth prompts, about 6,130
tests in all). The whole `tests_clinical/` folder runs on it in chat mode; `sim_server.py` has no `/tokenize`, so
LongHealth counts tokens with the embedded baseline's tokenizer folder (`--clue-tokenizer`), which every
checkout carries. The server can record the bodies, which the ideal client then replays.

    data = write_mixed_data(tmp / "mixed", patients=20)
    cmd = mixed_suite(python, repo, server.url, data, tmp / "report")
"""

from __future__ import annotations

import shutil
from pathlib import Path

from _harness import DEFAULT_REPO
from longhealth_synth import write_longhealth

FIXTURES = DEFAULT_REPO / "clue_checks" / "fixtures"
TOKENIZER = Path("clue_checks") / "server" / "baseline_tokenizer"


def write_mixed_data(folder: Path, *, patients: int = 20, words: int = 5500, questions: int = 20) -> Path:
    """The bundled fixtures with a full-scale synthetic LongHealth file in place of theirs; returns the folder."""
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(FIXTURES, folder)
    write_longhealth(folder, patients=patients, words=words, questions=questions)
    return folder


def longhealth_prompts(patients: int, questions: int = 20) -> int:
    """LongHealth prompts in a run of tasks 1-3: each question five times (shuffled documents) per task."""
    return 3 * 5 * patients * questions


def mixed_suite(python: str, repo: Path, url: str, data: Path, report: Path, *extra: str,
                files: tuple[str, ...] = ("tests_clinical",)) -> list[str]:
    """Every task of `tests_clinical/` (or `files`) as a user runs it against a chat endpoint without /tokenize."""
    return [python, "-m", "pytest", *files, f"--model-endpoint={url}", f"--clue-data={data}", "--clue-no-cache",
            "--clue-api=chat", f"--clue-tokenizer={repo / TOKENIZER}", f"--clue-report-dir={report}", "-q", *extra]
