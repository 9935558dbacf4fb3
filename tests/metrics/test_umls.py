"""UMLS concept P/R/F1 (docs/clue-faithfulness.md#umls): set rules, entity sets, not_computed paths."""

from __future__ import annotations

import importlib.util
import sys
import types
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clue_checks.metrics import umls
from clue_checks.metrics.umls import Pipeline, set_f1, umls_scores


@pytest.fixture(autouse=True)
def fresh_pipeline():
    umls.load_pipeline.cache_clear()
    yield
    umls.load_pipeline.cache_clear()


# -- set rules -------------------------------------------------------------------------------

@pytest.mark.parametrize("pred, gold, expected", [
    (set(), set(), (0.0, 0.0, 0.0)),  # CLUE: both empty is 0, not 1
    (set(), {"Fever"}, (0.0, 0.0, 0.0)),
    ({"Fever"}, set(), (0.0, 0.0, 0.0)),
    ({"Fever"}, {"Fever"}, (1.0, 1.0, 1.0)),
    ({"Fever", "Pain"}, {"Pain", "Cough", "Asthma"}, (0.5, 1 / 3, 0.4)),
    ({"Fever"}, {"Pain"}, (0.0, 0.0, 0.0)),
])
def test_set_f1_edge_cases(pred, gold, expected) -> None:
    assert set_f1(pred, gold) == pytest.approx(expected)


names = st.frozensets(st.sampled_from(["Fever", "Pain", "Cough", "Asthma", "Sepsis", "Anemia"]), max_size=6)


@given(names, names)
def test_set_f1_properties(pred, gold) -> None:
    p, r, f = set_f1(pred, gold)
    assert all(0.0 <= v <= 1.0 for v in (p, r, f))
    assert set_f1(gold, pred) == pytest.approx((r, p, f))  # swapping sides swaps P and R
    assert min(p, r) - 1e-12 <= f <= max(p, r) + 1e-12  # a harmonic mean
    assert (f == 1.0) == (pred == gold and bool(pred))
    if not pred & gold:
        assert (p, r, f) == (0.0, 0.0, 0.0)


# -- entity sets through a stand-in pipeline -------------------------------------------------

class FakeNlp:
    """spaCy-like: pipe() yields docs whose ents carry scispacy's `_.kb_ents` (best first)."""

    def __init__(self, annotations: dict[str, list[list[tuple[str, float]]]]) -> None:
        self.annotations = annotations
        self.pipe_calls: list[list[str]] = []

    def pipe(self, texts):
        texts = list(texts)
        self.pipe_calls.append(texts)
        for text in texts:
            ents = [SimpleNamespace(_=SimpleNamespace(kb_ents=c)) for c in self.annotations.get(text, [])]
            yield SimpleNamespace(ents=ents)


KB = {cui: SimpleNamespace(canonical_name=name) for cui, name in
      {"C1": "Fever", "C2": "Chest Pain", "C3": "Pain", "C4": "Chest Pain", "C5": "Cough"}.items()}


def test_scores_use_top_candidate_canonical_names(monkeypatch: pytest.MonkeyPatch) -> None:
    nlp = FakeNlp({
        "pred A": [[("C1", 0.9)], [("C2", 0.95), ("C3", 0.8)], []],  # top CUI only; no-candidate entity ignored
        "gold A": [[("C4", 0.99)], [("C5", 0.9)]],  # C4 has C2's canonical name: names are compared
        "pred B": [[("C1", 0.9)], [("C1", 0.85)]],  # duplicates collapse in a set
        "gold B": [[("C1", 0.9)]],
    })
    monkeypatch.setattr(umls, "load_pipeline", lambda: Pipeline(nlp, KB))
    pairs = [("pred A", "gold A"), ("pred B", "gold B"), ("", ""), ("pred B", "")]
    out = umls_scores(pairs)
    assert out["umls_p"].values == pytest.approx((0.5, 1.0, 0.0, 0.0))
    assert out["umls_r"].values == pytest.approx((0.5, 1.0, 0.0, 0.0))
    assert out["umls_f1"].values == pytest.approx((0.5, 1.0, 0.0, 0.0))
    assert nlp.pipe_calls == [["pred A", "gold A", "pred B", "gold B", ""]]  # one stream, distinct texts
    assert all(v.not_computed is None for v in out.values())


