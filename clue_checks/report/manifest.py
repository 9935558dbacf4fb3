"""The provenance manifest: what an auditor (and `clue compare`) needs to trust or compare a run.

One flat mapping with sorted, stable keys, so two runs' manifests compare key by key:

- ``clue_checks.version``, ``python.version``, ``package.<name>`` (installed version or "not installed";
  read from package metadata, nothing is imported);
- ``data.sha256.<file>``: every data file read, relative to the data folder (a user's task file and its data:
  relative to the folder the run started in);
- ``prompts.sha256`` (CLUE's prompt texts), ``chat_template.sha256`` (the template that rendered the prompts,
  or why there is none);
- ``generation.<task>.<param>``: the generation parameters each task sent;
- ``thresholds.source``, ``thresholds.sha256``, ``thresholds.content``;
- ``endpoint.info``: the server's /info (or /v1/models) answer, secrets removed;
- ``run.started``, ``run.duration_s``, ``command`` (secrets removed);
- ``egress.*``: the credentialed tasks, each endpoint host and why it could receive them (loopback,
  private network, or listed with the attestation), see ``clue_checks.egress``;
- ``predictions.sha256.<task>.jsonl``: each prediction file as written (added by ``integrity``).

Keys whose values legitimately differ between two runs of the same thing: `run_specific` (`TIME_KEYS`,
`command`, the prediction files' hashes).
"""

from __future__ import annotations

import hashlib
import platform
import re
import shlex
from collections.abc import Mapping, Sequence
from importlib import metadata, resources
from pathlib import Path
from typing import Any

from clue_checks import __version__

PACKAGES = ("transformers", "rouge-score", "bert-score", "torch", "simple-icd-10-cm")
TIME_KEYS = ("run.started", "run.duration_s")
# Keys that differ between two runs of the same thing as the times do: prediction files carry latencies.
RUN_SPECIFIC_PREFIXES = ("predictions.sha256.",)


def run_specific(key: str) -> bool:
    """A manifest key whose value legitimately differs between two runs of the same thing."""
    return key in TIME_KEYS or key == "command" or key.startswith(RUN_SPECIFIC_PREFIXES)
REDACTED = "***"

# A name is secret when one of its words is one of these (so `hf_token` and `--api-key` are, while
# `max_input_tokens` and `--clue-tokenizer` are not).
_SECRET_WORDS = {"key", "apikey", "token", "secret", "password", "passwd", "pwd", "authorization", "auth",
                 "credential", "credentials", "cookie", "bearer", "signature"}
_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.I)
_QUERY_SECRET = re.compile(r"([?&][^=&#\s]*(?:key|token|secret|passw(?:or)?d|sig)[^=&#\s]*=)[^&#\s]*", re.I)
_BEARER = re.compile(r"\b(bearer|basic|token)\s+[^\s,;\"']+", re.I)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def package_versions(names: Sequence[str] = PACKAGES) -> dict[str, str]:
    """Installed versions from package metadata (importing torch would take seconds and memory)."""
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def prompts_sha256() -> str:
    return hashlib.sha256(resources.files("clue_checks.tasks").joinpath("clue_prompts.json").read_bytes()).hexdigest()


def _secret_name(name: str) -> bool:
    return any(word in _SECRET_WORDS for word in re.split(r"[^a-z0-9]+", name.lower()))


def redact_text(text: str) -> str:
    """Secrets inside a string: URL credentials, secret query parameters, `Bearer …` / `token …` values."""
    text = _USERINFO.sub(lambda m: m.group("scheme") + REDACTED + "@", text)
    text = _QUERY_SECRET.sub(lambda m: m.group(1) + REDACTED, text)
    return _BEARER.sub(lambda m: m.group(1) + " " + REDACTED, text)


def redact_args(args: Sequence[str]) -> list[str]:
    """A command line with secrets removed: the value of any option named like a key, token, secret,
    password or authorization (`--api-key=…` or `--api-key …`), `-H "Authorization: …"` headers, and
    secrets inside URLs."""
    out: list[str] = []
    hide_next = False
    for arg in args:
        if hide_next:
            out.append(REDACTED)
            hide_next = False
            continue
        if arg.startswith("-") and _secret_name(arg.split("=", 1)[0]):
            if "=" in arg:
                out.append(arg.split("=", 1)[0] + "=" + REDACTED)
            else:
                out.append(arg)
                hide_next = True
            continue
        header = re.match(r"^\s*([A-Za-z-]+)\s*:\s*(.*)$", arg)
        if header and _secret_name(header.group(1)):
            out.append(f"{header.group(1)}: {REDACTED}")
            continue
        out.append(redact_text(arg))
    return out


def redact_mapping(value: Any) -> Any:
    """A JSON value with secrets removed: values under secret-looking keys, and secrets inside strings."""
    if isinstance(value, Mapping):
        return {k: (REDACTED if isinstance(k, str) and _secret_name(k) and v not in (None, "", False)
                    else redact_mapping(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_mapping(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def strip_option(args: Sequence[str], option: str) -> list[str]:
    """`args` without `option` (`--opt=V` or `--opt V`): e.g. a shard's command line without its --clue-shard,
    which is then the unsharded run's command line."""
    out: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg == option:
            skip = True
            continue
        if arg.startswith(option + "="):
            continue
        out.append(arg)
    return out


def build_manifest(*, data_dir: Path, data_files: Sequence[Path], chat_template: str | None,
                   chat_template_note: str, generation: Mapping[str, Mapping[str, Any]],
                   thresholds_source: str, thresholds_text: str, endpoint_info: Mapping[str, Any] | None,
                   started: str, duration_s: float, command: Sequence[str],
                   egress: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The manifest, keys sorted. `chat_template_note` says why there is no template when `chat_template` is None."""
    out: dict[str, Any] = {
        "clue_checks.version": __version__,
        "python.version": platform.python_version(),
        "prompts.sha256": prompts_sha256(),
        "chat_template.sha256": sha256_text(chat_template) if chat_template else f"none: {chat_template_note}",
        "thresholds.source": thresholds_source,
        "thresholds.sha256": sha256_text(thresholds_text),
        "thresholds.content": thresholds_text,
        "endpoint.info": redact_mapping(dict(endpoint_info)) if endpoint_info is not None else None,
        "run.started": started,
        "run.duration_s": round(duration_s, 3),
        "command": shlex.join(redact_args(command)),
    }
    out.update(egress or {})  # where credentialed tasks were allowed to go (clue_checks.egress)
    out.update({f"package.{name}": version for name, version in package_versions().items()})
    for path in sorted(set(data_files)):
        try:
            name = path.resolve().relative_to(data_dir.resolve()).as_posix()
        except ValueError:  # a user's task file and its data: named from where the run started, as users write it
            try:
                name = path.resolve().relative_to(Path.cwd().resolve()).as_posix()
            except ValueError:
                name = str(path)
        out[f"data.sha256.{name}"] = sha256_file(path)
    for task, params in generation.items():
        for key, value in params.items():
            out[f"generation.{task}.{key}"] = value
    return dict(sorted(out.items()))
