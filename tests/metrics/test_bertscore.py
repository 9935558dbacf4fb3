"""BERTScore (docs/clue-faithfulness.md#bertscore): spec table, one batched call, empty strings, not_computed paths.

A tiny random-weight BERT (2 layers, hidden 32, a small WordPiece vocab) is built offline
per module; no hub access anywhere.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from tiny_models import build_tiny_bert

from clue_checks.metrics import bertscore as bs

SKIP = "bert-score/torch not installed: pip install clue-checks[bertscore] (CPU torch first, see README)"


@pytest.fixture(autouse=True)
def fresh_cache():
    bs._load.cache_clear()
    yield
    bs._load.cache_clear()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    pytest.importorskip("torch", reason=SKIP)
    pytest.importorskip("bert_score", reason=SKIP)
    # Cased (so lowercasing changes token ids) and saved without model_max_length, like SciBERT's repo.
    return str(build_tiny_bert(tmp_path_factory.mktemp("tiny-bert")))


@pytest.fixture
def score_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[list[str], list[str]]]:
    """Spy on BERTScorer.score: each call's (cands, refs)."""
    from bert_score import BERTScorer

    calls: list[tuple[list[str], list[str]]] = []
    original = BERTScorer.score

    def spy(self, cands, refs, *args, **kwargs):
        calls.append((list(cands), list(refs)))
        return original(self, cands, refs, *args, **kwargs)

    monkeypatch.setattr(BERTScorer, "score", spy)
    return calls


def run(pairs, model: str, **kwargs):
    return bs.bertscore(pairs, "scibert", model_path=model, num_layers=2, device="cpu", **kwargs)


def test_spec_table_matches_clue() -> None:
    assert bs.SPECS["scibert"] == bs.BertScoreSpec("allenai/scibert_scivocab_uncased", 8)
    assert bs.SPECS["bio_clinicalbert"] == bs.BertScoreSpec("emilyalsentzer/Bio_ClinicalBERT", 9)
    assert (bs.BATCH_SIZE, bs.MAX_TOKENS) == (64, 512)


def test_unknown_spec_is_a_caller_bug() -> None:
    with pytest.raises(ValueError, match="scibert"):
        bs.bertscore([("a", "b")], "roberta")


def test_identical_pair_scores_one_and_values_in_range(tiny_model: str) -> None:
    out = run([("the patient has chest pain", "the patient has chest pain"), ("fever", "chest pain"),
               ("Pain 3/10", "no fever")], tiny_model)
    assert set(out) == set(bs.KEYS)
    for key in bs.KEYS:
        assert out[key].not_computed is None
        assert len(out[key].values) == 3
        assert out[key].values[0] == pytest.approx(1.0, abs=1e-5)
        assert all(-1.0 - 1e-6 <= v <= 1.0 + 1e-6 for v in out[key].values)
    assert out["bertscore_f1"].values[1] < 0.999


def test_one_batched_call_for_all_pairs(tiny_model: str, score_calls) -> None:
    pairs = [(f"patient {i} has pain", f"chest pain {i}") for i in range(9)] + [("", "ref")]
    out = run(pairs, tiny_model)
    assert len(score_calls) == 1
    cands, refs = score_calls[0]
    assert cands == [c for c, _ in pairs[:9]] and refs == [r for _, r in pairs[:9]]  # empty pair left out
    assert len(out["bertscore_f1"].values) == 10


def test_empty_or_blank_sides_score_zero_without_crashing(tiny_model: str, score_calls) -> None:
    pairs = [("", "chest pain"), (" \n\t", "chest pain"), ("chest pain", ""), ("", ""), ("chest pain", "fever"),
             ("\u200b", "fever")]  # zero-width space: not blank, bert-score itself masks it to 0
    out = run(pairs, tiny_model)
    for key in bs.KEYS:
        assert out[key].values[:4] == (0.0, 0.0, 0.0, 0.0)
        assert out[key].values[4] != 0.0
        assert out[key].values[5] == 0.0
    assert score_calls[0][0] == ["chest pain", "\u200b"]


def test_all_empty_needs_no_model_call(tiny_model: str, score_calls) -> None:
    out = run([("", "x"), ("y", "  ")], tiny_model)
    assert score_calls == []
    assert out["bertscore_p"].values == (0.0, 0.0)


def test_lowercase_option_lowercases_both_sides(tiny_model: str, score_calls) -> None:
    pairs = [("Chest PAIN", "The Patient has Fever")]
    cased = run(pairs, tiny_model)
    lowered = run(pairs, tiny_model, lowercase=True)
    assert score_calls[1] == (["chest pain"], ["the patient has fever"])
    assert lowered == run([("chest pain", "the patient has fever")], tiny_model)
    assert lowered["bertscore_f1"].values != cased["bertscore_f1"].values  # cased vocab: ids differ


def test_long_inputs_are_truncated_to_512_tokens(tiny_model: str) -> None:
    long_text = " ".join(["chest pain"] * 700)  # 1,400 word pieces > 512 positions
    out = run([(long_text, "chest pain fever"), ("fever", long_text)], tiny_model)
    assert out["bertscore_f1"].not_computed is None
    assert all(0.0 < v <= 1.0 + 1e-6 for v in out["bertscore_f1"].values)


