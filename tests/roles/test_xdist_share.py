"""The xdist share: deterministic, balanced, and the repeats of one question on one worker."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from clue_checks.xdist_share import shares


def test_repeats_of_one_question_go_to_one_worker_and_groups_are_dealt_round_robin():
    ids = [f"t.py::test_sample[longhealth-t1:patient_01/q0{q}/r{r}]" for q in (1, 2, 3) for r in range(5)]
    ids += ["t.py::test_sample[mednli:a]", "t.py::test_sample[mednli:b]"]
    assert shares(ids, 2) == [0] * 5 + [1] * 5 + [0] * 5 + [1, 0]


@given(st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=40),
       st.lists(st.integers(0, 9), min_size=40, max_size=40), st.integers(1, 5))
def test_every_item_has_one_worker_and_identical_prompt_groups_never_split(questions, repeats, workers):
    ids = [f"m::test_sample[longhealth-t2:p/{q}/r{r}]" for q, r in zip(questions, repeats)]
    owner = shares(ids, workers)
    assert all(0 <= w < workers for w in owner)
    by_question: dict[str, set[int]] = {}
    for q, w in zip(questions, owner):
        by_question.setdefault(q, set()).add(w)
    assert all(len(ws) == 1 for ws in by_question.values())
