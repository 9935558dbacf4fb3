"""`clue data fetch` against a local HTTP server standing in for GitHub or a mirror. No internet."""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import httpx2
import pytest

from clue_checks.data.fetch import CREDENTIALED, PUBLIC, FetchError, UsageError, fetch
from clue_checks.cli.fetch import add_parser
from clue_checks.tasks.medisumcode import MeDiSumCode
from clue_checks.tasks.medisumqa import MeDiSumQA
from clue_checks.tasks.mednli import MedNLI
from clue_checks.tasks.meqsum import MeQSum
from clue_checks.tasks.problemsummary import ProblemSummary
from tests.fakes import FakeServer, free_port_url

XLSX = b"PK\x03\x04 not really a workbook " * 100  # served bytes; only their hash matters here
XLSX_SHA = hashlib.sha256(XLSX).hexdigest()
JSON = b'{"patient_01": {"canaray-string": "synthetic"}}'
MEQSUM = PUBLIC["meqsum"].path
LONGHEALTH = PUBLIC["longhealth"].path


def serve(files: dict[str, tuple[int, dict[str, str], bytes]]) -> FakeServer:
    """A mirror: GET /<relative path> answers files[path], else 404."""
    return FakeServer(lambda method, path, body, count: files.get(path.lstrip("/"), (404, {}, b"not found")))


def leftovers(dest: Path) -> list[Path]:
    return [p for p in dest.rglob("*") if p.is_file()]


def test_fetch_verifies_and_lays_out_like_clue_data(tmp_path: Path) -> None:
    files = {MEQSUM: (200, {"Content-Type": "application/octet-stream"}, XLSX), LONGHEALTH: (200, {}, JSON)}
    with serve(files) as server:
        results = fetch(
            ["meqsum", "LongHealth"], tmp_path, base_urls={"meqsum": server.url, "longhealth": server.url},
            expected_sha256={"meqsum": XLSX_SHA},
        )
    assert (tmp_path / MeQSum.data_path).read_bytes() == XLSX  # exactly where the MeQSum task reads it
    assert (tmp_path / "LongHealth/benchmark_v5.json").read_bytes() == JSON
    assert [(r.name, r.status, r.verified, r.size) for r in results] == [
        ("meqsum", "downloaded", True, len(XLSX)),
        ("longhealth", "downloaded", False, len(JSON)),  # unpinned: hash reported, not verified
    ]
    assert results[1].sha256 == hashlib.sha256(JSON).hexdigest()
    assert sorted(leftovers(tmp_path)) == sorted([tmp_path / MEQSUM, tmp_path / LONGHEALTH])  # no .part files


def test_table_matches_task_paths_and_the_default_urls() -> None:
    assert PUBLIC["meqsum"].source_url() == (
        "https://raw.githubusercontent.com/abachaa/MeQSum/master/MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx"
    )
    assert PUBLIC["longhealth"].source_url("abc123") == (
        "https://raw.githubusercontent.com/kbressem/LongHealth/abc123/data/benchmark_v5.json"
    )
    assert PUBLIC["meqsum"].path == MeQSum.data_path
    for task in (MedNLI, ProblemSummary, MeDiSumQA, MeDiSumCode):
        assert task.data_path in CREDENTIALED[task.name], task.name


def test_sha256_mismatch_leaves_nothing_behind(tmp_path: Path) -> None:
    with serve({MEQSUM: (200, {}, XLSX)}) as server:
        url = f"{server.url}/{MEQSUM}"
        with pytest.raises(FetchError) as info:
            fetch(["meqsum"], tmp_path, base_urls={"meqsum": server.url})  # the table's real hash
    message = str(info.value)
    assert url in message
    assert PUBLIC["meqsum"].sha256 in message and XLSX_SHA in message
    assert "expected 216,310" in message and f"--sha256 meqsum={XLSX_SHA}" in message
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "headers, body",
    [
        ({"Content-Type": "text/html; charset=utf-8"}, b"<p>GitHub page</p>"),
        ({"Content-Type": "application/octet-stream"}, b"\n  <!DOCTYPE html><html><body>blob</body></html>"),
        ({}, b"<HTML><head></head></HTML>"),
    ],
)
def test_html_page_is_refused(tmp_path: Path, headers: dict[str, str], body: bytes) -> None:
    with serve({LONGHEALTH: (200, headers, body)}) as server:
        with pytest.raises(FetchError, match=r"HTML page.*/blob/"):
            fetch(["longhealth"], tmp_path, base_urls={"longhealth": server.url})
    assert leftovers(tmp_path) == []


