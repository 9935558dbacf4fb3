"""The baseline server's request handler: which route answers a request, and TGI's (axum's) answers to a
wrong method or an unknown route.

Routes: ``GET /health`` (also ``/`` and ``/ping``), ``GET /info``, ``GET /v1/models``, ``GET /metrics``,
and the POST routes of :mod:`clue_checks.server.tgi_routes` and :mod:`clue_checks.server.openai_routes`.
"""

from __future__ import annotations

import json
from typing import Any

from clue_checks.server.openai_routes import OpenAIRoutes
from clue_checks.server.tgi_requests import RequestError, reject_constant
from clue_checks.server.tgi_routes import TGIRoutes

GENERATION_ROUTES = ("/generate", "/generate_stream", "/", "/v1/chat/completions", "/v1/completions")
GET_ROUTES = ("/health", "/", "/ping", "/info", "/v1/models", "/metrics")
POST_ROUTES = GENERATION_ROUTES + ("/tokenize", "/chat_tokenize")


class BaselineHandler(TGIRoutes, OpenAIRoutes):
    """The handler the baseline server runs: every route, and JSON answers to any other method or path."""

    def _method_not_allowed(self) -> None:
        """TGI (axum) answers a known route asked with the wrong method with 405 and ``Allow``; an unknown
        route is 404 whatever the method. Unlike http.server's HTML 501, the answer is JSON."""
        length = int(self.headers.get("Content-Length") or 0)
        if length > 0:
            self.rfile.read(length)  # keep the connection's framing for the next request
        path = self._path()
        allowed = (["GET", "HEAD"] if path in GET_ROUTES else []) + (["POST"] if path in POST_ROUTES else [])
        if not allowed:
            self._send(404, b"", None)
            return
        self._json(405, {"error": f"Method Not Allowed: {self.command} {path} (allowed: {', '.join(allowed)})",
                         "error_type": "method_not_allowed"}, {"Allow": ", ".join(allowed)})

    def __getattr__(self, name: str) -> Any:
        # http.server looks up ``do_<METHOD>`` and answers HTML 501 when it is missing: every other method
        # (PUT, DELETE, PATCH, OPTIONS, …) gets the JSON 405/404 instead.
        if name.startswith("do_"):
            return self._method_not_allowed
        raise AttributeError(name)

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        path = self._path()
        if path in ("/health", "/", "/ping"):
            self._send(200, b"", None)
        elif path == "/info":
            self._json(200, self.app.info())
        elif path == "/v1/models":
            model = {"id": self.app.model_id, "object": "model", "created": 0, "owned_by": self.app.model_id}
            self._json(200, {"object": "list", "data": [model]})
        elif path == "/metrics":
            self._send(200, self.app.metrics().encode(), "text/plain; version=0.0.4; charset=utf-8")
        else:
            self._method_not_allowed()

    do_HEAD = do_GET  # noqa: N815 - axum (TGI) answers HEAD on every GET route; _send omits the body

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        path = self._path()
        routes = {
            "/generate": self._generate,
            "/generate_stream": self._generate_stream,
            "/": self._compat,
            "/v1/chat/completions": self._chat,
            "/v1/completions": self._completions,
            "/tokenize": self._tokenize,
            "/chat_tokenize": self._chat_tokenize,
        }
        handler = routes.get(path)
        if handler is None:
            self._method_not_allowed()
            return
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        generation = path in GENERATION_ROUTES
        if generation:
            self.app._count(path)
        try:
            try:
                body = json.loads(raw, parse_constant=reject_constant)
            except (ValueError, UnicodeDecodeError) as exc:
                raise RequestError(400, f"Failed to parse the request body as JSON: {exc}", None) from exc
            if not isinstance(body, dict):
                raise RequestError(422, "Failed to deserialize the JSON body into the target type", None)
            generated = handler(body)
            if generation:
                self.app._outcome("success", generated or 0)
        except RequestError as err:
            if generation:
                self.app._outcome(err.error_type or "deserialize")
            self._error(err)
        except Exception as exc:  # a bug here must answer, not drop the connection (clients would retry)
            if generation:
                self.app._outcome("incomplete_generation")
            if self._sse_started:
                raise
            self._error(RequestError(500, f"Internal error in the baseline server: {exc!r}", "incomplete_generation"))
