"""`consentgate …` command line. Each part registers its own sub-commands."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from consentgate import __version__
from consentgate.html import accel

# Each module defines `register(subparsers)`; its parsers set `func(args) -> int`.
# Add a line here when a package gains commands (keep the list sorted).
_COMMAND_MODULES: tuple[str, ...] = (
    "consentgate.audit.commands",
    "consentgate.audit.leaks",
    "consentgate.demo",
    "consentgate.html.commands",
    "consentgate.policy.commands",
    "consentgate.selftest.commands",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="consentgate",
        description="Cookie consent enforced in the HTTP response: policy checks, HTML scanning, "
        "audit log tools, the demo site and a browser self-test.",
    )
    rewriter = "C speed-ups" if accel.AVAILABLE else "pure Python"
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__} (HTML rewriter: {rewriter})"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        result: int = func(args)
    except BrokenPipeError:
        # The reader stopped early (`consentgate scan page.html | head`): no traceback, and
        # no second error when Python flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    return result


if __name__ == "__main__":  # pragma: no cover - exercised through the console script
    sys.exit(main())
