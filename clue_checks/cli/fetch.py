"""``clue data fetch``: download the public CLUE data sets. Registered by :func:`add_parser`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from clue_checks.data.fetch import CREDENTIALED, PUBLIC, FetchError, FetchResult, UsageError, fetch

MIRROR_ENV = "CLUE_DATA_MIRROR"


def _pairs(values: list[str], option: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name or not rest:
            raise UsageError(f"{option} {value}: expected NAME=VALUE, e.g. {option} longhealth=...")
        if name.lower() not in PUBLIC:
            raise UsageError(f"{option} names {name!r}, which is not a public set ({', '.join(PUBLIC)})")
        pairs[name.lower()] = rest
    return pairs


def _line(result: FetchResult) -> str:
    check = "verified" if result.verified else "UNPINNED"
    return f"{result.status:<10} {check:<8} sha256={result.sha256} {result.size:>10,} bytes  {result.path}"


def run(args: argparse.Namespace) -> int:
    """Exit codes: 0 all files in place, 1 a download or verification failed, 2 a usage error."""
    try:
        pins = _pairs(args.sha256, "--sha256")
        refs = _pairs(args.ref, "--ref")
        names = [n.lower() for n in args.names]
        mirror = args.mirror or os.environ.get(MIRROR_ENV)
        bases = {name: mirror for name in names} if mirror else {}
        results = fetch(
            names, Path(args.dest), base_urls=bases, expected_sha256=pins, refs=refs, force=args.force,
            on_result=lambda r: print(_line(r), flush=True),
        )
    except UsageError as exc:
        print(f"clue data fetch: error: {exc}", file=sys.stderr)
        return 2
    except FetchError as exc:
        print(f"clue data fetch: error: {exc}", file=sys.stderr)
        return 1
    for result in results:
        if not result.verified:
            print(
                f"{result.name}: no sha256 is pinned, so this file was not verified. Check it, then pin it: "
                f"--sha256 {result.name}={result.sha256}"
            )
    for name in dict.fromkeys(r.name for r in results):
        print(f"licence: {PUBLIC[name].licence}")
    print(f"use it with: pytest --clue-data={args.dest}")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    """Register ``data fetch`` on the top-level subparsers of the ``clue`` command."""
    data = subparsers.add_parser("data", help="get the CLUE data sets", description="Get the CLUE data sets.")
    actions = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    credentialed = ", ".join(CREDENTIALED)
    parser = actions.add_parser(
        "fetch",
        help="download the public data sets (MeQSum, LongHealth) into a --clue-data folder",
        description=(
            f"Download public CLUE data sets ({', '.join(PUBLIC)}) into DIR, laid out as --clue-data expects, "
            f"verifying each file's sha256. Not fetchable: {credentialed} (PhysioNet credentialed; MeDiSumCode "
            f"is generated locally); see docs/data.md."
        ),
    )
    parser.add_argument("names", nargs="+", metavar="NAME", help=f"data sets: {', '.join(PUBLIC)}")
    parser.add_argument("--dest", required=True, metavar="DIR", help="the folder to pass as --clue-data")
    parser.add_argument(
        "--sha256", action="append", default=[], metavar="NAME=HEX",
        help="pin or override a file's sha256 (repeatable); needed to verify longhealth",
    )
    parser.add_argument(
        "--ref", action="append", default=[], metavar="NAME=REF",
        help="git branch or commit to fetch from (repeatable; default: meqsum=master, longhealth=main)",
    )
    parser.add_argument(
        "--mirror", metavar="URL",
        help=f"fetch DIR's relative paths under this base URL instead, e.g. URL/MeQSum/<file> (env {MIRROR_ENV})",
    )
    parser.add_argument("--force", action="store_true", help="download even if a verified file is present")
    parser.set_defaults(func=run)
    return parser