def test_texts_are_not_lowercased(monkeypatch: pytest.MonkeyPatch) -> None:
    nlp = FakeNlp({"COPD": [[("C1", 0.9)]]})
    monkeypatch.setattr(umls, "load_pipeline", lambda: Pipeline(nlp, KB))
    assert umls_scores([("COPD", "copd")])["umls_f1"].values == (0.0,)
    assert nlp.pipe_calls == [["COPD", "copd"]]


def test_no_pairs_no_values() -> None:
    assert umls_scores([]) == {key: umls.BatchedValues() for key in umls.KEYS}


# -- not_computed ----------------------------------------------------------------------------

def assert_not_computed(out: dict, *needles: str) -> None:
    assert set(out) == set(umls.KEYS)
    for value in out.values():
        assert value.values == ()
        for needle in needles:
            assert needle in value.not_computed


def test_missing_spacy_is_not_computed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "spacy", None)
    assert_not_computed(umls_scores([("a", "b")]), "spaCy is not installed", "pip install clue-checks[umls]",
                        "en_core_sci_sm")


def fake_spacy(monkeypatch: pytest.MonkeyPatch, load) -> None:
    monkeypatch.setitem(sys.modules, "spacy", types.SimpleNamespace(load=load))
    scispacy = types.ModuleType("scispacy")
    linking = types.ModuleType("scispacy.linking")
    linking.EntityLinker = object
    monkeypatch.setitem(sys.modules, "scispacy", scispacy)
    monkeypatch.setitem(sys.modules, "scispacy.linking", linking)


def test_missing_scispacy_is_not_computed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "spacy", types.SimpleNamespace())
    monkeypatch.setitem(sys.modules, "scispacy", None)
    monkeypatch.setitem(sys.modules, "scispacy.linking", None)
    assert_not_computed(umls_scores([("a", "b")]), "scispacy is not installed", "pip install clue-checks[umls]")


def test_missing_model_is_not_computed(monkeypatch: pytest.MonkeyPatch) -> None:
    def load(name):
        raise OSError(f"[E050] Can't find model '{name}'")

    fake_spacy(monkeypatch, load)
    assert_not_computed(umls_scores([("a", "b")]), "en_core_sci_sm is not installed (it is not on PyPI)",
                        "en_core_sci_sm-0.5.4.tar.gz")


def test_unreachable_knowledge_base_is_not_computed(monkeypatch: pytest.MonkeyPatch) -> None:
    class Nlp:
        def add_pipe(self, name, config):
            assert name == "scispacy_linker" and config == {"linker_name": "umls", "resolve_abbreviations": True}
            raise ConnectionError("Failed to resolve host\nmore detail")

    fake_spacy(monkeypatch, lambda name: Nlp())
    assert_not_computed(umls_scores([("a", "b")]), "UMLS linker knowledge base could not be loaded",
                        "ConnectionError: Failed to resolve host)", "about 1 GB", "SCISPACY_CACHE")


def test_pipeline_is_loaded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[str] = []

    class Nlp(FakeNlp):
        def add_pipe(self, name, config):
            return SimpleNamespace(kb=SimpleNamespace(cui_to_entity=KB))

    def load(name):
        loads.append(name)
        return Nlp({})

    fake_spacy(monkeypatch, load)
    umls_scores([("a", "b")])
    umls_scores([("c", "d")])
    assert loads == ["en_core_sci_sm"]


# -- the real pipeline, where it is installed -------------------------------------------------

def test_real_scispacy_pipeline() -> None:
    if importlib.util.find_spec("scispacy") is None:
        pytest.skip("scispacy not installed: pip install clue-checks[umls] (see README)")
    if importlib.util.find_spec(umls.SPACY_MODEL) is None:
        pytest.skip(f"spaCy model {umls.SPACY_MODEL} not installed (not on PyPI): pip install {umls.MODEL_URL}")
    text = "Patient with type 2 diabetes mellitus and community-acquired pneumonia, treated with amoxicillin."
    out = umls_scores([(text, text), ("", text), ("Hypertension.", "Chronic kidney disease.")])
    if out["umls_f1"].not_computed:
        pytest.skip(out["umls_f1"].not_computed)
    assert out["umls_f1"].values[0] == 1.0
    assert out["umls_f1"].values[1] == 0.0
    assert all(0.0 <= v <= 1.0 for key in umls.KEYS for v in out[key].values)
