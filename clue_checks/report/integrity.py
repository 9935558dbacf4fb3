"""Prediction files are what merge and compare score: their sha256 is in the manifest, and checked.

`write_reports` records each `predictions/<task>.jsonl` as written under the manifest key
``predictions.sha256.<task>.jsonl``. `clue report merge` and `clue compare` check every input folder
first (`verify_folders`): a file changed, added or removed since the run wrote it is one message
naming the folders and files, and nothing is merged or compared; with --force they go on and the
result says which files did not match.

This catches rows edited by hand (or by a script) and files swapped between runs. It is not a
signature: whoever edits the rows and the manifest alike is not caught; keep reports where only the
runs that write them can write.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from clue_checks.report.files import PREDICTIONS, REPORT_JSON
from clue_checks.report.manifest import sha256_file
from clue_checks.errors import ReportError

PREFIX = "predictions.sha256."


class IntegrityError(ReportError):
    """Prediction files that do not match their report's manifest. One message, every file named."""


def stamped(report: Mapping[str, Any], prediction_files: Sequence[Path]) -> dict[str, Any]:
    """The report with each prediction file's sha256 in its manifest (earlier stamps replaced)."""
    manifest = report.get("manifest")
    manifest = {k: v for k, v in manifest.items() if not str(k).startswith(PREFIX)} if isinstance(manifest, Mapping) \
        else {}
    manifest.update({f"{PREFIX}{path.name}": sha256_file(path) for path in sorted(prediction_files)})
    return {**report, "manifest": dict(sorted(manifest.items()))}


def problems(directory: Path) -> list[str]:
    """What in `directory`'s predictions does not match its manifest (empty: all verified)."""
    try:
        report = json.loads((directory / REPORT_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []  # unreadable reports are the reader's to name (merge and compare do)
    manifest = report.get("manifest") if isinstance(report, Mapping) else None
    recorded = {k[len(PREFIX):]: v for k, v in manifest.items() if str(k).startswith(PREFIX)} \
        if isinstance(manifest, Mapping) else {}
    present = {p.name: p for p in sorted((directory / PREDICTIONS).glob("*.jsonl"))}
    if not recorded:
        return [f"{directory / REPORT_JSON} records no sha256 of its prediction files (written by an older "
                f"clue-checks, or its manifest was edited)"] if present else []
    found = []
    for name in sorted(set(recorded) | set(present)):
        path = directory / PREDICTIONS / name
        if name not in present:
            found.append(f"{path} is missing")
        elif name not in recorded:
            found.append(f"{path} was not written by the run")
        elif sha256_file(path) != recorded[name]:
            found.append(f"{path} was changed after the run wrote it")
    return found


def verify_folders(folders: Sequence[Path], *, force: bool = False, what: str = "merge") -> list[str]:
    """Raise IntegrityError naming every mismatch; with `force`, return them for the result to show."""
    found = [p for folder in folders for p in problems(folder)]
    if found and not force:
        raise IntegrityError(f"prediction files do not match their report's manifest (sha256): {'; '.join(found)}. "
                             f"Nothing was {'merged' if what == 'merge' else 'compared'}: rerun the runs, or "
                             f"{what} anyway with --force (the result is then marked)")
    return found


def forced_note(found: Sequence[str]) -> str:
    return ("forced past an integrity check: " + "; ".join(found)) if found else ""
