"""Are two runs comparable? Their manifests must agree on everything that shapes the prompts and answers.

Compared (from ``report["manifest"]``, falling back to ``report["run"]``): the sha256 of every data
file, the profile, the wire mode and prompt layout, the prompts file's hash, the shots and seeds
(not the bootstrap's: it does not change an answer), the generation parameters per task (not the
served model's name: two models differ in it by design) and the clue-checks major version. A key
missing on both sides is not checked; a key present on one side only is a difference. The chat
template is the model's own, so a different one is noted, not refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_MISSING = object()

# (what, where to look: the first path present wins, keys to leave out)
CHECKS: Sequence[tuple[str, Sequence[tuple[str, ...]], frozenset[str]]] = (
    ("data sha256", (("manifest", "data_sha256"), ("run", "data_sha256")), frozenset()),
    ("profile", (("manifest", "profile"), ("run", "profile")), frozenset()),
    ("wire mode", (("manifest", "api"), ("run", "api")), frozenset()),
    ("prompt layout", (("manifest", "prompt_layout"), ("run", "prompt_layout")), frozenset()),
    ("prompts sha256", (("manifest", "prompts_sha256"), ("run", "prompts_sha256")), frozenset()),
    ("shots", (("manifest", "shots"), ("run", "shots")), frozenset()),
    ("seeds", (("manifest", "seeds"), ("run", "seeds")), frozenset({"bootstrap", "bootstrap_resamples"})),
    ("generation parameters", (("manifest", "generation_params"), ("run", "generation_params")),
     frozenset({"model"})),
)
VERSION_PATHS = (("manifest", "clue_checks_version"), ("manifest", "versions", "clue_checks"),
                 ("manifest", "versions", "clue-checks"), ("run", "clue_checks_version"))
NOTED = (("chat template sha256", (("manifest", "chat_template_sha256"), ("run", "chat_template_sha256"))),)


class ComparabilityError(Exception):
    """Two runs that must not be compared; the message lists every difference."""


@dataclass(frozen=True)
class Comparability:
    differences: tuple[str, ...]  # each a readable line: what differs, the new run's value, the baseline's
    notes: tuple[str, ...] = ()  # differences that do not stop a comparison (the chat template)
    forced: bool = False  # compared although they differ

    @property
    def ok(self) -> bool:
        return not self.differences

    def message(self, new: str = "the new run", baseline: str = "the baseline",
                force_hint: str = "--clue-baseline-force") -> str:
        lines = [f"{new} and {baseline} are not comparable ({len(self.differences)} difference"
                 f"{'' if len(self.differences) == 1 else 's'}; values are new / baseline):"]
        lines += [f"  - {d}" for d in self.differences]
        lines.append(f"Compare runs of the same data, prompts and settings, or compare anyway with {force_hint} "
                     "(the report is then marked as forced).")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {"comparable": self.ok, "forced": self.forced, "differences": list(self.differences),
                "notes": list(self.notes)}


def check_comparable(new: Mapping[str, Any], baseline: Mapping[str, Any], *, force: bool = False) -> Comparability:
    """Every difference between two reports' manifests that makes their comparison meaningless.

    `new`, `baseline`: report dicts (``clue-report.json``). `force`: compare anyway; the result is
    then marked forced (when there are differences) and the caller proceeds.
    """
    differences: list[str] = []
    for what, paths, skip in CHECKS:
        differences += _diff(what, _find(new, paths), _find(baseline, paths), skip)
    a, b = _find(new, VERSION_PATHS), _find(baseline, VERSION_PATHS)
    if a is not _MISSING or b is not _MISSING:
        if a is _MISSING or b is _MISSING or _major(a) != _major(b):
            differences.append(f"clue-checks major version: {_show(a)} / {_show(b)}")
    notes = [line for what, paths in NOTED for line in _diff(what, _find(new, paths), _find(baseline, paths))]
    return Comparability(tuple(differences), tuple(notes), forced=force and bool(differences))


def require_comparable(new: Mapping[str, Any], baseline: Mapping[str, Any], *, force: bool = False,
                       new_name: str = "the new run", baseline_name: str = "the baseline",
                       force_hint: str = "--clue-baseline-force") -> Comparability:
    """:func:`check_comparable`, raising :class:`ComparabilityError` (every difference listed) unless
    the runs agree or `force` is set."""
    result = check_comparable(new, baseline, force=force)
    if not result.ok and not force:
        raise ComparabilityError(result.message(new_name, baseline_name, force_hint))
    return result


def _find(report: Mapping[str, Any], paths: Sequence[tuple[str, ...]]) -> Any:
    for path in paths:
        node: Any = report
        for key in path:
            node = node.get(key, _MISSING) if isinstance(node, Mapping) else _MISSING
        if node is not _MISSING:
            return node
    return _MISSING


def _diff(what: str, a: Any, b: Any, skip: frozenset[str] = frozenset()) -> list[str]:
    if a is _MISSING and b is _MISSING:
        return []
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        out = []
        for key in sorted(set(a) | set(b), key=str):
            if key not in skip:
                out += _diff(f"{what} {key}", a.get(key, _MISSING), b.get(key, _MISSING), skip)
        return out
    if a is _MISSING or b is _MISSING or _norm(a) != _norm(b):
        return [f"{what}: {_show(a)} / {_show(b)}"]
    return []


def _norm(value: Any) -> Any:
    """JSON turns tuples into lists: compare them alike."""
    if isinstance(value, (list, tuple)):
        return [_norm(v) for v in value]
    return value


def _major(version: Any) -> str:
    return str(version).split(".", 1)[0].strip()


def _show(value: Any) -> str:
    if value is _MISSING:
        return "absent"
    text = repr(value)
    if isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value):
        text = f"sha256 {value[:12]}…"  # enough to tell two hashes apart
    return text if len(text) <= 80 else text[:77] + "…"
