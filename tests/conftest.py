"""Framework tests. Hypothesis without deadlines: first calls load libraries, and CI machines vary."""

from hypothesis import settings

settings.register_profile("clue-checks", deadline=None, max_examples=100)
settings.load_profile("clue-checks")
