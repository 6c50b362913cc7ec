"""The image with buildah and podman, and what the Docker and podman tests share.

The suite builds and runs the image with the real Docker engine (docker_images.py). buildah
and podman remain for what only they do here: proving that docker/Dockerfile is not tied
to BuildKit (the same file, its secret mount included, builds with buildah), and holding the
image in the store that ``podman kube play`` runs the chart's pods from. The base is the
Debian stand-in of standin.py, committed under a local name; both images carry a label with
the hash of their inputs, so a test run reuses them while nothing they are made from has
changed.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.container import standin

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO_ROOT / "docker" / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"

# Every input of the image: the Dockerfile, its ignore file and what .dockerignore lets in.
# tests/container/test_dockerfile.py checks that this list and .dockerignore agree.
IMAGE_INPUTS = (
    "requirements/runtime.txt",
    "service",
    "migrations",
    "compliance",
    "docs/operations.md",
    "docker/certs/rds-global-bundle.pem",
    "docker/slim_site_packages.py",
)

REQUIRED_TOOLS = ("buildah", "podman", "runc", "debootstrap")
# The tests' own image store, apart from anything else on the machine that uses podman.
# overlay creates a container in a fraction of a second; vfs copies every layer for each
# container (seconds per start on a busy 2-core machine) but works without kernel overlay
# mounts, in any container or VM. CO_CONTAINER_STORAGE=vfs|overlay forces one.
STORAGE_ROOT = Path("/var/lib/containers/cloud-optimizer-tests")
RUN_ROOT = Path("/run/containers/cloud-optimizer-tests")
# crun fails here on rlimits and cgroups; runc works.
RUNTIME = "runc"
# The container inherits the runner's limits otherwise, which podman cannot always raise.
RUN_LIMITS = ("--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024")
# Every container a test or benchmark starts carries this label, so that containers left
# behind by an interrupted run can be found and removed by the next one.
CONTAINER_LABEL = "io.cloud-optimizer.test.container=1"
RUN_DEFAULTS = ("--label", CONTAINER_LABEL, *RUN_LIMITS)

STARTUP_LIMIT = 60.0  # seconds: the bound for /health and /ready


def overlay_mounts_work() -> bool:
    """Whether this kernel lets us mount an overlay file system here (needs root)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    with tempfile.TemporaryDirectory(prefix="co-overlay-probe-") as tmp:
        dirs = {name: Path(tmp) / name for name in ("lower", "upper", "work", "merged")}
        for path in dirs.values():
            path.mkdir()
        options = f"lowerdir={dirs['lower']},upperdir={dirs['upper']},workdir={dirs['work']}"
        mounted = subprocess.run(
            ["mount", "-t", "overlay", "overlay", "-o", options, str(dirs["merged"])],
            capture_output=True,
            check=False,
        )
        if mounted.returncode != 0:
            return False
        subprocess.run(["umount", str(dirs["merged"])], capture_output=True, check=False)
        return True


@functools.cache
def storage_driver() -> str:
    forced = os.environ.get("CO_CONTAINER_STORAGE")
    if forced in ("vfs", "overlay"):
        return forced
    return "overlay" if overlay_mounts_work() else "vfs"


def storage_args() -> tuple[str, ...]:
    driver = storage_driver()
    if os.geteuid() != 0:  # rootless: the user's own default store
        return ("--storage-driver", driver)
    return (
        "--storage-driver",
        driver,
        "--root",
        str(STORAGE_ROOT / driver),
        "--runroot",
        str(RUN_ROOT / driver),
    )


def buildah_cmd() -> tuple[str, ...]:
    return ("buildah", *storage_args())


def podman_cmd() -> tuple[str, ...]:
    return ("podman", *storage_args(), "--runtime", RUNTIME)


STANDIN_BASE = standin.IMAGE
IMAGE = "localhost/cloud-optimizer:test"
INPUTS_LABEL = "io.cloud-optimizer.test.inputs"
# HTTPS to the package index may go through a proxy with its own CA: the host's bundle
# reaches pip as the build secret the Dockerfile mounts for its pip step only.
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
PIP_CA_SECRET = "pip-ca"


def missing_tools() -> list[str]:
    """The tools a real build and run need that are not on PATH."""
    return [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]


def run(cmd: Sequence[str], *, timeout: float = 600, check: bool = True) -> str:
    """Run a command; return its stdout; on failure raise with its output attached."""
    proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} exited {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}"
            f"\n--- stderr\n{proc.stderr[-4000:]}"
        )
    return proc.stdout


