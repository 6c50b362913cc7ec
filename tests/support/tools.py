"""Where the suite finds the command-line tools it runs (scanners, linters, CLIs).

The same lookup wherever the suite runs: the repository's .venv (``scripts/dev.sh env``),
the test stack's image (``/opt/venv``), tox's environment or a CI runner's. Tools installed
from the dev lock sit next to the interpreter running pytest; checkov lives in a venv of
its own (``.venv-scan``) and is found by :func:`checkov`, the suite's one lookup for it.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

VENV_BIN = Path(sys.executable).parent
#: The checkout this suite belongs to, wherever it is (a worktree, a CI runner, an image).
REPO_ROOT = Path(__file__).resolve().parents[2]
#: Where ``scripts/dev.sh env`` puts checkov: a venv of its own (it pins an old boto3).
SCAN_VENV_BIN = REPO_ROOT / ".venv-scan" / "bin"


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


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def checkov() -> str:
    """checkov: ``$CHECKOV``, else this checkout's ``.venv-scan``, else the running venv or PATH.

    A missing checkov fails the test: a scanner that did not run is not a pass.
    """
    named = os.environ.get("CHECKOV")
    if named:
        if not _executable(Path(named)):
            raise AssertionError(f"$CHECKOV={named} is not an executable file")
        return named
    scan_venv = SCAN_VENV_BIN / "checkov"
    if _executable(scan_venv):
        return str(scan_venv)
    found = find_tool("checkov")
    if found is None:
        raise AssertionError(
            f"checkov is not installed ($CHECKOV, {SCAN_VENV_BIN}, {VENV_BIN}, PATH): "
            "run `bash scripts/dev.sh env`"
        )
    return found
