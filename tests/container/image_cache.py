"""Images that outlive the private engine: saved after a build, loaded into the next engine.

Each test run's dockerd is new (tests/container/engine.py), so BuildKit's cache would start
empty every time and the heavy images (the stand-ins of the third-party images, the test
stack's image with the whole dev lock) would be built from nothing on every run: minutes of
apt and pip downloads. Instead those images are built with BuildKit's inline cache
(``cache_to: type=inline`` in the compose override) and saved to a machine-wide directory;
the next run loads them and BuildKit reuses every step whose inputs are unchanged
(``cache_from`` names the loaded image). BuildKit decides what is still valid, so a stale
copy costs a rebuild of the changed steps, never a wrong image.

An image rebuilt from the cache gets a new ID although nothing in it changed (measured): its
layers and ``created`` are the saved copy's, but the first ``history`` entry carries the time
the stand-in base was imported into this run's engine (``docker import`` stamps the import
time, and every run imports it anew), and the image ID is the digest of that configuration.
The engine's BuildKit (Docker 20.10, BuildKit 0.8) knows no SOURCE_DATE_EPOCH to override it.
Saving is therefore decided on the image's content, not its ID: the layers (their
uncompressed digests) and the run-time configuration. When those equal the saved copy's, the
copy is kept (its inline cache names the same layers); only an image whose content changed
is saved again, which for the test stack's image is 2.3 GB written.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import time
from pathlib import Path
from typing import Any

from tests.container.engine import Engine
from tests.container.standin import CACHE_DIR

IMAGES_DIR = CACHE_DIR / "images"


def _archive(tag: str) -> Path:
    return IMAGES_DIR / (re.sub(r"[^A-Za-z0-9_.-]", "_", tag) + ".tar")


def content_key(info: dict[str, Any]) -> str:
    """What an image is, without when it was built: platform, layers, run-time config.

    ``Config.Image`` (the parent's ID, which changes with every import of the stand-in base)
    and ``Created`` are left out; a layer that changed changes ``RootFS.Layers``."""
    config = dict(info.get("Config") or {})
    config.pop("Image", None)
    content = {
        "os": info.get("Os"),
        "architecture": info.get("Architecture"),
        "variant": info.get("Variant"),
        "layers": (info.get("RootFS") or {}).get("Layers"),
        "config": config,
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def restore(engine: Engine, tag: str) -> bool:
    """Load the saved copy of ``tag`` into the engine; False when there is none."""
    archive = _archive(tag)
    if not archive.is_file():
        return False
    started = time.monotonic()
    proc = engine.docker("load", "--input", str(archive), timeout=900, check=False)
    loaded = proc.returncode == 0 and engine.inspect("image", tag) is not None
    print(
        f"\n[image cache] load {tag} ({archive.stat().st_size / 1e6:.0f} MB): "
        f"{'ok' if loaded else 'failed'} in {time.monotonic() - started:.1f} s"
    )
    return loaded


def _saved_key(engine: Engine, archive: Path) -> str | None:
    """The content key of the saved copy: its own file, else the loaded copy's in the engine
    (a copy saved before keys were recorded)."""
    key_file = archive.with_suffix(".key")
    if key_file.is_file():
        return key_file.read_text(encoding="ascii").strip()
    id_file = archive.with_suffix(".id")
    if id_file.is_file():
        loaded = engine.inspect("image", id_file.read_text(encoding="ascii").strip())
        if loaded is not None:
            return content_key(loaded)
    return None


def save(engine: Engine, tag: str) -> bool:
    """Save ``tag`` for the next run unless the saved copy has the same content; True when
    it wrote the archive."""
    info = engine.inspect("image", tag)
    if info is None:
        return False
    IMAGES_DIR.mkdir(parents=True, exist_ok=True)
    archive = _archive(tag)
    key = content_key(info)
    with open(archive.with_suffix(".lock"), "w", encoding="ascii") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if archive.is_file() and _saved_key(engine, archive) == key:
            archive.with_suffix(".key").write_text(key, encoding="ascii")
            print(f"\n[image cache] {tag}: content unchanged, saved copy kept")
            return False
        started = time.monotonic()
        partial = archive.with_suffix(f".{os.getpid()}.partial")
        engine.docker("save", "--output", str(partial), tag, timeout=900)
        partial.rename(archive)  # atomic: a reader never sees half an archive
        archive.with_suffix(".id").write_text(str(info["Id"]), encoding="ascii")
        archive.with_suffix(".key").write_text(key, encoding="ascii")
        print(
            f"\n[image cache] save {tag} ({archive.stat().st_size / 1e6:.0f} MB) in "
            f"{time.monotonic() - started:.1f} s"
        )
        return True
