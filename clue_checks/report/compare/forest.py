"""The forest plot of `clue compare`: each task's difference from the reference with its 95% interval.

The SVG is drawn by the HTML page's own chart code (`html_svg.forest`), with its colours inlined so the
file stands alone; it is always written. The PNG needs matplotlib, an optional extra
(`pip install 'clue-checks[plot]'`): where it is installed the PNG is drawn with its object API on the
Agg canvas (no pyplot state, no display needed), carrying neither a date nor the matplotlib version, so
both files are byte-for-byte reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

from clue_checks.report.write.html_svg import Difference, forest

PNG_NEEDS_MATPLOTLIB = ("forest plot: PNG not drawn (matplotlib is not installed; "
                        "pip install 'clue-checks[plot]' draws it beside the SVG)")
# The page's chart styles (html_assets/page.css) with its colours written out.
SVG_STYLE = ("text { font-family: system-ui, sans-serif; font-size: 12px; } .axis { fill: #5d6773; font-size: 11px; } "
             ".label, .value { fill: #1d232b; } .missing { fill: #a15c00; font-style: italic; } "
             "line.zero { stroke: #9aa3ad; stroke-dasharray: 4 3; } .ci { stroke-width: 1.5; } "
             ".worse { stroke: #b3261e; fill: #b3261e; } .better { stroke: #2e7d32; fill: #2e7d32; } "
             ".same { stroke: #1d232b; fill: #1d232b; }")


@dataclass(frozen=True)
class ForestRow:
    label: str  # the task or level, e.g. "MedNLI accuracy"
    model: str  # the compared run
    difference: float | None  # model − reference; None: not compared
    low: float | None
    high: float | None
    significant: bool = False  # p < 0.05 (drawn filled)


def png_available() -> bool:
    return find_spec("matplotlib") is not None


def forest_svg(rows: Sequence[ForestRow], *, reference: str, title: str = "") -> str:
    """The plot as a standalone SVG document: one line per row, labelled with the model when several are compared."""
    several = len({r.model for r in rows}) > 1
    differences = [Difference(f"{r.label} · {r.model}" if several else r.label, r.difference, r.low, r.high,
                              "p < 0.05" if r.significant else "") for r in rows]
    label = f"{title}: " if title else ""
    svg = forest(differences, f"{label}difference from {reference} with 95% intervals", style=SVG_STYLE)
    return "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n" + svg + "\n"


def forest_plot(rows: Sequence[ForestRow], stem: Path, *, reference: str, title: str = "") -> list[Path]:
    """Write `stem`.png (where matplotlib is installed) and `stem`.svg; returns the paths written. Labels run
    top to bottom in `rows` order, one line per model within a label."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    png, svg = stem.parent / f"{stem.name}.png", stem.parent / f"{stem.name}.svg"  # "v1.2" keeps its dot
    svg.write_text(forest_svg(rows, reference=reference, title=title), encoding="utf-8")
    if not png_available():
        return [svg]
    _png(rows, png, reference=reference, title=title)
    return [png, svg]


def _png(rows: Sequence[ForestRow], png: Path, *, reference: str, title: str) -> None:
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    labels = list(dict.fromkeys(r.label for r in rows))
    models = list(dict.fromkeys(r.model for r in rows))
    colours = matplotlib.colormaps["tab10"]
    step = 0.7 / max(len(models), 1)
    fig = Figure(figsize=(7.5, 0.9 + 0.42 * len(labels) * max(1, len(models) * 0.6)))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for r in rows:
        i, m = labels.index(r.label), models.index(r.model)
        y = -(i + (m - (len(models) - 1) / 2) * step)
        colour = colours(m % 10)
        if r.difference is None or r.low is None or r.high is None:
            ax.text(0, y, "not compared", ha="center", va="center", fontsize=7, color="grey")
            continue
        ax.errorbar([r.difference], [y], xerr=[[r.difference - r.low], [r.high - r.difference]], fmt="o",
                    color=colour, mfc=colour if r.significant else "white", capsize=3, markersize=5,
                    label=r.model if labels.index(r.label) == _first(rows, r.model, labels) else None)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks([-i for i in range(len(labels))], labels)
    ax.set_ylim(-(len(labels) - 0.5), 0.5)
    ax.set_xlabel(f"difference from {reference} (95% interval; filled: p < 0.05)")
    if title:
        ax.set_title(title, fontsize=10)
    if len(models) > 1:
        ax.legend(fontsize=8, loc="best")
    ax.grid(axis="x", linewidth=0.3)
    fig.tight_layout()
    fig.savefig(png, dpi=150, metadata={"Software": None})


def _first(rows: Sequence[ForestRow], model: str, labels: list[str]) -> int:
    """The first label at which `model` is drawn (its legend entry goes there, once)."""
    return min(labels.index(r.label) for r in rows if r.model == model and r.difference is not None
               and r.low is not None and r.high is not None)
