"""The stand-in for python:3.11-slim: Debian bookworm's own Python 3.11, made with debootstrap.

No registry can be pulled from here, so the official base image the Dockerfile pins by digest
is replaced, for local builds only, by a root file system that debootstrap makes from Debian's
packages, selected with ``--build-arg PYTHON_IMAGE=<stand-in>``. Its Python lives in /usr/bin
(the official image's in /usr/local/bin); the Dockerfile only ever calls ``python``.

Making it takes about a minute, so the root file system is kept as a tarball in a machine-wide
cache, named after its recipe, and imported into each engine (Docker's private one, buildah's
store) in seconds. A file lock keeps two test runs from making it at the same time.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

CACHE_DIR = Path(os.environ.get("CO_TEST_CACHE", "/var/cache/cloud-optimizer-tests"))
# The name the Dockerfiles get as PYTHON_IMAGE (Docker's and buildah's stores alike).
IMAGE = "localhost/co-standin/python:3.11-bookworm"
DOCKER_IMAGE = "co-standin/python:3.11-bookworm"

DEBOOTSTRAP_ARGS = (
    "--variant=minbase",
    "--include=python3,python3-venv,python3-pip,python-is-python3,ca-certificates",
    "bookworm",
)
# What the official image does too: no package lists or caches, no docs or man pages.
PRUNE = (
    "var/cache/apt",
    "var/lib/apt/lists",
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
)
# The official image's configuration, as far as the Dockerfiles rely on it.
ENV = {
    "LANG": "C.UTF-8",
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
}
CMD = '["python3"]'


def recipe_digest() -> str:
    return hashlib.sha256(repr((DEBOOTSTRAP_ARGS, PRUNE)).encode()).hexdigest()


def _make_rootfs(rootfs: Path) -> None:
    subprocess.run(
        ["debootstrap", *DEBOOTSTRAP_ARGS, str(rootfs)],
        check=True,
        capture_output=True,
        timeout=900,
    )
    # Debian marks its interpreter as externally managed (PEP 668); the official image does
    # not, and the Dockerfile's build stage uses the base's pip.
    (rootfs / "usr/lib/python3.11/EXTERNALLY-MANAGED").unlink(missing_ok=True)
    for rel in PRUNE:
        target = rootfs / rel
        if target.is_dir():
            shutil.rmtree(target)
            target.mkdir()
    # apt needs its lists directory (the dev image installs packages from Debian).
    (rootfs / "var/lib/apt/lists/partial").mkdir(parents=True, exist_ok=True)
    (rootfs / "var/cache/apt/archives/partial").mkdir(parents=True, exist_ok=True)


def rootfs_tarball() -> Path:
    """The stand-in's root file system as a tarball, made once per recipe on this machine."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    tarball = CACHE_DIR / f"standin-python-3.11-bookworm-{recipe_digest()[:16]}.tar"
    with open(CACHE_DIR / "standin.lock", "w", encoding="ascii") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if tarball.is_file():
            return tarball
        with tempfile.TemporaryDirectory(prefix="co-standin-", dir=CACHE_DIR) as tmp:
            rootfs = Path(tmp) / "rootfs"
            _make_rootfs(rootfs)
            partial = Path(tmp) / "rootfs.tar"
            subprocess.run(
                ["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(partial), "."],
                check=True,
                capture_output=True,
                timeout=600,
            )
            partial.rename(tarball)  # atomic: a reader never sees half a tarball
    return tarball


def docker_import_changes() -> list[str]:
    """``docker import --change`` arguments that give the stand-in the base's config."""
    changes = [f"ENV {key}={value}" for key, value in ENV.items()]
    changes.append(f"CMD {CMD}")
    changes.append(f"LABEL io.cloud-optimizer.test.standin={recipe_digest()}")
    return [arg for change in changes for arg in ("--change", change)]
