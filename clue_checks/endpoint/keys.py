"""Which API key a run sends, from the environment only (never an option: shell history, CI logs).

In this order:

1. `CLUE_API_KEY`, for every endpoint and mode. Set but empty, it sends no key and stops the search,
   for a run that must not send a key the environment holds for something else.
2. `HF_TOKEN`, for Hugging Face hosted endpoints (`*.huggingface.cloud`, `*.huggingface.co`) and for
   TGI's own API (`--clue-api=generate`).
3. `OPENAI_API_KEY`, for chat mode (`--clue-api=chat`, or `auto` on any other server), then `HF_TOKEN`
   (under `auto` the server may turn out to be TGI).

The embedded baseline (no `--model-endpoint`) is sent none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

CLUE_KEY, OPENAI_KEY, HF_KEY = "CLUE_API_KEY", "OPENAI_API_KEY", "HF_TOKEN"
KEY_VARIABLES = (CLUE_KEY, OPENAI_KEY, HF_KEY)

_HF_HOSTS = (".huggingface.cloud", ".huggingface.co")


def hugging_face_hosted(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host == "huggingface.co" or host.endswith(_HF_HOSTS)


def api_key_from_env(env: Mapping[str, str], *, api: str, urls: Sequence[str]) -> tuple[str | None, str | None]:
    """(key, the variable it came from); (None, None) when none applies. `api`: chat, generate or auto."""
    if CLUE_KEY in env:
        return (env[CLUE_KEY] or None), CLUE_KEY
    if not urls:
        return None, None
    if all(hugging_face_hosted(u) for u in urls) or api == "generate":
        candidates: tuple[str, ...] = (HF_KEY,)
    elif api == "chat":
        candidates = (OPENAI_KEY,)
    else:
        candidates = (OPENAI_KEY, HF_KEY)
    for name in candidates:
        if env.get(name):
            return env[name], name
    return None, None


KEY_HINT = ("The server wants a valid API key: clue-checks sends CLUE_API_KEY, else OPENAI_API_KEY in chat mode "
            "or HF_TOKEN for TGI and Hugging Face endpoints (set the one this server accepts).")
