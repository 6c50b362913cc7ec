"""Build and run the image with the real Docker engine: BuildKit (docker buildx) and docker run.

Everything here talks to a private engine (tests/container/engine.py). The official base is
replaced by the Debian stand-in (tests/container/standin.py) through the Dockerfile's
``PYTHON_IMAGE`` build argument, and HTTPS to the package index goes through this machine's
TLS-intercepting proxy, so the host's CA bundle reaches pip as the BuildKit secret
``pip-ca``, the way docker/README.md tells a user behind such a proxy to build.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.container import image_cache, image_probes, standin
from tests.container.engine import Engine
from tests.container.images import DOCKERFILE, REPO_ROOT

DOCKERFILE_DEV = REPO_ROOT / "docker" / "Dockerfile.dev"
IMAGE = "cloud-optimizer:test"
PIP_CA_SECRET = "pip-ca"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# Every container a test or benchmark starts carries this label (the engine is private and
# removed after the run, but a module's teardown still removes its own).
CONTAINER_LABEL = "io.cloud-optimizer.test.container=1"
PROBES_SOURCE = Path(image_probes.__file__).read_text(encoding="utf-8")


def ensure_standin(engine: Engine) -> str:
    """The stand-in base in this engine's store (imported from the cached tarball)."""
    if engine.inspect("image", standin.DOCKER_IMAGE) is None:
        engine.docker(
            "import",
            *standin.docker_import_changes(),
            str(standin.rootfs_tarball()),
            standin.DOCKER_IMAGE,
            timeout=600,
        )
    return standin.DOCKER_IMAGE


@dataclass(frozen=True)
class Build:
    tag: str
    seconds: float
    log: str  # BuildKit's plain progress output


def build_command(
    tag: str,
    *,
    dockerfile: Path = DOCKERFILE,
    context: Path = REPO_ROOT,
    target: str | None = None,
    build_args: Mapping[str, str] | None = None,
    ca_bundle: Path | None = HOST_CA_BUNDLE,
    no_cache: bool = False,
) -> list[str]:
    """``docker buildx build`` of one of our Dockerfiles on the stand-in base."""
    cmd = [
        "buildx",
        "build",
        "--progress=plain",
        # The private engine's default network has no route out (--bridge=none).
        "--network=host",
        "--load",
        "--file",
        str(dockerfile),
        "--tag",
        tag,
        "--build-arg",
        f"PYTHON_IMAGE={standin.DOCKER_IMAGE}",
    ]
    for key, value in (build_args or {}).items():
        cmd += ["--build-arg", f"{key}={value}"]
    if ca_bundle is not None and ca_bundle.is_file():
        cmd += ["--secret", f"id={PIP_CA_SECRET},src={ca_bundle}"]
    if target:
        cmd += ["--target", target]
    if no_cache:
        cmd.append("--no-cache")
    return [*cmd, str(context)]


def build(engine: Engine, tag: str = IMAGE, **options: object) -> Build:
    """Build with BuildKit and return the time it took and its log; raise when it fails."""
    ensure_standin(engine)
    cmd = build_command(tag, **options)  # type: ignore[arg-type]
    started = time.monotonic()
    proc = engine.docker(*cmd, timeout=1800, check=False)
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        raise BuildFailed(proc.returncode, proc.stdout + proc.stderr)
    return Build(tag, seconds, proc.stdout + proc.stderr)


class BuildFailed(Exception):
    def __init__(self, returncode: int, log: str) -> None:
        super().__init__(f"docker buildx build exited {returncode}\n{log[-6000:]}")
        self.returncode = returncode
        self.log = log


def image_info(engine: Engine, name: str) -> dict[str, Any]:
    info = engine.inspect("image", name)
    assert info is not None, f"no image {name}"
    return info


def image_size(engine: Engine, name: str) -> int:
    """Uncompressed size in bytes, all layers (what ``docker images`` shows)."""
    size = image_info(engine, name)["Size"]
    assert isinstance(size, int)
    return size


def image_config(engine: Engine, name: str) -> dict[str, Any]:
    config = image_info(engine, name)["Config"]
    assert isinstance(config, dict)
    return config


