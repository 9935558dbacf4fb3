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

from clue_checks.errors import ReportError
from clue_checks.report.numbers.thresholds import ThresholdsError, parse

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
    # The per-sample floors decide which samples pass, so which broke and were fixed.
    ("per-sample floors", (("manifest", "sample_floors"),), frozenset()),
)
VERSION_PATHS = (("manifest", "clue_checks_version"), ("manifest", "versions", "clue_checks"),
                 ("manifest", "versions", "clue-checks"), ("run", "clue_checks_version"))
NOTED = (("chat template sha256", (("manifest", "chat_template_sha256"), ("run", "chat_template_sha256"))),)


class ComparabilityError(ReportError):
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


def check_comparable(new: Mapping[str, Any], baseline: Mapping[str, Any], *, force: bool = False,
                     aspects: frozenset[str] | None = None) -> Comparability:
    """Every difference between two reports' manifests that makes their comparison meaningless.

    `new`, `baseline`: report dicts (``clue-report.json``). `force`: compare anyway; the result is
    then marked forced (when there are differences) and the caller proceeds. `aspects`: check only
    these (names of `CHECKS`, and "version"); None: all. A run checks what it knows before inference
    (data, profile, prompts, seeds) at its start and the rest at its end.
    """
    new, baseline = _nested(new, baseline), _nested(baseline, new)
    differences: list[str] = []
    for what, paths, skip in CHECKS:
        if aspects is None or what in aspects:
            differences += _diff(what, _find(new, paths), _find(baseline, paths), skip)
    a, b = _find(new, VERSION_PATHS), _find(baseline, VERSION_PATHS)
    if (aspects is None or "version" in aspects) and (a is not _MISSING or b is not _MISSING):
        if a is _MISSING or b is _MISSING or _major(a) != _major(b):
            differences.append(f"clue-checks major version: {_show(a)} / {_show(b)}")
    notes = [line for what, paths in NOTED for line in _diff(what, _find(new, paths), _find(baseline, paths))]
    return Comparability(tuple(differences), tuple(notes), forced=force and bool(differences))


def require_comparable(new: Mapping[str, Any], baseline: Mapping[str, Any], *, force: bool = False,
                       new_name: str = "the new run", baseline_name: str = "the baseline",
                       force_hint: str = "--clue-baseline-force",
                       aspects: frozenset[str] | None = None) -> Comparability:
    """:func:`check_comparable`, raising :class:`ComparabilityError` (every difference listed) unless
    the runs agree or `force` is set."""
    result = check_comparable(new, baseline, force=force, aspects=aspects)
    if not result.ok and not force:
        raise ComparabilityError(result.message(new_name, baseline_name, force_hint))
    return result


# The report's flat manifest (report/manifest.py: "data.sha256.<file>", "generation.<task>.<param>", …) read
# as the nested keys CHECKS name. Data files and tasks only one run used are left out: a task one run did not
# run is not a difference in the data, its samples are missing from the comparison (which is then incomplete).
_FLAT_MAPS = (("data.sha256.", "data_sha256"), ("generation.", "generation_params"))
_FLAT_KEYS = (("prompts.sha256", "prompts_sha256"), ("clue_checks.version", "clue_checks_version"),
              ("chat_template.sha256", "chat_template_sha256"))


def _nested(report: Mapping[str, Any], other: Mapping[str, Any]) -> Mapping[str, Any]:
    manifest = report.get("manifest")
    if not isinstance(manifest, Mapping) or not any(isinstance(k, str) and "." in k for k in manifest):
        return report
    theirs = other.get("manifest") if isinstance(other.get("manifest"), Mapping) else {}
    view: dict[str, Any] = {k: v for k, v in manifest.items() if "." not in k}
    for prefix, name in _FLAT_MAPS:
        mine = _unflatten(manifest, prefix, name == "generation_params")
        if name in view or not mine:
            continue
        other_keys = set(_unflatten(theirs, prefix, name == "generation_params"))
        view[name] = {k: v for k, v in mine.items() if k in other_keys} if other_keys else mine
    for flat, name in _FLAT_KEYS:
        if flat in manifest and name not in view:
            view[name] = manifest[flat]
    floors = _sample_floors(manifest.get("thresholds.content"))
    if floors is not None:
        view["sample_floors"] = floors
    return {**report, "manifest": view}


def _sample_floors(text: Any) -> dict[str, Any] | None:
    """The thresholds file's [sample] table ({} when it has none); None when the text is absent or unreadable."""
    if not isinstance(text, str):
        return None
    try:
        floors = parse(text, "thresholds").floors
    except ThresholdsError:
        return None
    return {f"{task}.{metric}": value for task, metrics in floors.items() for metric, value in metrics.items()}


def _unflatten(manifest: Mapping[str, Any], prefix: str, by_task: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in manifest.items():
        if isinstance(key, str) and key.startswith(prefix):
            rest = key[len(prefix):]
            if by_task and "." in rest:
                task, param = rest.split(".", 1)
                out.setdefault(task, {})[param] = value
            elif not by_task:
                out[rest] = value
    return out


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
