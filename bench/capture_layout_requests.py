"""Every built-in task's requests under every prompt layout, as JSON lines: the proof that a change to the
renderer or the tasks' prompts leaves CLUE's wire layouts byte-identical where `capture_task_requests.py`
(the default layout only) does not look.

For a Llama-3 and a Phi model id, each profile (paper, head) and each way of sending (generate mode with the
`template`, `template-no-system`, `base` and `auto` layouts on the baseline's tokenizer; chat mode, with and
without the system prompt merged), the first four samples of every task on the fixtures are rendered offline.
Run it on two versions of the code and compare the files (`cmp`).

    PYTHONPATH=. python bench/capture_layout_requests.py OUT.jsonl
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from clue_checks.endpoint.types import EndpointInfo
from clue_checks.rendering import Renderer, load_tokenizer
from clue_checks.rendering_specs import rendering_spec
from clue_checks.server.baseline import TOKENIZER_DIR
from clue_checks.tasks import TASKS, get_profile
from clue_checks.tasks.tokens import LocalTokenCounter, UsesTokenCounter

FIXTURES = Path(__file__).resolve().parents[1] / "clue_checks" / "fixtures"
MODELS = ("meta-llama/Meta-Llama-3-8B-Instruct", "phi-3")
WINDOW = 32768


def renderers(info: EndpointInfo, tokenizer: object, prefill: bool, postprocess: bool) -> dict[str, Renderer]:
    made = {f"gen-{layout}": Renderer("generate", info, tokenizer, prefill, postprocess, layout=layout)
            for layout in ("template", "template-no-system", "base", "auto")}
    made["chat"] = Renderer("chat", info, None, prefill, postprocess)
    made["chat-merge"] = Renderer("chat", info, None, prefill, postprocess, merge_system_role=True)
    return made


def capture(out, per_task: int = 4) -> int:
    tokenizer = load_tokenizer(str(TOKENIZER_DIR))
    lines = 0
    for model in MODELS:
        info = EndpointInfo(url="http://127.0.0.1:1", server_kind="tgi", model_id=model, max_input_tokens=30000,
                            max_total_tokens=WINDOW, supports_generate=True)
        for name in ("paper", "head"):
            profile = get_profile(name)
            senders = renderers(info, tokenizer, profile.prefills_assistant_prefix, profile.postprocess)
            for task in (cls(profile) for cls in TASKS.values()):
                if isinstance(task, UsesTokenCounter):
                    task.use_token_counter(LocalTokenCounter(tokenizer), window=WINDOW)
                loaded = task.load(FIXTURES)
                for sample in loaded.samples[:per_task]:
                    prompt = task.prompt(sample, loaded.shots)
                    for how, renderer in senders.items():
                        request = renderer.request(prompt, rendering_spec(task))
                        out.write(json.dumps([model, name, how, sample.test_id, request.canonical()]) + "\n")
                        lines += 1
    return lines


def main() -> int:
    path = Path(sys.argv[1])
    with path.open("w", encoding="utf-8") as out:
        n = capture(out)
    print(f"{n} requests written to {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
