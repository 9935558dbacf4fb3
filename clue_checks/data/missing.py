"""Which selected tasks have no data file under --clue-data, and what to do about it, in one line each.

A folder holding only the public sets (`clue data fetch meqsum longhealth`) is a normal first step:
the tasks whose files are absent are not run (their tests are skipped at collection, their gates
are "not run" with this line), rather than stopping the whole session. A file that is there but
malformed is a different matter: that is a collection error naming the record (readers.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from clue_checks.data.datasets import CREDENTIALED, PUBLIC


def how_to_get(task: str, data_path: str, data_dir: Path) -> str:
    """The step that puts `data_path` into `data_dir`: a `clue data fetch` command for a public set,
    where to request it for a credentialed one."""
    for dataset in PUBLIC.values():
        if dataset.path == data_path:
            return f"clue data fetch {dataset.name} --dest {data_dir}"
    for name, where in CREDENTIALED.items():
        if task == name or task.startswith(name + "-"):
            return f"not fetchable: {where}"
    return "see the task's data_path in its task file"


def missing_line(task: str, data_path: str, data_dir: Path) -> str:
    """`mednli not run: no /data/MedNLI/mli_test_v1.jsonl (not fetchable: MedNLI: PhysioNet ...)`."""
    return f"{task} not run: no {Path(data_dir) / data_path} ({how_to_get(task, data_path, Path(data_dir))})"


def missing_tasks(data_paths: Mapping[str, str], selected: Iterable[str], data_dir: Path) -> dict[str, str]:
    """Selected tasks (in `selected`'s order) whose data file is absent, each with its line.

    `data_paths`: task name -> its file relative to the data folder. A task without a known path is
    left to its reader."""
    out = {}
    for task in selected:
        path = data_paths.get(task)
        if path is not None and not (Path(data_dir) / path).is_file():
            out[task] = missing_line(task, path, Path(data_dir))
    return out
