"""One error tree: every exception the package defines is a ClueError (or an internal one, listed with why),
the tree in clue_checks/errors.py names them all, and the messages reach the user as one line."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import clue_checks
from clue_checks import errors
from clue_checks.cli import main
from clue_checks.errors import ClueError, ConfigError, DataError, ReportError, StoreError

# Exceptions that never reach a user, so they stay outside the tree.
INTERNAL = {
    "clue_checks.endpoint.wire.Malformed": "a 2xx body the client turns into an EndpointError of kind 'malformed'",
    "clue_checks.server.tgi_requests.RequestError": "the baseline server's HTTP error answer, sent to the client",
}


def _package_exceptions() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for module_info in pkgutil.walk_packages(clue_checks.__path__, "clue_checks."):
        if module_info.name.rpartition(".")[2] == "__main__":  # running it is all it does
            continue
        module = importlib.import_module(module_info.name)
        for name, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == module.__name__:
                found[f"{module.__name__}.{name}"] = value
    return found


EXCEPTIONS = _package_exceptions()


def test_the_walk_finds_the_package_exceptions():
    # A walk that imported nothing would pass every test below.
    assert {"clue_checks.endpoint.types.EndpointError", "clue_checks.tasks.taskfile_reader.TaskFileError",
            "clue_checks.report.write.html.ReportDirError", *INTERNAL} <= set(EXCEPTIONS)


@pytest.mark.parametrize("qualified", sorted(EXCEPTIONS))
def test_every_exception_is_a_clue_error_or_listed_as_internal(qualified):
    cls = EXCEPTIONS[qualified]
    if qualified in INTERNAL:
        assert not issubclass(cls, ClueError), f"{qualified} is in the tree now: remove it from INTERNAL"
    else:
        assert issubclass(cls, ClueError), f"{qualified} must derive from a family in clue_checks/errors.py"


def test_the_docstring_tree_names_every_clue_error():
    missing = sorted(name for name, cls in EXCEPTIONS.items()
                     if issubclass(cls, ClueError) and f" {cls.__name__} " not in errors.__doc__)
    assert not missing, f"add them to the tree in clue_checks/errors.py: {missing}"


@pytest.mark.parametrize(("qualified", "family"), [
    ("clue_checks.report.numbers.thresholds.ThresholdsError", ConfigError),
    ("clue_checks.tasks.taskfile_reader.TaskFileError", ConfigError),
    ("clue_checks.tasks.registry.TaskClash", ConfigError),
    ("clue_checks.data.fetch.UsageError", ConfigError),
    ("clue_checks.endpoint.store_types.BadRow", StoreError),
    ("clue_checks.report.merge.MergeError", ReportError),
    ("clue_checks.report.folder_lock.FolderBusy", ReportError),
])
def test_families(qualified, family):
    assert issubclass(EXCEPTIONS[qualified], family)


@pytest.mark.parametrize(("qualified", "builtin"), [
    ("clue_checks.report.document.ReportFormatError", ValueError),  # caught as ValueError by report readers
    ("clue_checks.report.prediction_lines.PredictionLineError", ValueError),
    ("clue_checks.data.fetch.UsageError", EXCEPTIONS["clue_checks.data.fetch.FetchError"]),  # clue data fetch
])
def test_ancestry_that_catch_sites_rely_on_is_kept(qualified, builtin):
    assert issubclass(EXCEPTIONS[qualified], builtin)


def test_old_import_paths_give_the_same_classes():
    from clue_checks.data.errors import DataError as data_error
    from clue_checks.endpoint.store import StoreError as store_error

    assert data_error is DataError and store_error is StoreError


def test_data_error_message_names_file_record_and_hint():
    error = DataError("data/mednli.jsonl", "no field 'label'", where="line 3", hint="use the CLUE split")
    assert str(error) == "data/mednli.jsonl, line 3: no field 'label' (use the CLUE split)"
    assert isinstance(error, ClueError)


def test_importing_the_tree_is_cheap():
    # The plugin imports it at start-up: nothing of the package beyond it, no third-party library.
    code = ("import sys; before = set(sys.modules); import clue_checks.errors; "
            "print(' '.join(sorted(set(sys.modules) - before)))")
    added = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
                .stdout.split())
    assert {m for m in added if m.startswith("clue_checks")} == {"clue_checks", "clue_checks.errors"}
    assert not added & {"httpx2", "numpy", "pytest", "transformers"}


@pytest.mark.parametrize(("argv", "prefix"), [
    (["report", "html", "{empty}"], "clue report html: error: {empty}: no clue-report.json here"),
    (["report", "merge", "{out}", "{empty}"], "clue report merge: {empty}"),
    (["compare", "{empty}", "{empty}", "--no-plot"], "clue compare: error: {empty}"),
])
def test_cli_errors_are_one_line_and_exit_2(argv, prefix, tmp_path, capsys):
    places = {"empty": tmp_path / "empty", "out": tmp_path / "out"}
    places["empty"].mkdir()
    assert main([arg.format(**places) for arg in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(prefix.format(**places))
    assert err.count("\n") == 1 and "Traceback" not in err


# -- narrowed except clauses: what they no longer catch cannot be raised there ---------------------------


@pytest.mark.parametrize("url", ["http://[::1", "http://\udcff", "\x00", "http://\u0080", "localhost:8080", ""])
def test_an_unparsable_endpoint_url_is_refused_with_advice(url):
    from clue_checks.endpoint.client import EndpointClient

    with pytest.raises(ValueError, match="is not an http\\(s\\) URL"):
        EndpointClient(url)


@settings(max_examples=100, deadline=None)
@example(location="http://[::1")  # not a URL: shown as sent
@example(location="//\udcff")
@given(location=st.text(min_size=1).filter(lambda s: s.strip() == s and "\n" not in s and "\r" not in s))
def test_any_location_header_gives_a_redirect_target(location):
    import httpx2

    from clue_checks.endpoint._http_errors import redirect_target

    response = httpx2.Response(301, headers={"location": location.encode("utf-8", "surrogatepass")},
                               request=httpx2.Request("POST", "http://127.0.0.1:8080/generate"))
    assert isinstance(redirect_target(response), str)
