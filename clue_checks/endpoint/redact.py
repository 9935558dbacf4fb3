"""Secrets out of every message: the API key, header values the user gave, a password in a URL.

A server may quote the request back (some 401 bodies echo the `Authorization` header), and its words
go into exception messages, the terminal, JUnit and the reports. Every error the client raises passes
through `Redactor.error`; report writers apply the same `Redactor` to whatever they write.

    redactor = Redactor.for_endpoint(api_key="sk-123", headers={"X-Tenant": "ward7"})
    redactor("server said: Bearer sk-123")  # 'server said: Bearer [REDACTED]'
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import TypeVar

from .types import EndpointError

MASK = "[REDACTED]"
# Shorter values are not secrets worth the damage: masking every "1" or "on" would garble messages.
MIN_SECRET_LENGTH = 4

E = TypeVar("E", bound=EndpointError)


def _forms(secret: str) -> set[str]:
    """The secret as a server might echo it: as sent, JSON-escaped, percent-encoded."""
    forms = {secret, json.dumps(secret)[1:-1], urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]*@")


def no_userinfo(text: str) -> str:
    """`text` with every URL's `user:password@` removed (log lines: a password in a URL is a secret)."""
    return _USERINFO.sub(r"\1", text)


def url_password(url: str) -> str | None:
    """The password of `scheme://user:password@host/...`, if the URL carries one."""
    try:
        return urllib.parse.urlsplit(url).password
    except ValueError:
        return None


class Redactor:
    """Replaces each secret in a text with `[REDACTED]`; a Redactor without secrets returns text as is."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        forms: set[str] = set()
        for secret in secrets:
            if secret and len(secret.strip()) >= MIN_SECRET_LENGTH:
                forms |= _forms(secret.strip())
        # Longest first, so a secret containing another is masked whole.
        ordered = sorted(forms, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    @classmethod
    def for_endpoint(cls, *, api_key: str | None = None, headers: Mapping[str, str] | None = None,
                     urls: Iterable[str] = ()) -> Redactor:
        """The secrets of a run: the API key, every header value the user supplied, URL passwords."""
        return cls([api_key, *(headers or {}).values(), *(url_password(u) for u in urls)])

    def __bool__(self) -> bool:
        return self._pattern is not None

    def __call__(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(MASK, text)

    def error(self, exc: E) -> E:
        """The same error with every text field redacted (message, server message, hint, URL)."""
        if self._pattern is None:
            return exc
        return exc.replace(  # type: ignore[return-value]
            message=self(exc.message),
            url=self(exc.url),
            server_message=self(exc.server_message) if exc.server_message else exc.server_message,
            hint=self(exc.hint) if exc.hint else exc.hint,
        )


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with each of `secrets` (and its JSON-escaped and percent-encoded forms) masked."""
    return Redactor(secrets)(text)