def test_http_404_names_the_url(tmp_path: Path) -> None:
    with serve({}) as server:
        url = f"{server.url}/mirror/{LONGHEALTH}"
        with pytest.raises(FetchError, match="HTTP 404") as info:
            fetch(["longhealth"], tmp_path, base_urls={"longhealth": server.url + "/mirror/"})
    assert url in str(info.value)
    assert leftovers(tmp_path) == []


def test_unreachable_host_names_the_url(tmp_path: Path) -> None:
    base = free_port_url()
    with pytest.raises(FetchError, match="cannot fetch") as info:
        fetch(["meqsum"], tmp_path, base_urls={"meqsum": base})
    assert f"{base}/{MEQSUM}" in str(info.value)
    assert leftovers(tmp_path) == []


def test_present_verified_file_is_skipped_without_a_request(tmp_path: Path) -> None:
    (tmp_path / MEQSUM).parent.mkdir(parents=True)
    (tmp_path / MEQSUM).write_bytes(XLSX)
    with serve({MEQSUM: (200, {}, XLSX)}) as server:
        [result] = fetch(["meqsum"], tmp_path, base_urls={"meqsum": server.url}, expected_sha256={"meqsum": XLSX_SHA})
        assert server.requests == []
        assert (result.status, result.verified) == ("skipped", True)
        fetch(["meqsum"], tmp_path, base_urls={"meqsum": server.url}, expected_sha256={"meqsum": XLSX_SHA}, force=True)
        assert server.count(f"/{MEQSUM}") == 1


def test_present_file_with_wrong_hash_is_replaced(tmp_path: Path) -> None:
    # e.g. the HTML page CLUE's download_datasets.sh saved under the data file's name
    (tmp_path / MEQSUM).parent.mkdir(parents=True)
    (tmp_path / MEQSUM).write_bytes(b"<!DOCTYPE html>")
    with serve({MEQSUM: (200, {}, XLSX)}) as server:
        [result] = fetch(["meqsum"], tmp_path, base_urls={"meqsum": server.url}, expected_sha256={"meqsum": XLSX_SHA})
    assert result.status == "downloaded" and (tmp_path / MEQSUM).read_bytes() == XLSX


def test_unknown_name_lists_the_available_sets(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as info:
        fetch(["meqsum", "pubmedqa"], tmp_path)
    message = str(info.value)
    assert "'pubmedqa'" in message and "meqsum, longhealth" in message
    assert "MedNLI, Problem Summary, MeDiSumQA" in message and "MeDiSumCode" in message
    assert leftovers(tmp_path) == []  # checked before any download


def test_credentialed_name_explains_physionet(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"PhysioNet credentialed, mednli/1\.0\.0.*data use agreement"):
        fetch(["MedNLI"], tmp_path)
    with pytest.raises(UsageError, match="generate it locally"):
        fetch(["medisumcode"], tmp_path)


def test_bad_pin_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="64 hex digits"):
        fetch(["meqsum"], tmp_path, expected_sha256={"meqsum": "abc"})


def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="clue")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return int(args.func(args))


def test_cli_exit_codes_and_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = {MEQSUM: (200, {}, XLSX), LONGHEALTH: (200, {}, JSON)}
    with serve(files) as server:
        dest = str(tmp_path / "clue")
        ok = cli("data", "fetch", "meqsum", "longhealth", "--dest", dest, "--mirror", server.url,
                 "--sha256", f"meqsum={XLSX_SHA}")
        out = capsys.readouterr().out
        assert ok == 0
        assert f"downloaded verified sha256={XLSX_SHA}" in out and str(tmp_path / "clue" / MEQSUM) in out
        assert f"--sha256 longhealth={hashlib.sha256(JSON).hexdigest()}" in out  # how to pin it
        assert "CC BY 4.0" in out and "not be re-posted" in out

        again = cli("data", "fetch", "meqsum", "--dest", dest, "--mirror", server.url, "--sha256", f"meqsum={XLSX_SHA}")
        assert again == 0 and "skipped" in capsys.readouterr().out

        bad = cli("data", "fetch", "meqsum", "--dest", str(tmp_path / "other"), "--mirror", server.url)
        assert bad == 1 and "sha256 mismatch" in capsys.readouterr().err

    assert cli("data", "fetch", "mednli", "--dest", dest) == 2
    assert "PhysioNet" in capsys.readouterr().err
    assert cli("data", "fetch", "meqsum", "--dest", dest, "--sha256", "meqsum") == 2


def test_cli_mirror_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with serve({LONGHEALTH: (200, {}, JSON)}) as server:
        monkeypatch.setenv("CLUE_DATA_MIRROR", server.url)
        assert cli("data", "fetch", "longhealth", "--dest", str(tmp_path)) == 0
    assert (tmp_path / LONGHEALTH).read_bytes() == JSON


