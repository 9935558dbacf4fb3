"""Module loggers: retries, backoff, the adaptive limit and the store speak through `logging`
(`--log-cli-level=INFO` shows them), without a key or a URL's user:password in any line."""

from __future__ import annotations

import logging

from clue_checks.endpoint.concurrency import AdaptiveLimit
from clue_checks.endpoint.redact import without_userinfo
from clue_checks.endpoint.store import ResponseStore
from test_endpoint_client import CHAT_OK, Sleeps, chat_request, complete, run, serve, vllm_info  # noqa: F401

KEY = "sk-live-logging-1234567"


def logged(caplog) -> str:
    return "\n".join(record.getMessage() for record in caplog.records)


def test_a_retry_is_logged_without_key_or_userinfo(serve, caplog):
    unavailable = (503, {}, {"error": {"message": f"busy, Bearer {KEY}", "type": "ServiceUnavailableError"}})
    server = serve({("POST", "/v1/chat/completions"): lambda body, n: unavailable if n == 1 else (200, {}, CHAT_OK)})
    url = server.url.replace("http://", "http://ward7:p4ssw0rd-long@")
    with caplog.at_level(logging.INFO, logger="clue_checks.endpoint"):
        assert run(complete(url, chat_request(), vllm_info(url), sleeps=Sleeps(), api_key=KEY)).text == "Yes."
    text = logged(caplog)
    assert "try 1 failed" in text and "retrying in" in text
    assert all(r.name == "clue_checks.endpoint.client" for r in caplog.records if "retrying" in r.getMessage())
    assert KEY not in text and "p4ssw0rd-long" not in text and "ward7" not in text


def test_the_adaptive_limit_logs_each_halving(caplog):
    limit = AdaptiveLimit(16, 64)
    with caplog.at_level(logging.INFO, logger="clue_checks.endpoint.concurrency"):
        limit.release(limit.epoch, "overload")
    assert "concurrency limit halved to 8" in logged(caplog)


def test_a_corrupt_store_moved_aside_is_logged(tmp_path, caplog):
    path = tmp_path / "responses.sqlite3"
    path.write_bytes(b"not a database at all" * 100)
    with caplog.at_level(logging.INFO, logger="clue_checks.endpoint.store"):
        ResponseStore(path, replace_corrupt=True).close()
    assert "was corrupt: kept as" in logged(caplog) and "opened" in logged(caplog)


def test_no_userinfo_leaves_only_the_host():
    assert without_userinfo("at https://bob:s3cret@tgi:8080/x and http://h/y") == "at https://***@tgi:8080/x and http://h/y"


def test_under_redaction_a_retry_log_line_holds_the_servers_words_only_as_a_hash(serve, caplog):
    quoted = "PATIENTTEXT-quoted-back-by-the-server"
    unavailable = (503, {}, {"error": {"message": f"busy with inputs {quoted!r}", "type": "ServiceUnavailableError"}})
    server = serve({("POST", "/v1/chat/completions"): lambda body, n: unavailable if n == 1 else (200, {}, CHAT_OK)})
    with caplog.at_level(logging.INFO, logger="clue_checks.endpoint"):
        assert run(complete(server.url, chat_request(), vllm_info(server.url), sleeps=Sleeps(),
                            hash_server_text=True)).text == "Yes."
    text = logged(caplog)
    assert "try 1 failed" in text and "sha256:" in text
    assert quoted not in text
