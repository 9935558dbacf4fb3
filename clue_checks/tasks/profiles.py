"""The two generations of CLUE's code as one table of data (docs/clue-faithfulness.md#profiles).

`paper` is the TGI-era code that produced the published numbers (the default);
`head` is the 2025 vLLM-era code. Decoding is greedy in both: CLUE's vLLM era sampled
at temperature 1.0 unseeded, which cannot be reproduced and is not offered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, Mapping

from clue_checks.names import HEAD, PAPER

ShotSelection = Literal["first", "shuffle-seed-1"]


@dataclass(frozen=True)
class Profile:
    name: str
    # How shots are taken from the evaluated file, per task (default for unlisted tasks).
    shot_selection: Mapping[str, ShotSelection]
    # Prefill CLUE's assistant prefix ("Question: ", …; `Prompt.assistant_prefix`) in generate mode.
    prefills_assistant_prefix: bool
    max_new_tokens: Mapping[str, int]
    # TGI `truncate` reserve per task: window − reserve (None: no truncation).
    truncate_reserve: Mapping[str, int | None]
    # Paper-era output clean-up (Phi cut, self-prompting regex).
    postprocess: bool
    # BERTScore model per task: "scibert" (en-sci, layer 8) or "bio_clinicalbert" (layer 9).
    bertscore_model: Mapping[str, str] = field(default_factory=dict)
    # ProbSum lowercases prediction and reference before BERTScore in the TGI era.
    problemsummary_lowercase: bool = False
    # LongHealth: token budget per task, and which option wins when `correct` matches several.
    longhealth_budget: Mapping[str, int | None] = field(default_factory=dict)
    longhealth_gt_match: Literal["first", "last"] = "last"

    def shots_for(self, task: str) -> ShotSelection:
        return self.shot_selection.get(task, "first")


def _ro(d: dict) -> Mapping:
    return MappingProxyType(d)


PROFILES: Mapping[str, Profile] = _ro(
    {
        PAPER: Profile(
            name=PAPER,
            shot_selection=_ro({"medisumqa": "shuffle-seed-1"}),
            prefills_assistant_prefix=True,
            max_new_tokens=_ro(
                {"mednli": 20, "meqsum": 200, "problemsummary": 100, "medisumqa": 200, "medisumcode": 200, "longhealth": 50}
            ),
            truncate_reserve=_ro(
                {"mednli": 200, "meqsum": 200, "problemsummary": 100, "medisumqa": 200, "medisumcode": 200, "longhealth": 50}
            ),
            postprocess=True,
            bertscore_model=_ro({"meqsum": "scibert", "problemsummary": "bio_clinicalbert", "medisumqa": "bio_clinicalbert"}),
            problemsummary_lowercase=True,
            longhealth_budget=_ro({"t1": 8140, "t2": 8140, "t3": 8140}),
            longhealth_gt_match="last",
        ),
        HEAD: Profile(
            name=HEAD,
            shot_selection=_ro(
                {t: "shuffle-seed-1" for t in ("mednli", "meqsum", "problemsummary", "medisumqa", "medisumcode")}
            ),
            prefills_assistant_prefix=False,
            max_new_tokens=_ro(
                {"mednli": 20, "meqsum": 512, "problemsummary": 512, "medisumqa": 512, "medisumcode": 512, "longhealth": 50}
            ),
            truncate_reserve=_ro({}),
            postprocess=False,
            bertscore_model=_ro({"meqsum": "scibert", "problemsummary": "scibert", "medisumqa": "scibert"}),
            problemsummary_lowercase=False,
            # CLUE's vLLM era used the model's whole context for tasks 2/3 (None = the window).
            longhealth_budget=_ro({"t1": 8140, "t2": None, "t3": None}),
            longhealth_gt_match="first",
        ),
    }
)

def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown CLUE profile {name!r}; choose one of: {', '.join(PROFILES)}") from None