def test_scorer_is_loaded_once_per_model_and_layer(tiny_model: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from bert_score import BERTScorer

    built: list[str] = []
    original = BERTScorer.__init__

    def counting(self, *args, **kwargs):
        built.append(kwargs["model_type"])
        original(self, *args, **kwargs)

    monkeypatch.setattr(BERTScorer, "__init__", counting)
    run([("a", "b")], tiny_model)
    run([("c", "d")], tiny_model, lowercase=True)
    bs.bertscore([("e", "f")], "bio_clinicalbert", model_path=tiny_model, num_layers=2, device="cpu")
    assert len(built) == 1
    run([("a", "b")], tiny_model.rstrip("/") + "/")
    assert len(built) == 1  # same resolved folder
    bs.bertscore([("a", "b")], "scibert", model_path=tiny_model, num_layers=1, device="cpu")
    assert len(built) == 2


def test_too_many_layers_is_not_computed(tiny_model: str) -> None:
    out = bs.bertscore([("a", "b")], "scibert", model_path=tiny_model, num_layers=5, device="cpu")
    assert out["bertscore_f1"].values == ()
    assert "could not be loaded" in out["bertscore_f1"].not_computed
    assert "layer 5" in out["bertscore_f1"].not_computed


def test_missing_model_folder_is_not_computed(tmp_path: Path) -> None:
    pytest.importorskip("bert_score", reason=SKIP)
    out = bs.bertscore([("a", "b")], "scibert", model_path=str(tmp_path / "nope"), num_layers=8)
    assert "does not exist" in out["bertscore_p"].not_computed
    assert str(tmp_path / "nope") in out["bertscore_p"].not_computed


@pytest.mark.parametrize("model_path, num_layers", [("/some/folder", None), (None, 8)])
def test_override_needs_folder_and_layer_together(model_path, num_layers) -> None:
    pytest.importorskip("bert_score", reason=SKIP)
    out = bs.bertscore([("a", "b")], "bio_clinicalbert", model_path=model_path, num_layers=num_layers)
    assert out["bertscore_r"].not_computed == ("--clue-bertscore-model PATH and --clue-bertscore-layers N go together "
                                               "(N = 9 for a local copy of emilyalsentzer/Bio_ClinicalBERT)")


def test_layer_given_as_text(tiny_model: str) -> None:
    assert bs.bertscore([("a", "a")], "scibert", model_path=tiny_model, num_layers="2",  # type: ignore[arg-type]
                        device="cpu")["bertscore_f1"].values == (pytest.approx(1.0, abs=1e-5),)
    out = bs.bertscore([("a", "b")], "scibert", model_path=tiny_model, num_layers="two")  # type: ignore[arg-type]
    assert out["bertscore_f1"].not_computed == "--clue-bertscore-layers must be a whole number, not 'two'"


@pytest.mark.parametrize("spec, model, layer", [("scibert", "allenai/scibert_scivocab_uncased", 8),
                                                ("bio_clinicalbert", "emilyalsentzer/Bio_ClinicalBERT", 9)])
def test_uncached_hub_model_names_model_and_override(spec, model, layer, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("bert_score", reason=SKIP)
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))  # an empty cache: nothing offline
    out = bs.bertscore([("a", "b")], spec)
    for key in bs.KEYS:
        reason = out[key].not_computed
        assert out[key].values == ()
        assert f"model {model} is not available offline" in reason
        assert f"--clue-bertscore-model PATH --clue-bertscore-layers {layer}" in reason


@pytest.mark.parametrize("module, name", [("bert_score", "bert-score"), ("torch", "torch")])
def test_missing_package_is_not_computed_with_install_hint(module, name, monkeypatch: pytest.MonkeyPatch) -> None:
    if module == "bert_score" and importlib.util.find_spec("torch") is None:
        monkeypatch.setitem(sys.modules, "torch", types.ModuleType("torch"))  # reach the bert-score check
    monkeypatch.setitem(sys.modules, module, None)  # import raises ImportError
    out = bs.bertscore([("a", "b"), ("", "c")], "bio_clinicalbert")
    for key in bs.KEYS:
        assert out[key].values == ()
        assert out[key].not_computed.startswith(f"{name} is not installed: pip install clue-checks[bertscore]")


def test_no_pairs_no_values() -> None:
    assert bs.bertscore([], "scibert") == {key: bs.BatchedValues() for key in bs.KEYS}


def test_device_follows_cuda_availability(monkeypatch: pytest.MonkeyPatch) -> None:
    torch = pytest.importorskip("torch", reason=SKIP)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert bs.default_device() == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert bs.default_device() == "cpu"


def test_absent_model_is_reported_without_importing_torch(tmp_path: Path) -> None:
    """The not-computed path must stay cheap: importing bert_score/transformers/torch costs seconds."""
    script = (
        "import sys\n"
        "from clue_checks.metrics.bertscore import bertscore\n"
        "out = bertscore([('a', 'b')], 'scibert')\n"
        "print(out['bertscore_f1'].not_computed)\n"
        "print(sorted(m for m in ('torch', 'transformers', 'bert_score', 'matplotlib', 'huggingface_hub.file_download')\n"
        "             if m in sys.modules))\n"
    )
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "empty-hub"), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    reason, imported = done.stdout.strip().splitlines()[-2:]
    if importlib.util.find_spec("torch") and importlib.util.find_spec("bert_score"):
        assert "model allenai/scibert_scivocab_uncased is not available offline" in reason
    else:
        assert "is not installed" in reason
    assert imported == "[]"


def test_a_cached_hub_snapshot_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cheap look at the cache must not hide a model that is there (the hub's cache layout)."""
    pytest.importorskip("huggingface_hub")
    from huggingface_hub import constants

    repo = tmp_path / "models--allenai--scibert_scivocab_uncased"
    snapshot = repo / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    assert Path(bs._cached_snapshot("allenai/scibert_scivocab_uncased")) == snapshot
    assert bs._cached_snapshot("emilyalsentzer/Bio_ClinicalBERT") is None
