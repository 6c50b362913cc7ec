"""Probes that run inside a container of the image and print one JSON object.

The tests pass this file's source to the image's own interpreter (``python -c SOURCE
NAME``), so it may import nothing but the standard library, and it sees the image exactly
as the service does: its user, its file system, its environment.
"""

from __future__ import annotations

import errno
import glob
import importlib.util
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable

SKIPPED_TREES = ("/proc", "/sys", "/dev")


def process_1() -> dict[str, object]:
    """PID 1's command line and its user and group ids (real, effective, saved, fs)."""
    with open("/proc/1/status", encoding="ascii") as f:
        status = dict(line.split(":", 1) for line in f if ":" in line)
    with open("/proc/1/cmdline", "rb") as f:
        cmd = f.read().decode().split("\0")
    return {"cmd": cmd[:3], "uid": status["Uid"].split(), "gid": status["Gid"].split()}


def write_probe() -> dict[str, object]:
    """Whether the image's own files can be written, and whether /tmp can."""
    try:
        with open("/app/probe", "w", encoding="ascii"):
            app_errno = 0
    except OSError as exc:
        app_errno = exc.errno or -1
    with tempfile.NamedTemporaryFile(dir="/tmp") as f:
        f.write(b"x")
        f.flush()
    return {"app_errno": app_errno, "erofs": errno.EROFS}


def ownership() -> dict[str, object]:
    """Paths owned by this user, and paths it may write, outside the kernel's trees."""
    owned: list[str] = []
    writable: list[str] = []
    for root, dirs, files in os.walk("/"):
        if root in SKIPPED_TREES:
            dirs[:] = []
            continue
        for name in dirs + files:
            path = os.path.join(root, name)
            if os.path.islink(path) or path in SKIPPED_TREES:
                continue
            if os.lstat(path).st_uid == os.getuid():
                owned.append(path)
            if os.access(path, os.W_OK):
                writable.append(path)
    return {"uid": os.getuid(), "owned": owned, "writable": writable}


def build_leftovers() -> dict[str, object]:
    """Compilers, packaging tools and pip caches that a runtime image must not carry."""
    tools = ("gcc", "cc", "c++", "make", "ld", "pip", "pip3", "uv")
    caches = ("/root/.cache", "/tmp/.cache", "/build", "/nonexistent")
    return {
        "tools": [tool for tool in tools if shutil.which(tool)],
        "modules": [m for m in ("pip", "setuptools", "wheel") if importlib.util.find_spec(m)],
        "caches": [path for path in caches if os.path.exists(path)],
    }


def bytecode() -> dict[str, object]:
    """Each .py of the service and its dependencies against its hash-checked pyc."""
    checked = 0
    bad: list[str] = []
    for top in ("/app/service", "/opt/venv/lib"):
        for root, _dirs, files in os.walk(top):
            for name in files:
                if not name.endswith(".py"):
                    continue
                src = os.path.join(root, name)
                checked += 1
                try:
                    with open(importlib.util.cache_from_source(src), "rb") as f:
                        head = f.read(16)
                except OSError:
                    bad.append(src)
                    continue
                with open(src, "rb") as f:
                    digest = importlib.util.source_hash(f.read())
                flags = int.from_bytes(head[4:8], "little")
                hash_based = bool(flags & 1)
                if (
                    head[:4] != importlib.util.MAGIC_NUMBER
                    or not hash_based
                    or head[8:16] != digest
                ):
                    bad.append(src)
    return {"checked": checked, "bad": bad[:10], "bad_count": len(bad)}


def contents() -> dict[str, object]:
    """What the image carries under /app."""
    patterns = {
        "service": "/app/service/entrypoint.py",
        "ib": "/app/migrations/ib/*.sql",
        "co": "/app/migrations/co/*.sql",
        "kb": "/app/compliance/frameworks/*.json",
        "schema": "/app/compliance/schema/*.json",
        "tests": "/app/tests",
        "docker": "/app/docker",
    }
    return {key: sorted(glob.glob(pattern)) for key, pattern in patterns.items()}


PROBES: dict[str, Callable[[], dict[str, object]]] = {
    "process_1": process_1,
    "write_probe": write_probe,
    "ownership": ownership,
    "build_leftovers": build_leftovers,
    "bytecode": bytecode,
    "contents": contents,
}

if __name__ == "__main__":
    print(json.dumps(PROBES[sys.argv[1]]()))
