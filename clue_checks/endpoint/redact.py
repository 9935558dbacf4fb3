"""Secrets out of every message: the API key, header values the user gave, a URL's user and password.

A server may quote the request back (some 401 bodies echo the `Authorization` header), and its words
go into exception messages, the terminal, JUnit and the reports. Every error the client raises passes
through `Redactor.error`; report writers apply the same `Redactor` to whatever they write. A URL's
userinfo (`http://user:KEY@host`) is shown as `http://***@host` in any text, whatever the secrets.

Under --clue-redact a server's own words may quote the prompt (a 400 that echoes the input), so a
Redactor made with `hash_server_text=True` also replaces an error's server message by its hash.

The HTTP library's loggers (httpx2, httpcore2) get `UserinfoFilter`, so their INFO/DEBUG lines, which
print request URLs, show no userinfo either (`install_log_filters`, called by every client).

    redactor = Redactor.for_endpoint(api_key="sk-123", headers={"X-Tenant": "ward7"})
    redactor("server said: Bearer sk-123")  # 'server said: Bearer [REDACTED]'
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import TypeVar

from clue_checks.endpoint.types import EndpointError

MASK = "[REDACTED]"
# Shorter values are not secrets worth the damage: masking every "1" or "on" would garble messages.
MIN_SECRET_LENGTH = 4

E = TypeVar("E", bound=EndpointError)
USERINFO_MASK = "***"
_USERINFO = re.compile(r"(?P<scheme>\b[a-z][a-z0-9+.-]*://)[^/@\s?#]+@", re.I)
HTTP_LOGGERS = ("httpx2", "httpcore2", "httpcore2.connection", "httpcore2.http11", "httpcore2.http2",
                "httpcore2.proxy", "httpcore2.socks", "httpx", "httpcore")


def without_userinfo(text: str) -> str:
    """`scheme://user:password@host` -> `scheme://***@host` wherever it occurs in `text`."""
    if "@" not in text or "://" not in text:  # the common case, without a regex
        return text
    return _USERINFO.sub(lambda m: m.group("scheme") + USERINFO_MASK + "@", text)


_HASHED = re.compile(r"sha256:[0-9a-f]{16} \(\d+ chars\)")


def hashed(text: str) -> str:
    """A server's text under --clue-redact: `sha256:<16 hex digits> (<n> chars)`, as report rows show text."""
    digest = hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()
    return f"sha256:{digest[:16]} ({len(text)} chars)"


def _forms(secret: str) -> set[str]:
    """The secret as a server might echo it: as sent, JSON-escaped, percent-encoded."""
    forms = {secret, json.dumps(secret)[1:-1], urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


def url_password(url: str) -> str | None:
    """The password of `scheme://user:password@host/...`, if the URL carries one."""
    try:
        return urllib.parse.urlsplit(url).password
    except ValueError:
        return None


class Redactor:
    """Replaces each secret in a text with `[REDACTED]`; a Redactor without secrets returns text as is."""

    def __init__(self, secrets: Iterable[str | None] = (), *, hash_server_text: bool = False) -> None:
        self.hash_server_text = hash_server_text
        forms: set[str] = set()
        for secret in secrets:
            if secret and len(secret.strip()) >= MIN_SECRET_LENGTH:
                forms |= _forms(secret.strip())
        # Longest first, so a secret containing another is masked whole.
        ordered = sorted(forms, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    @classmethod
    def for_endpoint(cls, *, api_key: str | None = None, headers: Mapping[str, str] | None = None,
                     urls: Iterable[str] = (), hash_server_text: bool = False) -> Redactor:
        """The secrets of a run: the API key, every header value the user supplied, URL passwords."""
        return cls([api_key, *(headers or {}).values(), *(url_password(u) for u in urls)],
                   hash_server_text=hash_server_text)

    def __bool__(self) -> bool:
        return self._pattern is not None

    def __call__(self, text: str) -> str:
        if not text:
            return text
        text = without_userinfo(text)
        return text if self._pattern is None else self._pattern.sub(MASK, text)

    def error(self, exc: E) -> E:
        """The same error with every text field redacted (message, server message, hint, URL); under
        `hash_server_text` the server's message is its hash."""
        server = exc.server_message
        if server and self.hash_server_text and not _HASHED.fullmatch(server):  # hashed once, by the first redactor
            server = hashed(server)
        elif server:
            server = self(server)
        return exc.replace(  # type: ignore[return-value]
            message=self(exc.message),
            url=self(exc.url),
            server_message=server,
            hint=self(exc.hint) if exc.hint else exc.hint,
        )


class UserinfoFilter(logging.Filter):
    """Rewrites a log record's message without URL userinfo (the HTTP library logs request URLs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # other libraries' records: `msg % args` can raise anything; logging reports it
            return True
        clean = without_userinfo(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


_FILTER = UserinfoFilter()


def install_log_filters() -> None:
    """`UserinfoFilter` on each logger of the HTTP library (a filter on a parent does not see its
    children's records, so each is named); idempotent."""
    for name in HTTP_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with each of `secrets` (and its JSON-escaped and percent-encoded forms) masked."""
    return Redactor(secrets)(text)
