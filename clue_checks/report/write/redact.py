"""`--clue-redact`: clinical text in report rows replaced by its hash and length.

Reports of credentialed data (MIMIC, PhysioNet) may go to shared CI storage; the response store, which
stays on the machine that ran the model, keeps the text. What remains is enough to triage by: ids,
outcomes, metrics, kinds, finish reasons, tokens, latency; and equal texts keep equal hashes, so a response
that did not change between two runs can still be seen not to have. The hash is not salted: a short text
from a small set (a MedNLI label, a LongHealth letter) can be guessed from it, clinical text cannot.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any

# Keys of a prediction row (CLUE's and ours) and of SampleRecord.as_dict() that hold clinical text.
REDACTED_FIELDS = ("prompt", "response", "reference", "parsed", "parsed_answer", "Model Answer", "Ground Truth Answer",
                   "messages")
NESTED = ("baseline",)  # a row's baseline reply carries the same fields


_REDACTED = re.compile(r"sha256:[0-9a-f]{16} \(\d+ chars\)")
# An ICD-10 code as the tasks quote it in a reason (E11.65, E1165, S72.001A): a patient's diagnosis.
_CODE = re.compile(r"\b[A-Z][0-9][0-9A-Z](?:\.?[0-9A-Z]{1,4})?\b")


def redact_text(text: str) -> str:
    """`sha256:<first 16 hex digits> (<n> chars)` of the UTF-8 text; a text already redacted stays as it is
    (a merge of redacted shards writes their rows again)."""
    if _REDACTED.fullmatch(text):
        return text
    digest = hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()
    return f"sha256:{digest[:16]} ({len(text)} chars)"


def _redact_value(key: str, value: Any) -> Any:
    if value is None or (key == "parsed" and isinstance(value, (int, float))):  # CLUE's LongHealth 0/1 metric
        return value
    if key == "messages" and isinstance(value, list):  # roles are not clinical; every content is
        return [{**m, "content": _redact_value("content", m.get("content"))} if isinstance(m, Mapping)
                else _redact_value("content", m) for m in value]
    return redact_text(value if isinstance(value, str) else str(value))


def redact_row(row: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for key in REDACTED_FIELDS:
        if key in out:
            out[key] = _redact_value(key, out[key])
    if isinstance(out.get("reason"), str):
        out["reason"] = redact_reason(out["reason"])
    for key in NESTED:
        if isinstance(out.get(key), Mapping):
            out[key] = redact_row(out[key])
    return out


def redact_rows(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """New rows with the clinical text of REDACTED_FIELDS (and of a nested `baseline`) replaced; the input
    is not changed; the ICD-10 codes a reason quotes are hashed (`redact_reason`). Everything else (ids, outcome,
    metrics, kinds, finish reason, tokens, ...) is kept as it is."""
    return [redact_row(row) for row in rows]


def redact_reason(reason: str) -> str:
    """A sample's reason with the ICD-10 codes it quotes (MeDiSumCode: invalid codes, near misses) hashed.

    The other tasks' reasons quote only labels, letters and numbers (`gold label NEUTRAL not in the answer`,
    `parsed 'B', ground truth F`, metric values against floors), which are kept: they are what triage reads."""
    return _CODE.sub(lambda m: redact_text(m.group()), reason)
