"""--clue-redact without holes: a marker planted in the data (prompts, references), echoed by the model
and quoted back in a server's error text, is found in no file and no stream a run produces except the
response store: reports, predictions, index.html, JUnit, the terminal, --report-log (pytest-reportlog),
in one process and under `-n 2`. pytest's `--debug` trace, written from several threads at once, can hold
stretches of a process's memory that no plugin sees (roles/debug_trace.py): with --clue-redact it is refused."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
from fakes import FakeServer
from suite_runs import FIXTURES, chat_server, ok, run, run_as_user, suite  # noqa: F401  (suite is a fixture)

pytest_plugins = ["pytester"]

MARKER = "ZQXLEAKMARKER7731"


def planted(folder: Path) -> Path:
    """The bundled fixtures with MARKER in every MedNLI premise and every Problem Summary note and summary."""
    data = folder / "data"
    shutil.copytree(FIXTURES, data)
    mednli = data / "MedNLI" / "mli_test_v1.jsonl"
    rows = [json.loads(line) for line in mednli.read_text(encoding="utf-8").splitlines() if line.strip()]
    mednli.write_text("".join(json.dumps({**r, "sentence1": f"{r['sentence1']} {MARKER}"}) + "\n" for r in rows),
                      encoding="utf-8")
    summary = data / "ProblemSummary" / "BioNLP2023-1A-Test.csv"
    with summary.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        fields, records = reader.fieldnames, list(reader)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields)
    writer.writeheader()
    for r in records:
        writer.writerow({**r, "Assessment": f"{r['Assessment']} {MARKER}", "Summary": f"{r['Summary']} {MARKER}"})
    summary.write_text(out.getvalue(), encoding="utf-8")
    return data


def echoing(body, count):
    """Answers with the words around the marker; every fourth request is a 400 quoting the prompt."""
    text = body["messages"][-1]["content"]
    at = text.find(MARKER)
    if count % 4 == 0:
        return 400, {}, {"error": f"Input validation error: inputs {text[-300:]!r} too long", "error_type": "validation"}
    return ok("neutral " + (text[max(0, at - 30): at + len(MARKER)] if at >= 0 else ""))


def leaks(root: Path, skip: set[Path]) -> list[str]:
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if any(path == s or s in path.parents for s in skip):
            continue
        if MARKER.encode() in path.read_bytes():
            found.append(str(path.relative_to(root)))
    return found


@pytest.mark.parametrize("mode", ["one process", pytest.param("-n 2", marks=pytest.mark.slow)])
def test_a_planted_marker_reaches_nothing_but_the_store(suite, tmp_path_factory, mode):
    pytest.importorskip("pytest_reportlog")
    data = planted(tmp_path_factory.mktemp("data"))
    workers = ["-n", "2"] if mode != "one process" else []
    with FakeServer(chat_server(echoing)) as server:
        result = (run_as_user if workers else run)(suite, f"--model-endpoint={server.url}", f"--clue-data={data}", "--clue-tasks=mednli,problemsummary",
                     "--clue-limit=8", "--clue-cache=c", "--clue-redact", "--report-log=reportlog.jsonl", "--junitxml=junit.xml",
                     "-rA", "-v", "--tb=long", *workers)
        answered = server.count("/v1/chat/completions")
    assert answered >= 16 and (suite.path / "clue-report" / "index.html").is_file()
    store = suite.path / "c"
    assert MARKER.encode() in (store / "responses.sqlite3").read_bytes()  # the marker was sent and answered
    log = (suite.path / "reportlog.jsonl").read_text(encoding="utf-8")
    assert '"clue_record"' in log and "sha256:" in log  # the records are there, hashed
    streams = {"stdout": result.stdout.str(), "stderr": result.stderr.str()}
    assert "sha256:" in streams["stdout"]  # the failures are shown, hashed
    assert [name for name, text in streams.items() if MARKER in text] == []
    assert leaks(suite.path, {store}) == []


def refused_debug_run(suite, data, *workers):
    with FakeServer(chat_server(echoing)) as server:
        result = (run_as_user if workers else run)(suite, f"--model-endpoint={server.url}", f"--clue-data={data}",
                     "--clue-tasks=mednli", "--clue-limit=4", "--clue-cache=c", "--clue-redact", "--junitxml=junit.xml",
                     "--debug=pytestdebug.log", *workers)
        answered = server.count("/v1/chat/completions")
    return result, answered


def test_debug_with_redact_is_refused_before_any_sample_runs(suite, tmp_path_factory):
    # Under -n 2 a --debug run leaked a spooled prompt into pytestdebug.log through racing writes, now and then.
    result, answered = refused_debug_run(suite, planted(tmp_path_factory.mktemp("data")))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--debug cannot be used with --clue-redact" in result.stderr.str()
    assert answered == 0 and not (suite.path / "clue-report").exists()


def test_the_pytest_debug_variable_with_redact_is_refused_and_alone_is_not(monkeypatch):
    from types import SimpleNamespace

    from clue_checks.roles.debug_trace import refuse_debug_trace

    config = SimpleNamespace(getoption=lambda name, default=None: None)
    monkeypatch.setenv("PYTEST_DEBUG", "1")
    with pytest.raises(pytest.UsageError, match="PYTEST_DEBUG cannot be used with --clue-redact"):
        refuse_debug_trace(config, redact=True)
    refuse_debug_trace(config, redact=False)
    monkeypatch.delenv("PYTEST_DEBUG")
    refuse_debug_trace(config, redact=True)


@pytest.mark.slow
def test_debug_with_redact_is_refused_under_xdist_and_nothing_leaks(suite, tmp_path_factory):
    result, answered = refused_debug_run(suite, planted(tmp_path_factory.mktemp("data")), "-n", "2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stderr.str()[-2000:]
    assert "--debug cannot be used with --clue-redact" in result.stderr.str()
    assert answered == 0 and "[gw0]" not in result.stdout.str()  # no worker ran a sample
    assert leaks(suite.path, set()) == [] and MARKER not in result.stdout.str() + result.stderr.str()


# -- a password in the endpoint URL ------------------------------------------------------------------------

SECRET = "S3CRETKEY9"


def test_url_userinfo_is_shown_as_stars_in_any_text():
    from clue_checks.endpoint.redact import Redactor, without_userinfo

    text = f"endpoint http://user:{SECRET}@tgi:8080/v1, and https://{SECRET}@h.example?x=1"
    assert without_userinfo(text) == "endpoint http://***@tgi:8080/v1, and https://***@h.example?x=1"
    assert SECRET not in Redactor()(text) and "mailto user@example.org" == Redactor()("mailto user@example.org")


def test_the_http_library_logs_no_userinfo(caplog):
    import asyncio
    import logging

    from fakes import tgi_handler

    from clue_checks.endpoint.client import EndpointClient

    async def ask(url: str) -> None:
        async with EndpointClient(url, startup_wait=1.0) as client:
            await client.discover()

    with FakeServer(tgi_handler(lambda body, n: ok("x"))) as server, caplog.at_level(logging.DEBUG):
        asyncio.run(ask(server.url.replace("http://", f"http://user:{SECRET}@")))
    assert any("HTTP Request" in r.getMessage() and "***@" in r.getMessage() for r in caplog.records)
    assert SECRET not in caplog.text


def test_a_password_in_the_endpoint_url_is_printed_nowhere_even_when_the_endpoint_is_down(suite):
    from fakes import free_port_url

    url = free_port_url().replace("http://", f"http://user:{SECRET}@")
    result = run(suite, f"--model-endpoint={url}", "--clue-tasks=meqsum", "--clue-limit=2", "--clue-no-cache",
                 "--log-level=DEBUG", "-rA")
    text = result.stdout.str() + result.stderr.str()
    assert result.ret != 0 and "***@127.0.0.1" in text, text[-2000:]
    assert SECRET not in text
    assert leaks_of(suite.path, SECRET) == []


def leaks_of(root: Path, secret: str) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
