"""`consentgate …` command line. Each part registers its own sub-commands."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

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
    result: int = func(args)
    return result


if __name__ == "__main__":  # pragma: no cover - exercised through the console script
    sys.exit(main())
