"""The rewriter benchmark of `make bench`: middleware overhead, then rewriter throughput.

Both parts run in this one process so every figure is a ratio against a baseline measured in
the same run (the machines are shared and noisy). Run: ``python bench/rewrite.py``.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    status = 0
    for script in ("overhead.py", "rewrite_throughput.py"):
        print(f"\n=== bench/{script} ===", flush=True)
        sys.argv = [str(HERE / script)]
        try:
            runpy.run_path(str(HERE / script), run_name="__main__")
        except SystemExit as stop:
            # A missed target is reported at the end; the other part still runs.
            if stop.code not in (None, 0):
                status = int(stop.code) if isinstance(stop.code, int) else 1
    return status


if __name__ == "__main__":
    sys.exit(main())
