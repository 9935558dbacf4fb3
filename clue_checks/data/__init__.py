"""Readers for the real CLUE file formats, with errors that name file, line/row and field."""

from clue_checks.data.errors import DataError

__all__ = ["DataError"]
