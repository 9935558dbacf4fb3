# The clue-checks plugin loads through its pytest11 entry point (pip install -e .).
# Nothing else is needed here; suite-wide fixtures would go in this file.