def env_args(env: Mapping[str, str]) -> list[str]:
    return [arg for key, value in env.items() for arg in ("--env", f"{key}={value}")]


def run_detached(
    engine: Engine,
    name: str,
    image: str,
    env: Mapping[str, str],
    *,
    options: Sequence[str] = ("--read-only", "--tmpfs", "/tmp"),
    command: Sequence[str] = (),
) -> float:
    """``docker run --detach`` on the host network with ``env`` only; returns its seconds."""
    started = time.monotonic()
    engine.docker(
        "run",
        "--detach",
        "--name",
        name,
        "--label",
        CONTAINER_LABEL,
        "--network",
        "host",
        *options,
        *env_args(env),
        image,
        *command,
        timeout=300,
    )
    return time.monotonic() - started


def container_state(engine: Engine, name: str) -> dict[str, Any]:
    info = engine.inspect("container", name)
    assert info is not None, f"no container {name}"
    state = info["State"]
    assert isinstance(state, dict)
    return state


def wait_for_health(engine: Engine, name: str, want: str, limit: float) -> float | None:
    """Seconds until Docker's own health status of ``name`` is ``want``, or None."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        health = container_state(engine, name).get("Health")
        if isinstance(health, dict) and health.get("Status") == want:
            return time.monotonic() - started
        time.sleep(0.2)
    return None


def remove_container(engine: Engine, name: str, *, print_log_lines: int = 0) -> None:
    """Remove a container, running or not; first print its last log lines when asked."""
    if print_log_lines:
        logs = engine.docker("logs", "--tail", str(print_log_lines), name, check=False)
        print(f"\n[container {name} last log lines]\n{logs.stdout}{logs.stderr}")
    engine.docker("rm", "--force", "--volumes", name, check=False)


def exec_json(engine: Engine, name: str, *argv: str) -> dict[str, Any]:
    out = engine.docker("exec", name, *argv).stdout
    found: dict[str, Any] = json.loads(out)
    return found


def saved_layers(engine: Engine, image: str, target: Path) -> list[Path]:
    """``docker save`` the image and unpack it; return each layer's tarball."""
    target.mkdir(parents=True, exist_ok=True)
    archive = target / "image.tar"
    with archive.open("wb") as out:
        subprocess.run(
            ["docker", "save", image],
            stdout=out,
            check=True,
            env=engine.env(),
            timeout=600,
        )
    subprocess.run(["tar", "-C", str(target), "-xf", str(archive)], check=True, timeout=600)
    archive.unlink()
    manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    return [target / layer for layer in manifest[0]["Layers"]]


def run_probe(engine: Engine, image: str, probe: str) -> dict[str, Any]:
    """Run one of image_probes.py's probes in a throw-away container, as the image's user."""
    out = engine.docker(
        "run",
        "--rm",
        "--network",
        "none",
        "--label",
        CONTAINER_LABEL,
        "--entrypoint",
        "python",
        image,
        "-c",
        PROBES_SOURCE,
        probe,
        timeout=300,
    ).stdout
    found: dict[str, Any] = json.loads(out)
    return found


def popen_docker(engine: Engine, *args: str) -> subprocess.Popen[str]:
    """``docker ARGS`` started in the background (e.g. a stop the test watches happen)."""
    return subprocess.Popen(
        ["docker", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=engine.env(),
    )


STANDIN_POSTGRES = "co-standin/postgres:15-bookworm"  # the compose override's name for it


def ensure_standin_postgres(engine: Engine) -> str:
    """The PostgreSQL stand-in image (tests/container/standins/postgres) in this engine."""
    if engine.inspect("image", STANDIN_POSTGRES) is None and not image_cache.restore(
        engine, STANDIN_POSTGRES
    ):
        context = REPO_ROOT / "tests" / "container" / "standins" / "postgres"
        build(
            engine,
            STANDIN_POSTGRES,
            dockerfile=context / "Dockerfile",
            context=context,
            build_args={"BASE": standin.DOCKER_IMAGE},
        )
    return STANDIN_POSTGRES
