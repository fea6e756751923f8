"""The optional C speed-ups (``_speedups.c``), or None.

They change no result, only how fast it comes: each one skips in C what a Python pattern could
not match and leaves every decision to that pattern (see the C file's header). Built at install
when a C compiler is there (hatch_build.py); without one, or with ``CONSENTGATE_PURE_PYTHON=1``
in the environment when consentgate is first imported, the pure-Python code runs alone.
The benchmarks print which one ran.
"""

from __future__ import annotations

import os
from types import ModuleType

__all__ = ["AVAILABLE", "speedups"]


def _load() -> ModuleType | None:
    if os.environ.get("CONSENTGATE_PURE_PYTHON"):
        return None
    try:
        from consentgate.html import _speedups
    except ImportError:
        return None
    return _speedups


speedups = _load()
AVAILABLE = speedups is not None
