"""The CLUE benchmark suite: one thin pytest module per task, plus its thresholds file.

`clue init [DIR]` copies these files into a project (the repository's own `tests_clinical/` and
`thresholds.toml` are identical copies, checked by a test). Each module only marks its task;
the clue-checks plugin turns every benchmark sample into one test.
"""
