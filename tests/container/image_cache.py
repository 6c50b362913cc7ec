"""Images that outlive the private engine: saved after a build, loaded into the next engine.

Each test run's dockerd is new (tests/container/engine.py), so BuildKit's cache would start
empty every time and the heavy images (the stand-ins of the third-party images, the test
stack's image with the whole dev lock) would be built from nothing on every run: minutes of
apt and pip downloads. Instead those images are built with BuildKit's inline cache
(``cache_to: type=inline`` in the compose override) and saved to a machine-wide directory;
the next run loads them and BuildKit reuses every step whose inputs are unchanged
(``cache_from`` names the loaded image). BuildKit decides what is still valid, so a stale
copy costs a rebuild of the changed steps, never a wrong image.
"""

from __future__ import annotations

import fcntl
import os
import re
from pathlib import Path

from tests.container.engine import Engine
from tests.container.standin import CACHE_DIR

IMAGES_DIR = CACHE_DIR / "images"


def _archive(tag: str) -> Path:
    return IMAGES_DIR / (re.sub(r"[^A-Za-z0-9_.-]", "_", tag) + ".tar")


def restore(engine: Engine, tag: str) -> bool:
    """Load the saved copy of ``tag`` into the engine; False when there is none."""
    archive = _archive(tag)
    if not archive.is_file():
        return False
    proc = engine.docker("load", "--input", str(archive), timeout=900, check=False)
    return proc.returncode == 0 and engine.inspect("image", tag) is not None


def save(engine: Engine, tag: str) -> None:
    """Save ``tag`` for the next run, unless the saved copy is that very image already."""
    info = engine.inspect("image", tag)
    if info is None:
        return
    IMAGES_DIR.mkdir(parents=True, exist_ok=True)
    archive = _archive(tag)
    stamp = archive.with_suffix(".id")
    if archive.is_file() and stamp.is_file() and stamp.read_text() == info["Id"]:
        return
    with open(archive.with_suffix(".lock"), "w", encoding="ascii") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        partial = archive.with_suffix(f".{os.getpid()}.partial")
        engine.docker("save", "--output", str(partial), tag, timeout=900)
        partial.rename(archive)  # atomic: a reader never sees half an archive
        stamp.write_text(str(info["Id"]))
