"""``python -m clue_checks.cli``: the ``clue`` command."""

import sys

from clue_checks.cli import main

sys.exit(main())
