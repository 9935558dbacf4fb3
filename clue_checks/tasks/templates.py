"""The Jinja2 environment of task-file templates: sandboxed (a template is data, not code), strict (a field
the record lacks is an error, never an empty string), and text as written (no HTML escaping, trailing
newlines kept).

Only a run with a task file imports this module (and Jinja2): `file_task` and `taskfile` import it when a
template is first needed."""

from __future__ import annotations

from functools import lru_cache

from jinja2 import StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment


@lru_cache(maxsize=1)
def environment() -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
