"""The API key comes from the environment, in a stated order; a 401/403 names the variables."""

from __future__ import annotations

import pytest

from clue_checks.endpoint._http_errors import status_hint
from clue_checks.endpoint.keys import KEY_VARIABLES, api_key_from_env

LOCAL = ["http://tgi:8080"]
HF = ["https://abc.us-east-1.aws.endpoints.huggingface.cloud"]
ALL = {"CLUE_API_KEY": "clue", "OPENAI_API_KEY": "openai", "HF_TOKEN": "hf"}


@pytest.mark.parametrize(("env", "api", "urls", "expected"), [
    (ALL, "chat", LOCAL, ("clue", "CLUE_API_KEY")),  # CLUE_API_KEY first, whatever the mode
    ({**ALL, "CLUE_API_KEY": ""}, "chat", LOCAL, (None, "CLUE_API_KEY")),  # set but empty: no key at all
    ({"OPENAI_API_KEY": "openai", "HF_TOKEN": "hf"}, "chat", LOCAL, ("openai", "OPENAI_API_KEY")),
    ({"OPENAI_API_KEY": "openai", "HF_TOKEN": "hf"}, "generate", LOCAL, ("hf", "HF_TOKEN")),  # TGI's own API
    ({"OPENAI_API_KEY": "openai", "HF_TOKEN": "hf"}, "auto", LOCAL, ("openai", "OPENAI_API_KEY")),
    ({"HF_TOKEN": "hf"}, "auto", LOCAL, ("hf", "HF_TOKEN")),  # under auto the server may be TGI
    ({"HF_TOKEN": "hf"}, "chat", LOCAL, (None, None)),  # chat mode on a server of ours: not the HF token
    ({"OPENAI_API_KEY": "openai", "HF_TOKEN": "hf"}, "chat", HF, ("hf", "HF_TOKEN")),  # Hugging Face hosted
    ({"OPENAI_API_KEY": "openai"}, "auto", HF, (None, None)),
    (ALL, "auto", [], ("clue", "CLUE_API_KEY")),
    ({"OPENAI_API_KEY": "openai", "HF_TOKEN": "hf"}, "auto", [], (None, None)),  # the embedded baseline
])
def test_the_key_and_where_it_came_from(env, api, urls, expected):
    assert api_key_from_env(env, api=api, urls=urls) == expected


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_key_names_every_variable(status):
    hint = status_hint(status, "/v1/chat/completions", "Unauthorized")
    assert hint is not None and all(name in hint for name in KEY_VARIABLES)


def test_settings_never_show_the_key():
    from clue_checks.settings import Settings

    fields = {name: None for name in Settings.__dataclass_fields__}
    settings = Settings(**{**fields, "api_key": "sk-secret", "endpoints": ()})  # type: ignore[arg-type]
    assert "sk-secret" not in repr(settings)
