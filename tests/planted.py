"""Which samples the degraded baseline variant fails on: the oracle end-to-end tests check reports against."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from clue_checks.endpoint.types import EndpointInfo
from clue_checks.rendering import Renderer, load_tokenizer
from clue_checks.rendering_specs import rendering_spec
from clue_checks.server.baseline import MAX_INPUT_TOKENS, MAX_TOTAL_TOKENS, TOKENIZER_DIR
from clue_checks.server.variants import planted
from clue_checks.tasks import TASKS, get_profile
from clue_checks.tasks.tokens import LocalTokenCounter, UsesTokenCounter


def planted_samples(variant: str, data_dir: Path, *, tasks: Sequence[str] | None = None,
                    profile: str = "paper") -> dict[str, str]:
    """Test id → failure kind for every sample of `data_dir` the variant fails on, as the embedded server
    sees the run's generate-mode prompts (the default wire mode against the baseline). Offline."""
    chosen = get_profile(profile)
    tokenizer = load_tokenizer(str(TOKENIZER_DIR))
    info = EndpointInfo(url="http://127.0.0.1", server_kind="clue-baseline", model_id="baseline",
                        max_input_tokens=MAX_INPUT_TOKENS, max_total_tokens=MAX_TOTAL_TOKENS, supports_generate=True)
    renderer = Renderer("generate", info, tokenizer, chosen.prefills_assistant_prefix, chosen.postprocess)
    counter = LocalTokenCounter(tokenizer)
    found: dict[str, str] = {}
    for name in tasks or TASKS:
        task = TASKS[name](chosen)
        if isinstance(task, UsesTokenCounter):
            task.use_token_counter(counter, window=MAX_TOTAL_TOKENS)
        loaded = task.load(data_dir)
        for sample in loaded.samples:
            kind = planted(variant, name, renderer.request(task.prompt(sample, loaded.shots), rendering_spec(task)))
            if kind is not None:
                found[sample.test_id] = kind
    return found
