"""The suite unchanged against a real third-party server: `transformers serve` on a tiny model.

The model (random weights, a BPE tokenizer trained here) is built offline inside the test, so
its answers are gibberish: the test checks the plumbing (discovery, chat bodies, the served
model name, scoring and the report), not quality.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="transformers[serving] is not installed (pip install 'clue-checks[serving]')")
pytest.importorskip("torch", reason="torch is not installed (see the README: the CPU build)")

REPO = Path(__file__).resolve().parents[2]
pytest_plugins = ["pytester"]
pytestmark = pytest.mark.slow  # the server is a process of its own


def build_tiny_model(out: Path) -> None:
    """A 2-layer random Llama with a trained byte-level BPE tokenizer and a chat template (offline)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    corpus = ["The patient has type 2 diabetes mellitus.", "What are the side effects of metformin?",
              "entailment neutral contradiction", "SENTENCE_1 SENTENCE_2 PATIENT INQUIRY"] * 50
    specials = ["<unk>", "<s>", "</s>", "<pad>", "<|user|>", "<|assistant|>", "<|system|>", "<|end|>"]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=400, special_tokens=specials,
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                                        show_progress=False))
    bos, eos = tok.token_to_id("<s>"), tok.token_to_id("</s>")
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                       special_tokens=[("<s>", bos)])
    hf_tok = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                     pad_token="<pad>", additional_special_tokens=specials[4:])
    hf_tok.chat_template = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
                            "{% if add_generation_prompt %}<|assistant|>{% endif %}")
    hf_tok.save_pretrained(out, save_jinja_files=False)
    config = LlamaConfig(vocab_size=len(hf_tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                         bos_token_id=bos, eos_token_id=eos, pad_token_id=hf_tok.pad_token_id,
                         tie_word_embeddings=True)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=bos, eos_token_id=eos, pad_token_id=hf_tok.pad_token_id,
        suppress_tokens=[i for i in hf_tok.all_special_ids if i != eos])
    model.save_pretrained(out)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served_model(tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("tiny-model")
    build_tiny_model(model_dir)
    port = free_port()
    cli = shutil.which("transformers", path=os.path.dirname(sys.executable)) or shutil.which("transformers")
    if cli is None:
        pytest.skip("the `transformers` command is not on PATH")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    log = open(model_dir / "serve.log", "w")
    proc = subprocess.Popen([cli, "serve", str(model_dir), "--device", "cpu", "--host", "127.0.0.1",
                             "--port", str(port)], stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        import httpx2

        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx2.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx2.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail("transformers serve did not start:\n" + (model_dir / "serve.log").read_text()[-3000:])
            time.sleep(0.1)
        yield url, model_dir
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def copy_suite(pytester) -> None:
    shutil.copytree(REPO / "tests_clinical", pytester.path / "tests_clinical")
    for name in ("pytest.ini", "thresholds.toml"):
        shutil.copy(REPO / name, pytester.path / name)


# The suite runs in this process (the server is the other process): the fixture has imported torch and
# transformers before pytester's snapshot of sys.modules, so the runs import neither again. One test for the
# whole journey: the server takes a fresh interpreter ~10 s to start, and two tests would start it on each
# xdist worker they landed on.
def test_the_suite_runs_unchanged_against_transformers_serve_and_generate_mode_is_refused(pytester, served_model):
    url, model_dir = served_model
    copy_suite(pytester)
    data = f"--clue-data={REPO / 'clue_checks' / 'fixtures'}"
    result = pytester.runpytest_inprocess(f"--model-endpoint={url}", data, "--clue-tasks=mednli,meqsum", "--clue-limit=2")
    outcomes = result.parseoutcomes()
    assert "error" not in outcomes and "errors" not in outcomes, result.stdout.str()[-3000:]
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == 4
    report = json.loads((pytester.path / "clue-report" / "clue-report.json").read_text())
    assert report["run"]["server_kind"] == "transformers-serve"
    assert report["run"]["api"] == "chat"
    assert report["requests"]["sent"] == 4
    assert report["tasks"]["mednli"]["metrics"]["accuracy"]["n"] == 2

    # The same server asked for generate mode: it has no /generate, and the run says to use chat.
    refused = pytester.runpytest_inprocess(f"--model-endpoint={url}", data, "--clue-api=generate",
                                           f"--clue-tokenizer={model_dir}", "--clue-tasks=mednli")
    assert refused.ret == 2
    assert "--clue-api chat" in refused.stdout.str() + refused.stderr.str()
