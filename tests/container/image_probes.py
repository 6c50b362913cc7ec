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
from typing import Any

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


def processes() -> dict[str, object]:
    """Every process: its command line and its real, effective, saved and fs uids."""
    found = []
    for entry in sorted(os.listdir("/proc"), key=lambda e: (len(e), e)):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = [a.decode() for a in f.read().split(b"\0") if a]
            with open(f"/proc/{entry}/status", encoding="ascii") as f:
                status = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            continue
        found.append({"pid": int(entry), "cmd": cmd, "uid": status["Uid"].split()})
    return {"processes": found}


def scratch() -> dict[str, object]:
    """What backs each writable path (a tmpfs, or a volume) and whether this user can write
    a file there; the file is left behind for the caller to find on the volume."""
    with open("/proc/self/mounts", encoding="utf-8") as f:
        mounts = {line.split()[1]: line.split()[2] for line in f}
    found: dict[str, object] = {}
    for path in WRITABLE_PATHS:
        try:
            with open(os.path.join(path, "probe-written-by-the-service-user"), "w") as f:
                f.write(str(os.getuid()))
            error = 0
        except OSError as exc:
            error = exc.errno or -1
        found[path] = {"fs": mounts.get(path), "write_errno": error}
    return found


def rds_bundle() -> dict[str, object]:
    """The RDS CA bundle at the contract's path, as OpenSSL (asyncpg's and libpq's) loads it."""
    import hashlib
    import ssl

    from service import contract  # the image's own contract: WORKDIR /app

    path = contract.RDS_CA_BUNDLE_PATH
    with open(path, "rb") as f:
        data = f.read()
    stats = ssl.create_default_context(cafile=path).cert_store_stats()
    return {
        "path": path,
        "sha256": hashlib.sha256(data).hexdigest(),
        "x509_ca": stats["x509_ca"],
        "pem_blocks": data.count(b"-----BEGIN CERTIFICATE-----"),
        "mode": oct(os.stat(path).st_mode & 0o777),
        "owner": os.stat(path).st_uid,
    }


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
    "processes": processes,
    "scratch": scratch,
    "rds_bundle": rds_bundle,
    "write_probe": write_probe,
    "ownership": ownership,
    "build_leftovers": build_leftovers,
    "bytecode": bytecode,
    "contents": contents,
}


# The service's only writable paths (service.contract.CONTAINER_WRITABLE_PATHS; this file runs
# on a CI runner's Python too, without the repository's packages).
WRITABLE_PATHS = ["/tmp"]


def _ownership_problems(found: dict[str, Any]) -> list[str]:
    wrong = []
    if found["uid"] != 1000:
        wrong.append(f"runs as uid {found['uid']}, not 1000")
    if found["owned"] != WRITABLE_PATHS:
        wrong.append(f"uid 1000 owns {found['owned'][:10]}, not only {WRITABLE_PATHS}")
    if found["writable"] != WRITABLE_PATHS:
        wrong.append(f"uid 1000 may write {found['writable'][:10]}, not only {WRITABLE_PATHS}")
    return wrong


def _leftover_problems(found: dict[str, Any]) -> list[str]:
    keys = ("tools", "modules", "caches")
    return [f"build leftovers ({key}): {found[key]}" for key in keys if found[key]]


def _bytecode_problems(found: dict[str, Any]) -> list[str]:
    wrong = []
    if found["checked"] <= 500:
        wrong.append(f"only {found['checked']} .py files found: wrong paths?")
    if found["bad_count"]:
        wrong.append(f"{found['bad_count']} modules without a valid pyc, e.g. {found['bad']}")
    return wrong


def _contents_problems(found: dict[str, Any]) -> list[str]:
    wrong = []
    if found["service"] != ["/app/service/entrypoint.py"]:
        wrong.append("no /app/service/entrypoint.py")
    wrong.extend(f"nothing in {key}" for key in ("ib", "co", "kb", "schema") if not found[key])
    wrong.extend(f"{key} must not be in the image" for key in ("tests", "docker") if found[key])
    return wrong


EXPECTATIONS: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    "ownership": _ownership_problems,
    "build_leftovers": _leftover_problems,
    "bytecode": _bytecode_problems,
    "contents": _contents_problems,
}


def problems(probe: str, found: dict[str, Any]) -> list[str]:
    """What is wrong with a probe's result; empty when the image is as it must be."""
    if probe not in EXPECTATIONS:
        return [f"no expectations for probe {probe!r}"]
    return EXPECTATIONS[probe](found)


def judge(paths: list[str]) -> int:
    """CI: read ``probe-NAME.json`` files written by running the probes; exit 1 on a problem."""
    failed = False
    for path in paths:
        probe = os.path.basename(path).removeprefix("probe-").removesuffix(".json")
        with open(path, encoding="utf-8") as f:
            found = json.load(f)
        wrong = problems(probe, found)
        for problem in wrong:
            print(f"{probe}: {problem}")
        print(f"{probe}: {'FAILED' if wrong else 'ok'}")
        failed = failed or bool(wrong)
    return 1 if failed else 0


if __name__ == "__main__":
    if sys.argv[1] == "--judge":
        sys.exit(judge(sys.argv[2:]))
    print(json.dumps(PROBES[sys.argv[1]]()))
