"""Model families whose quirks CLUE's TGI-era code keyed on the model's name.

CLUE matched the name the user gave its scripts (`--model_name_or_path`): "llama-3"/"llama3" anywhere in
it (case-insensitive) added the Llama-3 stop strings, "phi" anywhere cut the answer at " <|end|>". The two
tests were independent, so a name matching both (`dolphin-2.9-llama3`, `Phind-CodeLlama-…-llama3`) got both
quirks. We infer the families the same way from the model id the server reports; a server that reports a
local path or a neutral name gets neither, so `--clue-model-family` names them outright, one or two
(`llama3,phi`).

A run's families are one canonical string: the matching names in `QUIRK_FAMILIES` order joined by commas
("llama3", "phi", "llama3,phi"), or "other" when none applies.
"""

from __future__ import annotations

import re

ModelFamily = str  # canonical: "llama3", "phi", "llama3,phi" or "other"
QUIRK_FAMILIES = ("llama3", "phi")  # each with its own quirk, in canonical order
MODEL_FAMILIES = (*QUIRK_FAMILIES, "other")
FAMILY_CHOICES = ("auto",) + MODEL_FAMILIES  # the option's single values; two quirk families join with ","

_LLAMA3 = re.compile(r"llama-?3", re.IGNORECASE)


def _canonical(names: set[str]) -> ModelFamily:
    chosen = [f for f in QUIRK_FAMILIES if f in names]
    return ",".join(chosen) if chosen else "other"


def family_of(model_id: str) -> ModelFamily:
    """The families CLUE would have inferred from this name: each test on its own, as CLUE made them."""
    names = set()
    if _LLAMA3.search(model_id):
        names.add("llama3")
    if "phi" in model_id.lower():
        names.add("phi")
    return _canonical(names)


def parse_families(setting: str) -> ModelFamily:
    """`--clue-model-family` without "auto": one family, or two quirk families joined by a comma (`llama3,phi`)."""
    names = [n.strip() for n in setting.split(",") if n.strip()]
    unknown = [n for n in names if n not in MODEL_FAMILIES]
    if not names or unknown or ("other" in names and len(names) > 1):
        raise ValueError(f"unknown model family {setting!r}; choose one of: {', '.join(FAMILY_CHOICES)}, "
                         f"or {','.join(QUIRK_FAMILIES)} for both quirks")
    return _canonical(set(names))


def resolve_family(setting: str, model_id: str) -> ModelFamily:
    """`--clue-model-family`: "auto" infers from the model id; anything else is taken as given."""
    if setting == "auto":
        return family_of(model_id)
    return parse_families(setting)


def require_family(family: str) -> ModelFamily:
    """Guard for Task.clean: a model id passed where a family belongs would silently skip the Phi cut."""
    try:
        canonical = parse_families(family)
    except ValueError:
        canonical = None
    if canonical != family:
        raise ValueError(f"expected a model family ({', '.join(MODEL_FAMILIES)} or llama3,phi), got {family!r}: "
                         "resolve a model id with families.resolve_family first")
    return family


def has_quirk(family: ModelFamily, name: str) -> bool:
    """Whether the run's families include `name` ("llama3" or "phi")."""
    return name in family.split(",")
