"""The forest plot of `clue compare`: each task's difference from the reference with its 95% interval.

Drawn with matplotlib's object API on the Agg canvas (no pyplot state, no display needed) and made
byte-for-byte reproducible: the SVG's element ids come from a fixed hash salt and neither file
carries a date or the matplotlib version.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

SVG_SALT = "clue-checks"


@dataclass(frozen=True)
class ForestRow:
    label: str  # the task or level, e.g. "MedNLI accuracy"
    model: str  # the compared run
    difference: float | None  # model − reference; None: not compared
    low: float | None
    high: float | None
    significant: bool = False  # p < 0.05 (drawn filled)


def forest_plot(rows: Sequence[ForestRow], stem: Path, *, reference: str, title: str = "") -> list[Path]:
    """Write `stem`.png and `stem`.svg; returns their paths. Labels run top to bottom in `rows` order,
    one line per model within a label."""
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
    stem.parent.mkdir(parents=True, exist_ok=True)
    png, svg = stem.parent / f"{stem.name}.png", stem.parent / f"{stem.name}.svg"  # "v1.2" keeps its dot
    with matplotlib.rc_context({"svg.hashsalt": SVG_SALT}):
        fig.savefig(png, dpi=150, metadata={"Software": None})
        fig.savefig(svg, metadata={"Date": None, "Creator": None})
    return [png, svg]


def _first(rows: Sequence[ForestRow], model: str, labels: list[str]) -> int:
    """The first label at which `model` is drawn (its legend entry goes there, once)."""
    return min(labels.index(r.label) for r in rows if r.model == model and r.difference is not None
               and r.low is not None and r.high is not None)
