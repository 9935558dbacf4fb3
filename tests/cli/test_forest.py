"""The forest plot of `clue compare`: an SVG that needs no plotting library, a PNG only where matplotlib is."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from clue_checks.report.compare import forest
from clue_checks.report.compare.forest import ForestRow, forest_plot, forest_svg

SVG = "{http://www.w3.org/2000/svg}"
ROWS = [ForestRow("MedNLI accuracy", "med-7b", -0.12, -0.2, -0.04, significant=True),
        ForestRow("MeQSum rougeL", "med-7b", 0.01, -0.03, 0.05),
        ForestRow("<script>alert(1)</script>", "med-7b", None, None, None)]


def texts(svg: str) -> list[str]:
    root = ET.fromstring(svg.encode())
    # what is shown: a label's tooltip (its <title> child) is not
    return [(t.text or "") + "".join(child.tail or "" for child in t) for t in root.iter(f"{SVG}text")]


def test_the_svg_is_a_standalone_document_with_its_own_style():
    svg = forest_svg(ROWS, reference="base-7b", title="med-7b vs base-7b")
    root = ET.fromstring(svg.encode())  # well-formed XML, hostile labels escaped
    assert root.tag == f"{SVG}svg" and root.find(f"{SVG}style") is not None
    assert root.find(f"{SVG}title").text == "med-7b vs base-7b: difference from base-7b with 95% intervals"
    shown = texts(svg)
    assert any(t.startswith("-0.120 [-0.200, -0.040] p < 0.05") for t in shown)
    assert any("not computed" in t for t in shown)
    # the worse row is drawn in the "worse" colour, the unchanged one as "same"
    classes = [e.get("class") for e in root.iter(f"{SVG}rect")]
    assert classes == ["point worse", "point same"]


def test_several_models_are_told_apart_by_label():
    rows = [ForestRow("MedNLI accuracy", "a", 0.1, 0.0, 0.2), ForestRow("MedNLI accuracy", "b", -0.1, -0.2, 0.0)]
    shown = texts(forest_svg(rows, reference="base"))
    assert "MedNLI accuracy · a" in shown and "MedNLI accuracy · b" in shown


def test_without_matplotlib_only_the_svg_is_written(tmp_path, monkeypatch):
    monkeypatch.setattr(forest, "png_available", lambda: False)
    written = forest_plot(ROWS, tmp_path / "plots" / "v1.2", reference="base")
    assert written == [tmp_path / "plots" / "v1.2.svg"] and not (tmp_path / "plots" / "v1.2.png").exists()


def test_with_matplotlib_the_png_is_drawn_too(tmp_path):
    pytest.importorskip("matplotlib")
    png, svg = forest_plot(ROWS, tmp_path / "compare", reference="base")
    assert png.read_bytes().startswith(b"\x89PNG") and svg.suffix == ".svg"


def test_clue_compare_says_how_to_get_the_png(tmp_path, monkeypatch, capsys):
    from test_compare_cli import baseline_scores, degraded, write_run

    base = baseline_scores()
    ref = write_run(tmp_path / "base", base, model="base-7b")
    new = write_run(tmp_path / "finetune", degraded(base), model="med-7b")
    monkeypatch.setattr(forest, "png_available", lambda: False)
    from clue_checks.cli import main

    assert main(["compare", str(ref), str(new), "--resamples", "1000"]) == 0
    captured = capsys.readouterr()
    assert forest.PNG_NEEDS_MATPLOTLIB in captured.err and "clue-checks[plot]" in captured.err
    assert "Forest plot: `compare.svg`" in captured.out
