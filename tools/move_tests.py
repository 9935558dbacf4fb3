"""Move the test files into folders that mirror the package, and every reference to them with them.

    python tools/move_tests.py            # git mv each file in FOLDERS, then rewrite the references
    python tools/move_tests.py --check    # list the test files in tests/ that no folder names

Idempotent: a file already moved is skipped. A moved file sits one folder deeper, so its paths computed from
`__file__` are rewritten to still name the repository root and tests/data/.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

FOLDERS: dict[str, list[str]] = {
    "endpoint": ["test_api_keys", "test_egress", "test_endpoint_client", "test_endpoint_logging", "test_fakes",
                 "test_fault_matrix", "test_pools", "test_scheduler", "test_store", "test_concurrency_window"],
    "server": ["test_baseline_server", "test_heuristics", "test_transformers_serve", "test_variants"],
    "report": ["test_own_levels", "test_aggregate", "test_baseline_report", "test_compare_gates", "test_comparison", "test_html_browser",
               "test_html_report", "test_job_summary", "test_junit", "test_manifest", "test_manifest_check",
               "test_prediction_lines", "test_report", "test_report_audit", "test_report_build", "test_run_stats",
               "test_shards", "test_spliced", "test_terminal"],
    "metrics": ["test_bertscore", "test_power", "test_signflip", "test_stats", "test_umls"],
    "tasks": ["test_task_store_scope", "test_layouts_and_families", "test_longhealth", "test_medisumcode", "test_summaries_tasks",
              "test_task_collection", "test_task_file", "test_task_registry", "test_tasks_core",
              "test_tokenizer_loading", "test_tokens"],
    "datasets": ["test_fetch", "test_missing_data", "test_readers", "test_xlsx_reader"],  # clue_checks/data
    "triage": ["test_triage", "test_triage_e2e", "test_triage_wiring", "test_triage_file_tasks"],
    "package": ["test_errors", "test_names", "test_private_folder", "test_text_spool"],  # what holds across the package: one error tree, one home for names
    "cli": ["test_cli", "test_compare_cli", "test_forest", "test_init_cli", "test_task_init"],
    "roles": ["test_roles", "test_log_capture", "test_failure_traceback", "test_first_run", "test_gc_tuning", "test_heap_trim", "test_opt_in", "test_option_spellings",
              "test_plugin_faults", "test_private_files", "test_progress", "test_progress_terminal",
              "test_quiet_libraries", "test_record_sharing", "test_redaction_leaks", "test_reruns", "test_runner", "test_settings",
              "test_startup_imports", "test_without_xdist", "test_xdist_share"],
    "docs": ["test_docs_commands", "test_docs_links", "test_faithfulness_doc"],
    "journeys": ["test_e2e", "test_e2e_compare", "test_task_e2e"],
}

# Renamed as they move: tests_clinical/ has a module of the same name, and a suite run in this process would
# find the framework's module under that name in sys.modules ("import file mismatch").
RENAMED = {"test_medisumcode": "test_medisumcode_task"}

# In a file one folder deeper: the repository root and tests/data/ as they were computed from __file__.
DEEPER = [
    (re.compile(r"Path\(__file__\)\.resolve\(\)\.parents\[1\]"), "Path(__file__).resolve().parents[2]"),
    (re.compile(r"Path\(__file__\)\.resolve\(\)\.parent\.parent"), "Path(__file__).resolve().parents[2]"),
    (re.compile(r'Path\(__file__\)\.parent / "data"'), 'Path(__file__).parents[1] / "data"'),
]
REFERENCE_FILES = ("*.py", "*.md", "*.toml", "*.ini", "*.yml", "*.yaml", "*.cfg", "*.txt", ".ci/*")


def mapping() -> dict[str, str]:
    return {f"tests/{name}.py": f"tests/{folder}/{RENAMED.get(name, name)}.py"
            for folder, names in FOLDERS.items() for name in names}


def tracked(patterns: tuple[str, ...]) -> list[Path]:
    out = subprocess.run(["git", "ls-files", *patterns], cwd=REPO, check=True, capture_output=True, text=True).stdout
    return [REPO / line for line in out.splitlines() if (REPO / line).is_file()]


def move(moves: dict[str, str]) -> None:
    for old, new in moves.items():
        if not (REPO / old).exists():
            continue
        (REPO / new).parent.mkdir(exist_ok=True)
        subprocess.run(["git", "mv", old, new], cwd=REPO, check=True)
        text = (REPO / new).read_text(encoding="utf-8")
        for pattern, replacement in DEEPER:
            text = pattern.sub(replacement, text)
        (REPO / new).write_text(text, encoding="utf-8")


def rewrite_references(moves: dict[str, str]) -> None:
    # Longest first is not needed: each old path ends at ".py", so no old path is a prefix of another.
    pattern = re.compile("|".join(re.escape(old) for old in moves))
    for path in tracked(REFERENCE_FILES):
        if path.resolve() == Path(__file__).resolve():
            continue
        text = path.read_text(encoding="utf-8")
        changed = pattern.sub(lambda m: moves[m.group(0)], text)
        if changed != text:
            path.write_text(changed, encoding="utf-8")


def unplaced() -> list[str]:
    placed = set(mapping())
    return sorted(p.relative_to(REPO).as_posix() for p in (REPO / "tests").glob("test_*.py")
                  if p.relative_to(REPO).as_posix() not in placed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="list test files in tests/ that no folder names")
    args = parser.parse_args(argv)
    left = unplaced()
    if args.check:
        print("\n".join(left) or "every test file in tests/ has a folder")
        return 1 if left else 0
    moves = mapping()
    move(moves)
    rewrite_references(moves)
    if left:
        print("not moved (no folder named for them):", *left, sep="\n  ", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
