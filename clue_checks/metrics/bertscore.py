"""BERTScore P/R/F1 as CLUE computed it (docs/clue-faithfulness.md#bertscore).

CLUE called bert-score 0.3.13 (a fork that only adds Bio_ClinicalBERT's layer 9) with
idf=False, no baseline rescaling, batch size 64 and inputs truncated to 512 tokens. The
model per task and profile comes from `Profile.bertscore_model`: a key of `SPECS`.

Nothing here downloads: a hub id is read from the local Hugging Face cache only, and an
offline site passes a local model folder plus its layer (`--clue-bertscore-model/-layers`).
Missing packages or models give `BatchedValues(not_computed=reason)`, never an exception
and never another model.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from clue_checks.metrics import BatchedValues

KEYS = ("bertscore_p", "bertscore_r", "bertscore_f1")
BATCH_SIZE = 64  # bert-score's score() default, which CLUE used
MAX_TOKENS = 512  # SciBERT/Bio_ClinicalBERT position limit; CLUE's fork hard-codes it later (20ffcb3)
INSTALL_HINT = "pip install clue-checks[bertscore] (install the CPU torch first, see README)"


@dataclass(frozen=True)
class BertScoreSpec:
    model: str  # Hugging Face hub id
    num_layers: int  # the layer whose embeddings are compared


SPECS: Mapping[str, BertScoreSpec] = MappingProxyType(
    {
        # bert-score's lang="en-sci": used by every task at HEAD and by MeQSum in the paper era.
        "scibert": BertScoreSpec("allenai/scibert_scivocab_uncased", 8),
        # Paper-era ProbSum and MeDiSumQA; layer 9 is the fork's model2layers entry.
        "bio_clinicalbert": BertScoreSpec("emilyalsentzer/Bio_ClinicalBERT", 9),
    }
)


def bertscore(
    pairs: Sequence[tuple[str, str]],
    spec: str,
    *,
    model_path: str | None = None,
    num_layers: int | None = None,
    lowercase: bool = False,
    device: str | None = None,
) -> dict[str, BatchedValues]:
    """{"bertscore_p"|"bertscore_r"|"bertscore_f1": values} for (candidate, reference) pairs, in order.

    One scorer call covers all pairs. `model_path` with `num_layers` (both or neither)
    replaces the spec's model, e.g. a local copy of it for an offline site.
    A pair whose candidate or reference is empty or whitespace-only scores 0.0 on all three:
    that is what CLUE's bert-score on transformers 4.x returned (it masks such rows to 0);
    on transformers 5 bert-score crashes on them instead (AttributeError in the tokenizer), so they are
    kept out of the model call.
    """
    try:
        chosen = SPECS[spec]
    except KeyError:
        raise ValueError(f"unknown BERTScore spec {spec!r}; choose one of: {', '.join(SPECS)}") from None
    if lowercase:  # paper-era ProbSum; matters for the cased Bio_ClinicalBERT
        pairs = [(cand.lower(), ref.lower()) for cand, ref in pairs]
    if not pairs:
        return {key: BatchedValues() for key in KEYS}

    scorer = _scorer(chosen, model_path, num_layers, device)
    if isinstance(scorer, str):
        return _not_computed(scorer)

    live = [i for i, (cand, ref) in enumerate(pairs) if cand.strip() and ref.strip()]
    columns = [[0.0] * len(pairs) for _ in KEYS]
    if live:
        try:
            scores = scorer.score([pairs[i][0] for i in live], [pairs[i][1] for i in live], batch_size=BATCH_SIZE)
        except Exception as exc:  # e.g. out of memory: reported in place of the metric, not raised
            return _not_computed(f"BERTScore failed: {exc.__class__.__name__}: {exc}")
        for column, tensor in zip(columns, scores):
            for i, value in zip(live, tensor.tolist()):
                column[i] = float(value)
    return {key: BatchedValues(tuple(column)) for key, column in zip(KEYS, columns)}


def default_device() -> str:
    import torch  # lazy: seconds to import, and only BERTScore needs it

    return "cuda" if torch.cuda.is_available() else "cpu"


def _scorer(spec: BertScoreSpec, model_path: str | None, num_layers: int | None, device: str | None) -> Any:
    """A loaded BERTScorer, or the reason there is none.

    Every reason is decided before anything heavy is imported: bert_score pulls in transformers,
    torch and matplotlib (seconds of CPU, and a dearer final gc), which a run without the model
    would pay only to report that it is missing.
    """
    if not _installed("torch"):
        return f"torch is not installed: {INSTALL_HINT}"
    if not _installed("bert_score"):
        return f"bert-score is not installed: {INSTALL_HINT}"

    # The override is a pair: a folder alone would take a layer meant for another model (the
    # paper profile uses two), and a layer alone would silently change CLUE's layer.
    if bool(model_path) != (num_layers is not None):
        return (
            "--clue-bertscore-model PATH and --clue-bertscore-layers N go together "
            f"(N = {spec.num_layers} for a local copy of {spec.model})"
        )
    if model_path and num_layers is not None:
        folder = Path(model_path).expanduser()
        if not folder.is_dir():
            return f"BERTScore model folder {model_path} does not exist (--clue-bertscore-model)"
        try:
            layers = int(num_layers)  # an ini value may arrive as text
        except (TypeError, ValueError):
            return f"--clue-bertscore-layers must be a whole number, not {num_layers!r}"
        model_dir = str(folder.resolve())
    else:
        cached = _cached_snapshot(spec.model)
        if cached is None:
            return (
                f"model {spec.model} is not available offline (not in the Hugging Face cache): "
                f"give --clue-bertscore-model PATH --clue-bertscore-layers {spec.num_layers}, "
                f"or download it once with `hf download {spec.model}`"
            )
        model_dir, layers = cached, spec.num_layers
    return _load(model_dir, layers, device or default_device())


def _installed(module: str) -> bool:
    """Whether `module` can be imported, found without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # ValueError: already in sys.modules without a __spec__
        return module in sys.modules and sys.modules[module] is not None


