"""Token-span alignment: which characters of a text each of the server's tokens covers.

LongHealth packs documents to a token budget with the served model's own tokenizer; for that it needs
each token's character span. TGI's `/tokenize` gives UTF-8 byte offsets; vLLM gives only the
vocabulary strings (`return_token_strs`), from which the spans are rebuilt when they spell the text
exactly. Pure functions of the decoded JSON.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Callable
from typing import Any

from clue_checks.endpoint.wire import Malformed, as_int

Spans = list[tuple[int, int]]


def byte_to_char_spans(text: str, spans: Spans) -> Spans | None:
    """UTF-8 byte spans → character spans (floored to a character start); None if any is out of range."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if any(not 0 <= start <= stop <= size for start, stop in spans):
        return None
    if text.isascii():
        return spans
    # starts[i] = byte offset of character i; a byte offset inside a character floors to it.
    starts = list(itertools.accumulate((len(c.encode("utf-8", "surrogatepass")) for c in text), initial=0))
    to_char = lambda b: bisect.bisect_right(starts, b) - 1  # noqa: E731
    return [(to_char(start), to_char(stop)) for start, stop in spans]


def parse_tgi_spans(text: str, data: Any) -> Spans | None:
    """TGI `[{"id","text","start","stop"}]`: start/stop are UTF-8 byte offsets (Rust `encode`).

    None when the server has no offsets: a TGI on a Python (slow) tokenizer answers start=stop=0.
    """
    if not isinstance(data, list) or not all(
        isinstance(t, dict) and as_int(t.get("start")) is not None and as_int(t.get("stop")) is not None for t in data
    ):
        raise Malformed("not a TGI token list with start/stop")
    spans = [(t["start"], t["stop"]) for t in data]
    if text and not any(stop for _, stop in spans):
        return None
    return byte_to_char_spans(text, spans)


# GPT-2 byte-level BPE writes each byte as a printable character (the `bytes_to_unicode` table).
_PRINTABLE = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
_BYTE_OF = {chr(b): b for b in _PRINTABLE} | {
    chr(256 + i): b for i, b in enumerate(sorted(set(range(256)) - set(_PRINTABLE)))
}
_SP_BYTE = re.compile(r"<0x([0-9A-Fa-f]{2})>")
_SPECIAL = re.compile(r"<[^<>\s]+>|<\|[^<>]+\|>|\[[A-Z_]+\]")  # <s>, <|begin_of_text|>, [INST]


def _byte_level_piece(token: str) -> bytes | None:
    try:
        return bytes(_BYTE_OF[c] for c in token)
    except KeyError:
        return None


def _sentencepiece_piece(token: str) -> bytes | None:
    return b"".join(
        bytes([int(part, 16)]) if i % 2 else part.replace("\u2581", " ").encode("utf-8")
        for i, part in enumerate(_SP_BYTE.split(token))
    )


def _align(data: bytes, tokens: list[str], piece: Callable[[str], bytes | None]) -> Spans | None:
    """Byte spans if the decoded pieces tile `data` exactly, in order; special tokens take no bytes."""
    spans: Spans = []
    at, dummy_prefix = 0, True
    for token in tokens:
        raw = piece(token)
        if raw and at == 0 and dummy_prefix and raw.startswith(b" ") and not data.startswith(b" "):
            raw, dummy_prefix = raw[1:], False  # SentencePiece's added prefix space
        if raw is not None and data.startswith(raw, at) and (raw or not _SPECIAL.fullmatch(token)):
            spans.append((at, at + len(raw)))
            at += len(raw)
        elif _SPECIAL.fullmatch(token):
            spans.append((at, at))
        else:
            return None
    return spans if at == len(data) else None


def parse_vllm_spans(text: str, data: Any) -> Spans | None:
    """vLLM has no offsets; rebuilt from `token_strs` only when the pieces spell the text exactly."""
    tokens = data.get("tokens") if isinstance(data, dict) else None
    strs = data.get("token_strs") if isinstance(data, dict) else None
    if not isinstance(tokens, list):
        raise Malformed("no vLLM {'tokens': [...]}")
    if not isinstance(strs, list) or len(strs) != len(tokens) or not all(isinstance(s, str) for s in strs):
        return None  # a vLLM without return_token_strs
    raw = text.encode("utf-8", "surrogatepass")
    for piece in (_byte_level_piece, _sentencepiece_piece):
        spans = _align(raw, strs, piece)
        if spans is not None:
            return byte_to_char_spans(text, spans)
    return None
