"""Writers of a `Report` (report/document.py): each reads the value and writes one form of it, nothing else.

- `markdown.markdown(report)`: clue-report.md
- `terminal.summary_lines(report)`: the CLUE section of pytest's terminal summary
- `folder.write_folder(directory, report)`: clue-report.json, clue-report.md, predictions/*.jsonl, index.html
- JUnit: `report/write/junit.py` (`gate_cases`, and `write_junit` for a report made outside a pytest session)
"""
