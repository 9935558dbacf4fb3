"""The ``clue`` command line. Subcommands register themselves in :func:`build_parser`."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Sequence


def _serve_baseline(args: argparse.Namespace) -> int:
    from clue_checks.server import BaselineServer

    server = BaselineServer(
        host=args.host,
        port=args.port,
        latency_s=args.latency_ms / 1000.0,
        max_concurrent_requests=args.max_concurrent_requests,
    )
    done = threading.Event()
    if threading.current_thread() is threading.main_thread():
        # SIGTERM (docker stop, CI teardown) ends the server like Ctrl-C does.
        signal.signal(signal.SIGTERM, lambda *_: done.set())
    url = server.start()
    print(url, flush=True)
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def _add_serve_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]

    serve = sub.add_parser(
        "serve-baseline",
        help="serve the parameterless baseline model (TGI + OpenAI APIs) until Ctrl-C",
        description="Serve the parameterless baseline model over HTTP (TGI and OpenAI APIs).",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    serve.add_argument("--port", type=int, default=8080, help="port; 0 picks a free one (default: %(default)s)")
    serve.add_argument("--latency-ms", type=float, default=0.0, help="delay added to each generation (default: 0)")
    serve.add_argument(
        "--max-concurrent-requests", type=int, default=64,
        help="generations in flight before answering 429 (default: %(default)s)",
    )
    serve.set_defaults(func=_serve_baseline)


def _subcommands() -> list[Callable[[argparse._SubParsersAction], object]]:  # type: ignore[type-arg]
    """Each subcommand lives in its own module and registers itself on the top-level subparsers."""
    from clue_checks.data.fetch_cli import add_parser as add_data_parser
    from clue_checks.report.report_cli import add_parser as add_report_parser

    return [_add_serve_parser, add_data_parser, add_report_parser]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="clue", description="CLUE benchmark checks for clinical LLMs.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in _subcommands():
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
