"""How CLUE's code put each task's prompt on the wire: the per-task settings the renderer applies.

A task says what to ask (`tasks.base.Prompt`); these are the request details CLUE's scripts chose per task
on top of it (docs/clue-faithfulness.md#generation-settings, #conversation-layout):
- TGI `truncate`: the server's token window minus the profile's reserve for the task, MeQSum's also capped;
- the Llama-3 stop strings CLUE's TGI code sent for every task but LongHealth tasks 2 and 3;
- the layout without a system role (`SYS + "\\n\\n" + U1`) and for a base model (turns joined by blank
  lines), which LongHealth's script wrote differently.
"""

from __future__ import annotations

from dataclasses import dataclass

from clue_checks.tasks.base import Task

# CLUE's TGI-era MeQSum capped `truncate` at 24576 tokens.
MEQSUM_TRUNCATE_CAP = 24576
# CLUE's few-shot tasks: `truncate` reserve from the profile under the task's own name.
FEW_SHOT_TASKS = ("mednli", "meqsum", "problemsummary", "medisumqa", "medisumcode")
LONGHEALTH_TASKS = ("longhealth-t1", "longhealth-t2", "longhealth-t3")


@dataclass(frozen=True)
class RenderingSpec:
    """The wire settings of one task's requests; the default is a task with none of CLUE's quirks."""

    # TGI `truncate` = the server's token window minus this reserve, optionally capped (None: not sent).
    truncate_reserve: int | None = None
    truncate_cap: int | None = None
    # CLUE's Llama-3 stop strings, sent in generate mode for a Llama-3 model under the paper profile.
    model_stop_sequences: bool = True
    # The system prompt merged into the first user turn (a template without a system role).
    system_merge_separator: str = "\n\n"
    # A base model's transcript: the turns joined by `base_separator`, ending with `base_trailer`.
    base_separator: str = "\n\n"
    base_trailer: str = "\n\n"


def rendering_spec(task: Task) -> RenderingSpec:
    """The wire settings of `task` under its profile."""
    reserves = task.profile.truncate_reserve
    if task.name in FEW_SHOT_TASKS:
        cap = MEQSUM_TRUNCATE_CAP if task.name == "meqsum" else None
        return RenderingSpec(truncate_reserve=reserves.get(task.name), truncate_cap=cap)
    if task.name in LONGHEALTH_TASKS:
        # CLUE's LongHealth script truncated and sent stop strings in its task 1 loop only; it laid the prompt
        # out as one user message `SYS + prompt`, or `SYS + "\n\n\n" + prompt` for a base model.
        task_1 = task.name == "longhealth-t1"
        return RenderingSpec(truncate_reserve=reserves.get("longhealth") if task_1 else None,
                             model_stop_sequences=task_1, system_merge_separator="",
                             base_separator="\n\n\n", base_trailer="")
    if task.task_file is not None:
        return RenderingSpec(model_stop_sequences=False)  # a task file's stop strings are its own `[generation] stop`
    return RenderingSpec()
