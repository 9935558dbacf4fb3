"""lm-evaluation-harness as a peer: the same prompts, the same simulated server, its own venv.

The bench installs `lm_eval[api]` (pinned below) with pip into `bench/.venv-lmeval` (gitignored)
the first time it is needed; nothing else is downloaded: datasets and the hub run offline, and the
task is a YAML written to a temporary folder, reading the prompts as local JSON lines.

The task replays exactly the framework's requests: the system prompt goes in
`--system_instruction`, the three shots are the task's few-shot split (`first_n`, sent as turns with
`--fewshot_as_multiturn`), and each document's text is the framework's last user turn, so the
simulated server generates the same number of tokens for each question for both clients.
Model `local-chat-completions` (POST /v1/chat/completions), `num_concurrent` as given; its
default is 1, one request at a time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from _harness import BENCH, Timed, steady_state, timed

LMEVAL_SPEC = "lm_eval[api]==0.4.13"
VENV = BENCH / ".venv-lmeval"
TASK = "clue_bench_meqsum_sim"


def ensure_installed(python: str = sys.executable) -> Path:
    """The lm_eval command in bench/.venv-lmeval, installed from PyPI on first use."""
    exe = VENV / "bin" / "lm_eval"
    marker = VENV / "installed.txt"
    if exe.exists() and marker.exists() and marker.read_text().strip() == LMEVAL_SPEC:
        return exe
    print(f"installing {LMEVAL_SPEC} into {VENV} (once) ...", flush=True)
    if not (VENV / "bin" / "python").exists():
        subprocess.run([python, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", LMEVAL_SPEC],
                   check=True)
    marker.write_text(LMEVAL_SPEC + "\n")
    return exe


def write_task(folder: Path, bodies: Sequence[bytes], references: Mapping[str, str]) -> str:
    """The task YAML and its data, from the framework's recorded request bodies; returns the system prompt.

    `references` maps a last user turn to its reference answer (for lm-eval's own metric only).
    """
    folder.mkdir(parents=True, exist_ok=True)
    first = json.loads(bodies[0])["messages"]
    system = first[0]["content"] if first[0]["role"] == "system" else ""
    turns = [m for m in first if m["role"] != "system"][:-1]
    shots = [{"prompt": u["content"], "target": a["content"]} for u, a in zip(turns[::2], turns[1::2])]
    docs = []
    for body in bodies:
        last = json.loads(body)["messages"][-1]["content"]
        docs.append({"prompt": last, "target": references.get(last, "")})
    write_jsonl(folder / "shots.jsonl", shots)
    write_jsonl(folder / "test.jsonl", docs)
    max_tokens = json.loads(bodies[0]).get("max_tokens", 200)
    (folder / f"{TASK}.yaml").write_text(f"""\
task: {TASK}
dataset_path: json
dataset_kwargs:
  data_files:
    train: {folder / 'shots.jsonl'}
    test: {folder / 'test.jsonl'}
training_split: train
fewshot_split: train
test_split: test
num_fewshot: {len(shots)}
fewshot_config:
  sampler: first_n
output_type: generate_until
doc_to_text: "{{{{prompt}}}}"
doc_to_target: "{{{{target}}}}"
target_delimiter: ""
fewshot_delimiter: "\\n\\n"
generation_kwargs:
  until: []
  max_gen_toks: {max_tokens}
  do_sample: false
  temperature: 0.0
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
metadata:
  version: 1.0
""")
    return system


def write_jsonl(path: Path, records: Sequence[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def run(exe: Path, url: str, model: str, task_dir: Path, system: str, out_dir: Path, *, num_concurrent: int,
        limit: int | None = None, log: Path | None = None, home: Path | None = None) -> Timed:
    args = [str(exe), "--model", "local-chat-completions",
            "--model_args", f"model={model},base_url={url}/v1/chat/completions,num_concurrent={num_concurrent},"
                            f"max_retries=3,tokenized_requests=False",
            "--clue-tasks", TASK, "--include_path", str(task_dir), "--apply_chat_template", "--fewshot_as_multiturn",
            "--system_instruction", system, "--output_path", str(out_dir)]
    if limit:
        args += ["--clue-limit", str(limit)]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
               HF_HOME=str(home or task_dir / "hf-home"))
    return timed(args, cwd=task_dir, env=steady_state(env), log=log)