def test_timeout_names_the_url(tmp_path: Path) -> None:
    def stall(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectTimeout("timed out", request=request)

    with pytest.raises(FetchError, match=r"timed out fetching https://raw\.githubusercontent\.com/abachaa/MeQSum/"):
        fetch(["meqsum"], tmp_path, transport=httpx2.MockTransport(stall))
    assert leftovers(tmp_path) == []


def folders(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_dir())


def test_a_failed_fetch_leaves_no_folder_it_made(tmp_path: Path) -> None:
    dest = tmp_path / "clue-data" / "new"
    with serve({}) as server, pytest.raises(FetchError, match="HTTP 404"):
        fetch(["meqsum"], dest, base_urls={"meqsum": server.url})
    assert not (tmp_path / "clue-data").exists()  # neither DEST nor its missing parent stays behind


def test_a_fetch_failing_on_the_second_file_keeps_the_first_and_its_folder(tmp_path: Path) -> None:
    done: list[str] = []
    with serve({MEQSUM: (200, {}, XLSX)}) as server, pytest.raises(FetchError, match="HTTP 404"):
        fetch(["meqsum", "longhealth"], tmp_path, base_urls={"meqsum": server.url, "longhealth": server.url},
              expected_sha256={"meqsum": XLSX_SHA}, on_result=lambda r: done.append(r.name))
    assert done == ["meqsum"] and (tmp_path / MEQSUM).read_bytes() == XLSX
    assert folders(tmp_path) == [tmp_path / "MeQSum"]  # LongHealth/ was made for the failed file and removed


def test_folders_that_were_there_before_stay_even_when_empty(tmp_path: Path) -> None:
    (tmp_path / "LongHealth").mkdir()
    with serve({}) as server, pytest.raises(FetchError):
        fetch(["longhealth", "meqsum"], tmp_path, base_urls={"meqsum": server.url, "longhealth": server.url})
    assert folders(tmp_path) == [tmp_path / "LongHealth"]


def test_an_interrupted_fetch_removes_its_folders_too(tmp_path: Path) -> None:
    def interrupt(request: httpx2.Request) -> httpx2.Response:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fetch(["meqsum"], tmp_path / "d", transport=httpx2.MockTransport(interrupt))
    assert not (tmp_path / "d").exists()


def test_a_file_where_the_folder_belongs_is_one_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "MeQSum").write_text("not a folder")
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    with serve({MEQSUM: (200, {}, XLSX)}) as server:
        args = parser.parse_args(["data", "fetch", "meqsum", "--dest", str(tmp_path), "--mirror", server.url,
                                  "--sha256", f"meqsum={XLSX_SHA}"])
        assert args.func(args) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"cannot create the folder {tmp_path / 'MeQSum'}: a file of that name" in err


def _endless(counter: dict[str, int], chunk: bytes = b"x" * 65536, total: int = 200 * 1024 * 1024):
    """A 200 MB body made lazily, counting what the client pulled."""
    while counter["sent"] < total:
        counter["sent"] += len(chunk)
        yield chunk


def test_a_body_larger_than_the_pinned_file_is_stopped_at_the_pin(tmp_path: Path) -> None:
    pinned = PUBLIC["meqsum"].size
    assert pinned is not None
    counter = {"sent": 0}
    transport = httpx2.MockTransport(lambda request: httpx2.Response(200, content=_endless(counter)))
    with pytest.raises(FetchError, match=f"larger than the pinned file \\({pinned:,} bytes\\)"):
        fetch(["meqsum"], tmp_path, transport=transport)
    assert counter["sent"] <= pinned + 2 * 65536  # stopped at the cap, not after 200 MB
    assert leftovers(tmp_path) == []


def test_a_body_announcing_more_than_the_pin_is_refused_before_reading(tmp_path: Path) -> None:
    counter = {"sent": 0}
    transport = httpx2.MockTransport(lambda request: httpx2.Response(
        200, headers={"Content-Length": str(200 * 1024 * 1024)}, content=_endless(counter)))
    with pytest.raises(FetchError, match="announces 209,715,200 bytes"):
        fetch(["meqsum"], tmp_path, transport=transport)
    assert counter["sent"] <= 65536 and leftovers(tmp_path) == []


def test_fetched_files_get_the_users_umask_not_0600(tmp_path: Path) -> None:
    import os

    old = os.umask(0o022)
    try:
        from clue_checks.data import modes

        modes.umask.cache_clear()
        with serve({LONGHEALTH: (200, {}, JSON)}) as server:
            fetch(["longhealth"], tmp_path, base_urls={"longhealth": server.url})
    finally:
        os.umask(old)
        modes.umask.cache_clear()
    assert (tmp_path / LONGHEALTH).stat().st_mode & 0o777 == 0o644
