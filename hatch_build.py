"""Build hook: compile the optional C speed-ups (src/consentgate/html/_speedups.c).

The C module only makes the HTML rewriter faster; consentgate works the same without it
(src/consentgate/html/accel.py falls back to the pure-Python code). So a machine without a C
compiler or Python headers still installs: the hook says why it skipped and builds a pure
wheel. ``CONSENTGATE_PURE_PYTHON=1`` skips the compile on purpose.

Compiled with the interpreter's own compiler settings (``sysconfig``: ``LDSHARED``, ``CCSHARED``),
as the standard library's build of extension modules does, so no build dependency beyond
hatchling is needed. An editable install puts the module beside its source (the install
points at ``src/``); a wheel gets it as a platform-specific file.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SOURCE = Path("src/consentgate/html/_speedups.c")
TARGET = "consentgate/html/_speedups"


def compile_command(source: Path, output: Path) -> list[str] | None:
    ldshared = sysconfig.get_config_var("LDSHARED")
    if not ldshared:  # Windows builds carry no such settings: stay pure Python there
        return None
    ccshared = sysconfig.get_config_var("CCSHARED") or ""
    include = sysconfig.get_paths()["include"]
    return [
        *shlex.split(ldshared),
        *shlex.split(ccshared),
        "-O2",
        "-Wall",
        "-I",
        include,
        str(source),
        "-o",
        str(output),
    ]


class SpeedupsBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        if os.environ.get("CONSENTGATE_PURE_PYTHON"):
            self.app.display_info("consentgate: CONSENTGATE_PURE_PYTHON is set: no C speed-ups")
            return
        suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
        root = Path(self.root)
        source = root / SOURCE
        if version == "editable":
            output = root / "src" / (TARGET + suffix)
            # a module left from an older source must not outlive a failed build
            for stale in output.parent.glob("_speedups*"):
                if stale.suffix in (".so", ".pyd"):
                    stale.unlink()
        else:
            output = Path(tempfile.mkdtemp(prefix="consentgate-build-")) / ("_speedups" + suffix)
        command = compile_command(source, output)
        if command is None:
            self.app.display_warning("consentgate: no C compiler settings here: pure-Python rewriter")
            return
        try:
            result = subprocess.run(command, capture_output=True, text=True, check=False)
        except OSError as error:
            self.app.display_warning(f"consentgate: C speed-ups not built ({error}): pure-Python rewriter")
            return
        if result.returncode != 0:
            self.app.display_warning(
                "consentgate: C speed-ups not built, the pure-Python rewriter is used "
                f"(compiler exit {result.returncode}):\n{result.stderr[-2000:]}"
            )
            return
        if version != "editable":
            build_data["force_include"][str(output)] = TARGET + suffix
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        print(f"consentgate: built C speed-ups for Python {sys.version.split()[0]}", file=sys.stderr)
