"""The ``clue`` command line. Subcommands register themselves in :func:`build_parser`."""

from __future__ import annotations

import argparse
import errno
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version

from clue_checks import __version__
from clue_checks.server.variants import DEFAULT, VARIANTS


def _serve_baseline(args: argparse.Namespace) -> int:
    from clue_checks.server import BaselineServer

    server = BaselineServer(
        host=args.host,
        port=args.port,
        latency_s=args.latency_ms / 1000.0,
        max_concurrent_requests=args.max_concurrent_requests,
        variant=args.variant,
    )
    try:
        url = server.start()
    except OSError as exc:  # one line, not a traceback: the usual cause is a port already taken
        print(f"clue serve-baseline: error: {_bind_problem(exc, args.host, args.port)}", file=sys.stderr)
        return 2
    done = threading.Event()
    if threading.current_thread() is threading.main_thread():
        # SIGTERM (docker stop, CI teardown) ends the server like Ctrl-C does.
        signal.signal(signal.SIGTERM, lambda *_: done.set())
    print(url, flush=True)
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def _bind_problem(exc: OSError, host: str, port: int) -> str:
    where = f"{host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return (f"port {port} on {host} is already in use (another server, or an earlier clue serve-baseline "
                f"still running): choose another with --port, or --port 0 for a free one")
    if exc.errno == errno.EACCES:
        return f"not allowed to listen on {where} ({exc.strerror}): ports below 1024 need privileges; choose --port"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"cannot listen on {where} ({exc.strerror}): --host must be an address of this machine"
    return f"cannot listen on {where}: {exc.strerror or exc}"


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
    serve.add_argument(
        "--variant", choices=VARIANTS, default=DEFAULT,
        help="default: the baseline heuristics. finetune-degraded: the same, failing on a fixed share of samples "
             "the way biomedical fine-tunes fail (repetition loops, ignored answer format, ICD codes counted up, "
             "a letter instead of 'cannot be answered'); rates in clue_checks/server/variants.py",
    )
    serve.set_defaults(func=_serve_baseline)


def _subcommands() -> list[Callable[[argparse._SubParsersAction], object]]:  # type: ignore[type-arg]
    """Each subcommand lives in its own module and registers itself on the top-level subparsers."""
    from clue_checks.cli.fetch import add_parser as add_data_parser
    from clue_checks.cli.init import add_parser as add_init_parser
    from clue_checks.cli.compare import add_parser as add_compare_parser
    from clue_checks.cli.power import add_parser as add_power_parser
    from clue_checks.cli.report import add_parser as add_report_parser

    return [_add_serve_parser, add_data_parser, add_init_parser, add_report_parser, add_compare_parser,
            add_power_parser]


def _version() -> str:
    """The installed distribution's version; from a source checkout that is not installed, the package's."""
    try:
        return version("clue-checks")
    except PackageNotFoundError:
        return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="clue", description="CLUE benchmark checks for clinical LLMs.")
    parser.add_argument("--version", action="version", version=f"clue-checks {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in _subcommands():
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
