"""The data egress guard: credentialed tasks go only to loopback, private networks or listed hosts."""

from __future__ import annotations

import pytest
from fakes import FakeServer
from suite_runs import MEDNLI_META, ok, report, run, suite  # noqa: F401  (suite is a fixture)

from clue_checks.egress import ATTESTATION, EgressRefused, check, decide, manifest_entry

pytest_plugins = ["pytester"]

PUBLIC = {"api.provider.example": ["93.184.215.14"], "tgi": ["10.0.3.7"], "mixed.example": ["10.0.0.2", "8.8.8.8"],
          "ipv6.example": ["2606:4700::1111"], "local-v6": ["::1"]}


def fake_resolve(host: str) -> list[str]:
    return PUBLIC.get(host, [])


@pytest.mark.parametrize("url, allowed_by", [
    ("http://127.0.0.1:8080", "loopback"),
    ("http://localhost:8080", "loopback"),
    ("http://[::1]:8080", "loopback"),
    ("http://10.1.2.3:8080", "private network"),
    ("http://192.168.1.20", "private network"),
    ("https://172.20.0.5/v1", "private network"),
    ("http://tgi:8080", "private network"),  # a compose/k8s service name on a private network
    ("http://local-v6:80", "loopback"),
    ("https://api.provider.example/v1", None),
    ("https://93.184.215.14", None),
    ("https://mixed.example", None),  # one public address is enough to refuse
    ("https://ipv6.example", None),
    ("https://unresolvable.example", None),  # cannot be shown to be local
])
def test_hosts_are_classified_from_their_addresses(url, allowed_by):
    assert decide(url, [], resolve=fake_resolve).allowed_by == allowed_by


def test_a_listed_host_is_allowed_and_the_attestation_recorded():
    decisions = check(["https://API.provider.example/v1"], ["mednli"], ["api.provider.example"], resolve=fake_resolve)
    assert [d.allowed_by for d in decisions] == ["listed (--clue-allow-host)"]
    entry = manifest_entry(decisions, ["mednli"], ["api.provider.example"])
    assert entry["egress.attestation"] == ATTESTATION and entry["egress.allowed_hosts"] == ["api.provider.example"]
    assert entry["egress.endpoints"] == [{"url": "https://API.provider.example/v1", "host": "api.provider.example",
                                          "allowed_by": "listed (--clue-allow-host)"}]


def test_a_refusal_is_one_line_citing_the_agreement_and_the_fix():
    with pytest.raises(EgressRefused) as caught:
        check(["http://127.0.0.1:1", "https://user:KEY@api.provider.example/v1"], ["mednli", "medisumqa"], [],
              resolve=fake_resolve)
    message = str(caught.value)
    assert "\n" not in message and "KEY" not in message
    assert "mednli, medisumqa" in message and "api.provider.example" in message
    assert "PhysioNet's credentialed data use agreement" in message
    assert "--clue-allow-host=api.provider.example" in message and "clue_allow_host" in message


def test_public_tasks_go_anywhere():
    assert check(["https://api.provider.example/v1"], [], [], resolve=fake_resolve) == []


def test_the_four_mimic_derived_tasks_are_credentialed_and_the_public_ones_are_not():
    from clue_checks.tasks import TASKS

    assert {name for name, cls in TASKS.items() if cls.credentialed} == {
        "mednli", "problemsummary", "medisumqa", "medisumcode"}


# -- a run: refused before any request, allowed with the documented allowance ----------------------------

# The suite's conftest makes loopback count as a public host, so a loopback fake server stands for a
# provider on the internet (the tests never leave this machine).


def _chat(method, path, body, count):
    if path == "/health":
        return 200, {}, b""
    if path == "/v1/models":
        return 200, {}, MEDNLI_META
    if path == "/v1/chat/completions":
        return ok("entailment")
    return 404, {}, {"error": "no route"}


def test_a_run_sending_mednli_to_a_public_host_is_refused_before_any_request_and_allowed_when_listed(suite, monkeypatch):
    import clue_checks.egress as egress

    monkeypatch.setattr(egress, "_kind", lambda address: None)  # loopback taken for a public host; undone after
    with FakeServer(_chat) as server:
        refused = run(suite, f"--model-endpoint={server.url}", "--clue-tasks=mednli", "--clue-limit=3", "--clue-no-cache")
        sent_when_refused = list(server.requests)
        allowed = run(suite, f"--model-endpoint={server.url}", "--clue-tasks=mednli", "--clue-limit=3", "--clue-no-cache",
                      "--clue-allow-host=127.0.0.1")
        chat_requests = server.count("/v1/chat/completions")
        public_task = run(suite, f"--model-endpoint={server.url}", "--clue-tasks=meqsum", "--clue-limit=2", "--clue-no-cache",
                          "--clue-report-dir=public")
    text = "\n".join(refused.outlines + refused.errlines)
    assert refused.ret != 0 and sent_when_refused == []
    lines = [line for line in text.splitlines() if "PhysioNet's credentialed data use agreement" in line]
    assert len(lines) == 1 and "--clue-allow-host=127.0.0.1" in lines[0] and "mednli" in lines[0]
    assert allowed.ret in (0, 1) and chat_requests == 3, "\n".join(allowed.outlines[-30:])  # 1: samples failed
    manifest = report(suite)["manifest"]
    assert manifest["egress.credentialed_tasks"] == ["mednli"]
    assert manifest["egress.endpoints"][0]["allowed_by"] == "listed (--clue-allow-host)"
    assert manifest["egress.attestation"] == ATTESTATION
    assert public_task.ret in (0, 1) and report(suite, "public")["manifest"]["egress.credentialed_tasks"] == []
