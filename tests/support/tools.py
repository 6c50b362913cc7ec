"""Where the suite finds the command-line tools it runs (scanners, linters, CLIs).

The same lookup wherever the suite runs: the repository's .venv (``scripts/dev.sh env``),
the test stack's image (``/opt/venv``), tox's environment or a CI runner's. Tools installed
from the dev lock sit next to the interpreter running pytest; checkov lives in a venv of
its own and is named by ``$CHECKOV``.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

VENV_BIN = Path(sys.executable).parent


def find_tool(name: str, env_var: str | None = None) -> str | None:
    """The tool's path: ``$ENV_VAR``, then the running venv's bin, then PATH; or None."""
    candidates = [
        os.environ.get(env_var) if env_var else None,
        str(VENV_BIN / name),
        shutil.which(name),
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def tool(name: str, env_var: str | None = None) -> str:
    """Like find_tool, but a missing tool fails the test: the dev setup installs every one."""
    found = find_tool(name, env_var)
    if found is None:
        where = f"${env_var}, " if env_var else ""
        raise AssertionError(
            f"{name} is not installed ({where}{VENV_BIN}, PATH): run `bash scripts/dev.sh env`"
        )
    return found
