"""Loading the chat template's tokenizer: the generic fast tokenizer directly, the same as AutoTokenizer gives."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from clue_checks.rendering import TemplateUnavailable, load_tokenizer

BASELINE_TOKENIZER = Path(__file__).resolve().parents[2] / "clue_checks" / "server" / "baseline_tokenizer"
CONVERSATION = [{"role": "system", "content": "You are a clinician."},
                {"role": "user", "content": "Premise: BP 150/90, T 38.2 °C.\nHypothesis: febrile?"}]


def test_the_direct_path_gives_what_autotokenizer_gives():
    from transformers import AutoTokenizer

    direct, auto = load_tokenizer(str(BASELINE_TOKENIZER)), AutoTokenizer.from_pretrained(str(BASELINE_TOKENIZER))
    assert type(direct) is type(auto)
    rendered = direct.apply_chat_template(CONVERSATION, tokenize=False, add_generation_prompt=True)
    assert rendered == auto.apply_chat_template(CONVERSATION, tokenize=False, add_generation_prompt=True)
    assert direct.encode(rendered) == auto.encode(rendered) and direct.bos_token == auto.bos_token


@pytest.mark.slow
def test_loading_the_baseline_tokenizer_does_not_import_torch():
    code = ("import sys\nfrom clue_checks.rendering import load_tokenizer\n"
            f"load_tokenizer({str(BASELINE_TOKENIZER)!r})\nprint('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    assert out.stdout.strip() == "False"


def test_another_tokenizer_class_still_goes_through_autotokenizer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    folder = tmp_path / "tok"
    shutil.copytree(BASELINE_TOKENIZER, folder)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps({**config, "tokenizer_class": "SomeModelTokenizerFast"}))
    import transformers

    asked = []
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", lambda path: asked.append(path) or "auto")
    assert load_tokenizer(str(folder)) == "auto" and asked == [str(folder)]


def test_a_broken_folder_is_a_clear_error(tmp_path: Path):
    (tmp_path / "tokenizer_config.json").write_text('{"tokenizer_class": "PreTrainedTokenizerFast"}')
    with pytest.raises(TemplateUnavailable, match="could not load the tokenizer"):
        load_tokenizer(str(tmp_path))
