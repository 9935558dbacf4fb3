"""The house's limits hold: no module over 400 lines, no function over 50, few imports inside functions, no
import from report/ into roles/, no import cycle (tools/house_numbers.py, tools/import_cycles.py)."""

import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _tool(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_the_package_keeps_the_house_limits(capsys):
    assert _tool("house_numbers").main(["--list"]) == 0, capsys.readouterr().out


def test_a_long_function_breaks_the_limits(tmp_path):
    package = tmp_path / "clue_checks"
    package.mkdir()
    (package / "__init__.py").write_text("def f():\n" + "    x = 1\n" * 60)
    found = _tool("house_numbers").survey(package)
    assert found["long_functions"] == [("clue_checks:f", 61)]


def test_the_package_has_no_import_cycle(capsys):
    assert _tool("import_cycles").main([str(REPO / "clue_checks")]) == 0, capsys.readouterr().out
