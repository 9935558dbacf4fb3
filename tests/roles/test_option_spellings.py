"""Every clue-checks option but --model-endpoint is spelled --clue-...; an old spelling is refused with a hint
unless another plugin owns an option of that name."""

from __future__ import annotations

from pathlib import Path

import pytest

from clue_checks import options

pytest_plugins = ["pytester"]

# Old spellings are built from their parts, so the test reads the same after any text rewrite.
OLD_TASKS, OLD_LIMIT = "--" + "tasks", "--" + "limit"


def test_every_option_but_model_endpoint_has_the_clue_prefix():
    flags = [flag for flag, *_ in options.OPTIONS]
    assert [f for f in flags if not f.startswith("--clue-")] == ["--model-endpoint"]
    assert all(ini.startswith("clue_") for _, ini, *_ in options.OPTIONS)


def test_each_old_spelling_is_now_an_option():
    flags = {flag for flag, *_ in options.OPTIONS}
    assert {f"--clue-{name}" for name in options.UNPREFIXED_BEFORE} <= flags


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_a="def test_a():\n    pass\n")
    return pytester


@pytest.mark.parametrize("given", [[f"{OLD_TASKS}=mednli"], [OLD_TASKS, "mednli", f"{OLD_LIMIT}=3"]])
def test_an_old_spelling_is_refused_with_the_new_one(project, given):
    result = project.runpytest("-p", "no:cacheprovider", *given)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {OLD_TASKS} is now --clue-tasks*"])
    if len(given) > 2:
        assert f"{OLD_LIMIT} is now --clue-limit" in result.stderr.str()


def test_an_old_spelling_in_addopts_is_refused_too(project):
    project.makeini(f"[pytest]\naddopts = {OLD_LIMIT}=2\n")
    result = project.runpytest("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"{OLD_LIMIT} is now --clue-limit" in result.stderr.str()


def test_another_plugins_option_of_the_old_name_keeps_working(project):
    project.makeconftest(f"""
def pytest_addoption(parser):
    parser.addoption("{OLD_TASKS}", dest="their_tasks")
""")
    project.makepyfile(test_theirs=f"""
def test_theirs(request):
    assert request.config.getoption("their_tasks") == "theirs"
    assert request.config.getoption("clue_tasks") is None
""")
    result = project.runpytest("-p", "no:cacheprovider", f"{OLD_TASKS}=theirs")
    assert result.ret == 0, result.stderr.str()
    result.assert_outcomes(passed=2)  # test_a and test_theirs


def test_an_unknown_option_of_no_old_name_gets_pytests_own_error(project):
    result = project.runpytest("-p", "no:cacheprovider", "--no-such-option")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "unrecognized arguments: --no-such-option" in result.stderr.str()
    assert "is now --clue-" not in result.stderr.str()


def test_the_options_page_lists_every_option_and_ini_key():
    page = (Path(__file__).resolve().parents[2] / "docs" / "options.md").read_text(encoding="utf-8")
    for flag, ini, *_ in options.OPTIONS:
        assert f"`{flag}" in page and f"`{ini}`" in page, flag