def _cached_snapshot(repo_id: str) -> str | None:
    """The cached snapshot folder of a hub model, without touching the network (so no HF_HUB_OFFLINE)."""
    if not _has_snapshots(repo_id):
        return None  # the usual case, decided without importing the hub's downloader (~0.3 s of CPU)
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(repo_id, local_files_only=True)
    except Exception:  # LocalEntryNotFoundError, or a cache it cannot read
        return None


def _has_snapshots(repo_id: str) -> bool:
    """Whether the hub cache has a snapshot folder for `repo_id` (its documented layout:
    https://huggingface.co/docs/huggingface_hub/guides/manage-cache); only a yes needs the full lookup."""
    try:
        from huggingface_hub import constants  # the cache location as the hub resolves it (HF_HOME, HF_HUB_CACHE)

        folder = Path(constants.HF_HUB_CACHE) / f"models--{repo_id.replace('/', '--')}" / "snapshots"
        return folder.is_dir() and any(folder.iterdir())
    except Exception:  # no huggingface_hub, an unreadable cache: let the full lookup decide
        return True


@lru_cache(maxsize=None)
def _load(model_dir: str, num_layers: int, device: str) -> Any:
    """Once per process per (model, layer, device); a failure is cached as its reason too."""
    from bert_score import BERTScorer  # lazy: it imports torch and transformers (seconds)

    try:
        scorer = BERTScorer(
            model_type=model_dir, num_layers=num_layers, device=device, idf=False, rescale_with_baseline=False
        )
    except Exception as exc:  # bert_score, transformers and torch raise their own types: the reason is cached
        return (
            f"BERTScore model {model_dir} (layer {num_layers}) could not be loaded: "
            f"{exc.__class__.__name__}: {exc}"
        )
    # bert-score truncates to tokenizer.model_max_length, which is unbounded for tokenizers saved
    # without one (SciBERT's hub repo); longer inputs would overflow the position embeddings.
    tokenizer = scorer._tokenizer  # bert-score 0.3.13 keeps it private; pinned version
    tokenizer.model_max_length = min(int(tokenizer.model_max_length), MAX_TOKENS)
    return scorer


def _not_computed(reason: str) -> dict[str, BatchedValues]:
    return {key: BatchedValues(not_computed=reason) for key in KEYS}
