"""A GitHub Actions job summary: the Markdown report's table, levels and gates, and the verdict.

GitHub Actions names a file in `GITHUB_STEP_SUMMARY` for each step; Markdown appended to it is shown
on the run's page. Every run that has the variable appends one summary (a matrix of shards gets one
per shard, and `clue report merge` can append the merged one), so the verdict is seen where the CI
is read. Writing it can fail (a read-only file): that is a warning, never a failed run.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

ENV = "GITHUB_STEP_SUMMARY"
KEPT_SECTIONS = ("CLUE levels", "Gates", "Tasks not run", "Against the baseline")  # `## ` titles kept after the table


def summary_markdown(markdown: str, verdict: str, *, title: str = "CLUE report") -> str:
    """The report's head (model, data, the task table) and its levels, gates and tasks not run, under
    the verdict in bold."""
    kept: list[str] = []
    keep = True
    fenced = False  # inside a ``` block (the thresholds file): its `# ` lines are comments, not headings
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("## "):
            keep = line[3:].startswith(KEPT_SECTIONS)
        elif not fenced and line.startswith("# "):
            keep = True
            continue  # the report's own title: replaced by the verdict's heading below
        if keep:
            kept.append(line)
    body = "\n".join(kept).strip("\n")
    return f"## {title}: {verdict.upper()}\n\n{body}\n\n"


def append(markdown: str, verdict: str, env: Mapping[str, str] | None = None) -> str | None:
    """Append the summary to the file `GITHUB_STEP_SUMMARY` names; a warning line if it could not be, None
    otherwise (also when the variable is unset)."""
    path = (os.environ if env is None else env).get(ENV)
    if not path:
        return None
    try:
        with Path(path).open("a", encoding="utf-8") as out:
            out.write(summary_markdown(markdown, verdict))
    except OSError as exc:
        return f"the job summary could not be appended to {path} ({exc.strerror or exc})"
    return None


def main(argv: list[str] | None = None) -> int:
    """`python -m clue_checks.report.write.job_summary REPORT_DIR`: append a written report's summary (e.g. the
    merged one of `clue report merge`) to the job summary. Exit 0 when appended (or no GitHub Actions), 1 when
    the report cannot be read or the summary cannot be written."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m clue_checks.report.write.job_summary REPORT_DIR", file=sys.stderr)
        return 2
    folder = Path(args[0])
    try:
        markdown = (folder / "clue-report.md").read_text(encoding="utf-8")
        verdict = str(json.loads((folder / "clue-report.json").read_text(encoding="utf-8")).get("verdict", "?"))
    except (OSError, ValueError) as exc:
        print(f"job summary: cannot read the report in {folder}: {exc}", file=sys.stderr)
        return 1
    problem = append(markdown, verdict)
    if problem is not None:
        print(f"job summary: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
