"""Our comments cite our own docs pages (and upstream links), never documents outside the repository.

Every `docs/<page>.md#anchor` named in the code, tests or README must be a heading of that page, so a
renamed section cannot leave comments pointing nowhere.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOC_LINK = re.compile(r"docs/([\w.-]+\.md)((?:#[\w-]+(?:, )?)*)")
ANCHOR = re.compile(r"#([\w-]+)")
SECTION = "\u00a7"  # the section sign, escaped so this file does not cite itself


def _tracked_text_files() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files", "*.py", "*.md", "*.toml", "*.ini"], cwd=REPO, check=True,
                             capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [REPO / line for line in out.splitlines() if line and (REPO / line).is_file()]


def github_anchor(heading: str) -> str:
    """GitHub's heading id: lower case, punctuation dropped (hyphens and underscores kept), spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors_of(page: Path) -> set[str]:
    return {github_anchor(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", page.read_text(encoding="utf-8"), re.M)}


def test_github_anchor_rule():
    assert github_anchor("Problem Summary") == "problem-summary"
    assert github_anchor("Clean-up") == "clean-up"
    assert github_anchor("How clue-checks follows CLUE, and where it does not") == \
        "how-clue-checks-follows-clue-and-where-it-does-not"


def test_every_cited_docs_anchor_exists():
    missing = []
    for path in _tracked_text_files():
        for line_no, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
            for match in DOC_LINK.finditer(line):
                page = REPO / "docs" / match.group(1)
                where = f"{path.relative_to(REPO)}:{line_no}"
                if not page.is_file():
                    missing.append(f"{where}: no page docs/{match.group(1)}")
                    continue
                for anchor in ANCHOR.findall(match.group(2)):
                    if anchor not in anchors_of(page):
                        missing.append(f"{where}: no heading for #{anchor} in docs/{match.group(1)}")
    assert not missing, "\n".join(missing)


def test_no_section_citations_of_outside_documents():
    """The section sign only in public standards (RFC 9110 §…); facts are stated in our words with an upstream link."""
    offenders = []
    for path in _tracked_text_files():
        for line_no, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
            if SECTION in line and not re.search(r"RFC \d+ " + SECTION, line):
                offenders.append(f"{path.relative_to(REPO)}:{line_no}: {line.strip()[:100]}")
    assert not offenders, "\n".join(offenders)
