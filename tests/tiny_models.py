"""Tiny models built offline inside tests (random weights; nothing from a hub)."""

from __future__ import annotations

import string
from pathlib import Path


def build_tiny_bert(folder: Path) -> Path:
    """A 2-layer BERT (hidden 32) with a small cased WordPiece vocab, saved like SciBERT's repo
    (no model_max_length), for BERTScore."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "patient", "has", "chest", "pain", "fever"]
    vocab += list(string.ascii_letters + string.digits + string.punctuation)
    vocab += ["##" + c for c in string.ascii_letters + string.digits]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    BertTokenizer(str(folder / "vocab.txt"), do_lower_case=False).save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=512)
    BertModel(config).save_pretrained(folder)
    return folder
