"""The controller keeps one copy of what many records repeat, and records equal to the ones it was sent."""

from __future__ import annotations

from clue_checks.record import SampleRecord
from clue_checks.roles.record_sharing import EMPTY, SharedValues


def _record(i: int, reason: str) -> dict:
    return SampleRecord("longhealth-t1", f"p/q01/r{i}", i, "failed", metrics={"accuracy": 0.0}, source="sent",
                        reason=reason, cluster="p/q01", kinds=("format",), finish_reason="length").as_dict()


def test_repeated_values_are_one_object_and_records_are_unchanged():
    shared = SharedValues()
    sent = [_record(i, "no 'The correct answer is X:' in " + "the answer") for i in range(3)]
    kept = [SampleRecord.from_dict(shared(dict(d))) for d in sent]
    assert [r.as_dict() for r in kept] == sent
    for key in ("task", "reason", "cluster", "finish_reason", "kinds"):
        assert getattr(kept[0], key) is getattr(kept[2], key)
    assert kept[0].not_computed is EMPTY and kept[0].metrics == {"accuracy": 0.0}


def test_past_the_bound_new_values_are_kept_as_they_are():
    shared = SharedValues(max_distinct=1)
    def text(char: str) -> str:  # a new string object each call (a literal would be one shared constant)
        return "".join([char] * 40)

    first = shared({"reason": text("a")})["reason"]
    assert shared({"reason": text("a")})["reason"] is first
    other = text("b")
    assert shared({"reason": other})["reason"] is other  # not remembered: the bound is reached
    assert shared({"reason": text("b")})["reason"] is not other