def inspect_image(name: str) -> dict[str, object] | None:
    """podman's view of a local image, or None when there is none by that name."""
    proc = subprocess.run(
        [*podman_cmd(), "image", "inspect", name], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        return None
    found: list[dict[str, object]] = json.loads(proc.stdout)
    return found[0] if found else None


def image_label(name: str, label: str) -> str | None:
    info = inspect_image(name)
    if info is None:
        return None
    labels = info.get("Labels") or {}
    assert isinstance(labels, dict)
    value = labels.get(label)
    return str(value) if value is not None else None


def image_size(name: str) -> int:
    """Uncompressed size of the image in bytes, all layers (what `docker images` shows)."""
    info = inspect_image(name)
    assert info is not None, f"no image {name}"
    size = info["Size"]
    assert isinstance(size, int)
    return size


def _hash_files(paths: Iterable[Path], digest: hashlib._Hash) -> None:
    for path in sorted(paths):
        if "__pycache__" in path.parts or path.suffix == ".pyc" or not path.is_file():
            continue
        digest.update(str(path.relative_to(REPO_ROOT)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
        digest.update(oct(path.stat().st_mode & 0o777).encode())


def image_inputs_digest(base_id: str) -> str:
    """A hash of everything the image is built from: base, Dockerfile and context."""
    digest = hashlib.sha256(base_id.encode() + b"\0")
    files = [DOCKERFILE, DOCKERIGNORE]
    for name in IMAGE_INPUTS:
        path = REPO_ROOT / name
        files.extend(path.rglob("*") if path.is_dir() else [path])
    _hash_files(files, digest)
    return digest.hexdigest()


def ensure_standin_base() -> str:
    """The stand-in for python:3.11-slim in buildah's store, once per recipe; its image id."""
    recipe = standin.recipe_digest()
    if image_label(STANDIN_BASE, INPUTS_LABEL) != recipe:
        tarball = standin.rootfs_tarball()
        container = run([*buildah_cmd(), "from", "scratch"]).strip()
        try:
            mountpoint = run([*buildah_cmd(), "mount", container]).strip()
            run(["tar", "--numeric-owner", "-C", mountpoint, "-xf", str(tarball)])
            run([*buildah_cmd(), "unmount", container])
            config = [f"--env={key}={value}" for key, value in standin.ENV.items()]
            run(
                [
                    *buildah_cmd(),
                    "config",
                    *config,
                    "--cmd",
                    standin.CMD,
                    "--label",
                    f"{INPUTS_LABEL}={recipe}",
                    container,
                ]
            )
            run([*buildah_cmd(), "commit", "--format", "docker", "--rm", container, STANDIN_BASE])
        except BaseException:
            run([*buildah_cmd(), "rm", container], check=False)
            raise
    info = inspect_image(STANDIN_BASE)
    assert info is not None
    return str(info["Id"])


@dataclass(frozen=True)
class BuiltImage:
    name: str
    base: str
    build_seconds: float | None  # None: reused from an earlier run with the same inputs
    log: str = ""  # the build's output when it ran in this call


def build_command(base: str, inputs: str, tag: str = IMAGE) -> list[str]:
    """The buildah command that builds docker/Dockerfile on the stand-in base."""
    cmd = [
        *buildah_cmd(),
        "bud",
        "--pull=never",
        "--isolation",
        "chroot",
        # Docker's image format: OCI images cannot carry a HEALTHCHECK.
        "--format",
        "docker",
        "--build-arg",
        f"PYTHON_IMAGE={base}",
        "--label",
        f"{INPUTS_LABEL}={inputs}",
        "-f",
        str(DOCKERFILE),
        "-t",
        tag,
    ]
    if HOST_CA_BUNDLE.is_file():
        cmd += ["--secret", f"id={PIP_CA_SECRET},src={HOST_CA_BUNDLE}"]
    return [*cmd, str(REPO_ROOT)]


def ensure_image() -> BuiltImage:
    """The image built from the working tree, rebuilt only when an input changed."""
    base_id = ensure_standin_base()
    inputs = image_inputs_digest(base_id)
    if image_label(IMAGE, INPUTS_LABEL) == inputs:
        return BuiltImage(IMAGE, STANDIN_BASE, None)
    started = time.monotonic()
    log = run(build_command(STANDIN_BASE, inputs), timeout=1800)
    elapsed = time.monotonic() - started
    # Each rebuild leaves the previous image dangling; vfs keeps full copies of them.
    run([*podman_cmd(), "image", "prune", "--force"], check=False)
    return BuiltImage(IMAGE, STANDIN_BASE, elapsed, log)


def http_status(url: str, timeout: float = 2.0) -> int | None:
    """The HTTP status of a GET, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (OSError, TimeoutError):
        return None


def wait_for_status(url: str, want: int, limit: float, started: float) -> float | None:
    """Seconds from ``started`` until ``url`` answered ``want``, or None after ``limit``."""
    while time.monotonic() - started < limit:
        if http_status(url, timeout=1.0) == want:
            return time.monotonic() - started
        time.sleep(0.05)
    return None


def start_service_container(
    name: str, image: str, env: Mapping[str, str], *, tmpfs: str = "/tmp", timeout: float = 600
) -> None:
    """``podman run --detach`` the service as deployed: on the host network, with the test
    containers' label and limits, a read-only root with a tmpfs on /tmp, and ``env`` only."""
    run(
        [
            *podman_cmd(),
            "run",
            "--detach",
            "--name",
            name,
            "--network",
            "host",
            *RUN_DEFAULTS,
            "--read-only",
            "--tmpfs",
            tmpfs,
            *[arg for key, value in env.items() for arg in ("-e", f"{key}={value}")],
            image,
        ],
        timeout=timeout,
    )


def remove_container(name: str, *, print_log_lines: int = 0) -> None:
    """Remove a container, running or not, without a grace period; first print its last
    ``print_log_lines`` log lines when asked (for the test output)."""
    if print_log_lines:
        logs = subprocess.run(
            [*podman_cmd(), "logs", "--tail", str(print_log_lines), name],
            capture_output=True,
            text=True,
            check=False,
        )
        print(f"\n[container {name} last log lines]\n{logs.stdout}{logs.stderr}")
    subprocess.run(
        [*podman_cmd(), "rm", "--force", "--time", "0", name], capture_output=True, check=False
    )


def remove_leftover_containers() -> None:
    """Remove stopped containers of earlier, interrupted runs (vfs keeps a full copy each)."""
    for status in ("exited", "created"):
        ids = run(
            [
                *podman_cmd(),
                "ps",
                "--all",
                "--quiet",
                "--filter",
                f"label={CONTAINER_LABEL}",
                "--filter",
                f"status={status}",
            ],
            check=False,
        ).split()
        if ids:
            run([*podman_cmd(), "rm", "--force", *ids], check=False)
