"""The HTML report's charts as inline SVG, drawn here: static markup, no script, every label escaped.

Three small charts: scores with their 95% intervals on a 0-1 axis, counts per failure kind, and a forest
plot of paired differences against a baseline. Hand-drawn because each is a few rectangles and lines,
and a page that must open offline is better without a charting library's weight.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

LABEL_W = 210  # left column for labels
PLOT_W = 360
TEXT_W = 230  # right column for the numbers
ROW_H = 24
TOP = 22  # room for the axis labels


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None
    low: float | None = None
    high: float | None = None
    note: str = ""  # shown right of the bar (e.g. "n=45"), or the reason when value is None
    level: bool = False  # a Level average: drawn in its own colour


def _num(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _svg(width: int, height: int, label: str, body: list[str], style: str = "") -> str:
    """`style`: CSS for a chart that leaves the page (the page's stylesheet is not there)."""
    css = f"<style>{style}</style>" if style else ""
    return (f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
            f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg"><title>{escape(label)}</title>'
            + css + "".join(body) + "</svg>")


def _text(x: float, y: float, text: str, cls: str = "", anchor: str = "start", full: str | None = None) -> str:
    """A label; `full` (the unshortened text) becomes its tooltip."""
    title = f"<title>{escape(full)}</title>" if full else ""
    attrs = f' class="{cls}"' if cls else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{attrs}>{title}{escape(text)}</text>'


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def score_bars(bars: Sequence[Bar], label: str = "task scores with 95% intervals") -> str:
    """Horizontal bars on a 0-1 axis, each with its interval as a whisker; None values say why instead."""
    height = TOP + ROW_H * len(bars) + 6
    x0 = LABEL_W

    def x(v: float) -> float:
        return x0 + PLOT_W * min(max(v, 0.0), 1.0)

    body = []
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        body.append(f'<line class="grid" x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{TOP - 4}" y2="{height - 4}"/>')
        body.append(_text(x(tick), TOP - 8, f"{tick:g}", "axis", "middle"))
    for i, bar in enumerate(bars):
        y = TOP + i * ROW_H
        mid = y + ROW_H / 2
        body.append(_text(x0 - 8, mid + 4, _short(bar.label, 30), "label" + (" level" if bar.level else ""), "end",
                          bar.label))
        if bar.value is None:
            body.append(_text(x0 + 4, mid + 4, _short(f"not computed: {bar.note}", 70), "missing",
                              full=f"not computed: {bar.note}"))
            continue
        body.append(f'<rect class="bar{" level" if bar.level else ""}" x="{x0}" y="{y + 5}" '
                    f'width="{x(bar.value) - x0:.1f}" height="{ROW_H - 10}"/>')
        interval = ""
        if bar.low is not None and bar.high is not None:
            lo, hi = x(bar.low), x(bar.high)
            body.append(f'<line class="ci" x1="{lo:.1f}" x2="{hi:.1f}" y1="{mid}" y2="{mid}"/>'
                        f'<line class="ci" x1="{lo:.1f}" x2="{lo:.1f}" y1="{mid - 5}" y2="{mid + 5}"/>'
                        f'<line class="ci" x1="{hi:.1f}" x2="{hi:.1f}" y1="{mid - 5}" y2="{mid + 5}"/>')
            interval = f" [{_num(bar.low)}, {_num(bar.high)}]"
        body.append(_text(x0 + PLOT_W + 8, mid + 4, f"{_num(bar.value)}{interval} {bar.note}".rstrip(), "value"))
    return _svg(LABEL_W + PLOT_W + TEXT_W, height, label, body)


def kind_bars(counts: Mapping[str, int], n_samples: int, label: str) -> str:
    """Samples per failure kind, as a share of the task's samples (a sample can have several kinds)."""
    width_label, width_plot, width_text = 150, 170, 90
    height = ROW_H * max(len(counts), 1) + 4
    body = []
    scale = max(n_samples, max(counts.values(), default=0), 1)
    for i, (kind, count) in enumerate(counts.items()):
        y = i * ROW_H
        mid = y + ROW_H / 2
        body.append(_text(width_label - 8, mid + 4, _short(kind, 22), "label" + ("" if count else " zero"), "end", kind))
        body.append(f'<rect class="track" x="{width_label}" y="{y + 6}" width="{width_plot}" height="{ROW_H - 12}"/>')
        if count:
            body.append(f'<rect class="bar kind" x="{width_label}" y="{y + 6}" '
                        f'width="{max(width_plot * count / scale, 1.5):.1f}" height="{ROW_H - 12}"/>')
        share = f" ({100 * count / n_samples:.0f}%)" if n_samples else ""
        body.append(_text(width_label + width_plot + 6, mid + 4, f"{count}{share}", "value" + ("" if count else " zero")))
    return _svg(width_label + width_plot + width_text, height, label, body)


@dataclass(frozen=True)
class Difference:
    label: str
    value: float | None
    low: float | None
    high: float | None
    note: str = ""  # e.g. "p=0.031"


def forest(rows: Sequence[Difference], label: str = "difference to the baseline with 95% intervals", *,
           style: str = "") -> str:
    """Paired differences (this run minus the baseline) around a dashed zero line, on a symmetric axis."""
    extent = max([abs(v) for r in rows for v in (r.value, r.low, r.high) if v is not None] or [0.0])
    extent = max(extent * 1.1, 0.01)
    height = TOP + ROW_H * len(rows) + 6
    x0 = LABEL_W

    def x(v: float) -> float:
        return x0 + PLOT_W * (v + extent) / (2 * extent)

    body = [f'<line class="zero" x1="{x(0):.1f}" x2="{x(0):.1f}" y1="{TOP - 4}" y2="{height - 4}"/>']
    for tick in (-extent, -extent / 2, 0.0, extent / 2, extent):
        body.append(_text(x(tick), TOP - 8, f"{tick:+.2f}" if tick else "0", "axis", "middle"))
    for i, row in enumerate(rows):
        y = TOP + i * ROW_H
        mid = y + ROW_H / 2
        body.append(_text(x0 - 8, mid + 4, _short(row.label, 30), "label", "end", row.label))
        if row.value is None:
            body.append(_text(x0 + 4, mid + 4, _short(f"not computed {row.note}".strip(), 70), "missing"))
            continue
        worse = row.high is not None and row.high < 0
        better = row.low is not None and row.low > 0
        cls = "worse" if worse else "better" if better else "same"
        if row.low is not None and row.high is not None:
            body.append(f'<line class="ci {cls}" x1="{x(row.low):.1f}" x2="{x(row.high):.1f}" y1="{mid}" y2="{mid}"/>')
        body.append(f'<rect class="point {cls}" x="{x(row.value) - 4:.1f}" y="{mid - 4}" width="8" height="8"/>')
        interval = f" [{row.low:+.3f}, {row.high:+.3f}]" if row.low is not None and row.high is not None else ""
        body.append(_text(x0 + PLOT_W + 8, mid + 4, f"{row.value:+.3f}{interval} {row.note}".rstrip(), "value"))
    return _svg(LABEL_W + PLOT_W + TEXT_W, height, label, body, style)
