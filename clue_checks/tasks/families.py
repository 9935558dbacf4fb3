"""Model families whose quirks CLUE's TGI-era code keyed on the model's name.

CLUE matched the name the user gave its scripts (`--model_name_or_path`): "llama-3"/"llama3" anywhere in
it (case-insensitive) added the Llama-3 stop strings, "phi" anywhere cut the answer at " <|end|>". We
infer the family the same way from the model id the server reports; a server that reports a local path
or a neutral name gets neither quirk, so `--clue-model-family` names the family outright.
"""

from __future__ import annotations

import re
from typing import Literal

ModelFamily = Literal["llama3", "phi", "other"]
MODEL_FAMILIES: tuple[ModelFamily, ...] = ("llama3", "phi", "other")
FAMILY_CHOICES = ("auto",) + MODEL_FAMILIES  # the option's values

_LLAMA3 = re.compile(r"llama-?3", re.IGNORECASE)


def family_of(model_id: str) -> ModelFamily:
    """The family CLUE would have inferred from this name. A name matching both (a "phi…llama3" merge)
    is llama3: CLUE would have applied both quirks, one family cannot say so (`--clue-model-family` decides)."""
    if _LLAMA3.search(model_id):
        return "llama3"
    if "phi" in model_id.lower():
        return "phi"
    return "other"


def resolve_family(setting: str, model_id: str) -> ModelFamily:
    """`--clue-model-family`: "auto" infers from the model id; anything else is taken as given."""
    if setting == "auto":
        return family_of(model_id)
    if setting not in MODEL_FAMILIES:
        raise ValueError(f"unknown model family {setting!r}; choose one of: {', '.join(FAMILY_CHOICES)}")
    return setting  # type: ignore[return-value]


def require_family(family: str) -> ModelFamily:
    """Guard for Task.clean: a model id passed where a family belongs would silently skip the Phi cut."""
    if family not in MODEL_FAMILIES:
        raise ValueError(f"expected a model family ({', '.join(MODEL_FAMILIES)}), got {family!r}: "
                         "resolve a model id with families.resolve_family first")
    return family  # type: ignore[return-value]
