"""`docker compose` (v2) on the shipped stacks, with the stand-ins of tests/container/standins.

The shipped compose files keep their digest-pinned official images; on a machine that cannot
pull from a registry, the override files in tests/container/standins substitute images built
from Debian's and PyPI's packages. The commands the tests run are the ones docker/README.md
gives a user, with those ``-f`` files added.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.container import docker_images, image_cache, standin
from tests.container.engine import Engine
from tests.container.images import REPO_ROOT

DOCKER_DIR = REPO_ROOT / "docker"
STANDINS = REPO_ROOT / "tests" / "container" / "standins"
COMPOSE = DOCKER_DIR / "docker-compose.yml"
COMPOSE_TEST = DOCKER_DIR / "docker-compose.test.yml"
OVERRIDE = STANDINS / "compose.override.yml"
TEST_OVERRIDE = STANDINS / "compose.test.override.yml"
PROJECT = "cloud-optimizer"  # the shipped files' `name:`
# The override's stand-in images, kept between runs (image_cache.py).
STANDIN_IMAGES = (
    "co-standin/postgres:15-bookworm",
    "co-standin/redis:7-bookworm",
    "co-standin/moto:5.2.5",
    "cloud-optimizer:dev",  # not a stand-in, but as slow to build from nothing
)


@dataclass
class Compose:
    """One compose project (files, environment) on a private engine."""

    engine: Engine
    files: Sequence[Path]
    env: Mapping[str, str] = field(default_factory=dict)
    project: str | None = None  # None: the files' own `name:`

    def command(self, *args: str) -> list[str]:
        name = ["--project-name", self.project] if self.project else []
        files = [a for f in self.files for a in ("-f", str(f))]
        return ["docker", "compose", *name, *files, *args]

    def environment(self) -> dict[str, str]:
        ca = docker_images.HOST_CA_BUNDLE
        return self.engine.env(
            {
                "CO_STANDIN_BASE": standin.DOCKER_IMAGE,
                **({"CO_PIP_CA": str(ca)} if ca.is_file() else {}),
                **self.env,
            }
        )

    def run(
        self, *args: str, timeout: float = 900, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            self.command(*args),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=self.environment(),
            cwd=REPO_ROOT,
        )
        if check and proc.returncode != 0:
            raise RuntimeError(
                f"{' '.join(self.command(*args))} exited {proc.returncode}\n--- stdout\n"
                f"{proc.stdout[-6000:]}\n--- stderr\n{proc.stderr[-6000:]}"
            )
        return proc

    def timed(
        self, *args: str, timeout: float = 900
    ) -> tuple[float, subprocess.CompletedProcess[str]]:
        started = time.monotonic()
        proc = self.run(*args, timeout=timeout)
        return time.monotonic() - started, proc

    def services(self) -> dict[str, dict[str, object]]:
        """``compose ps --all``: each service's container state (one container each here)."""
        out = self.run("ps", "--all", "--format", "json").stdout
        rows: list[dict[str, object]] = []
        for raw in out.splitlines():  # one JSON object per line (v2.21+), or one array
            line = raw.strip()
            if not line:
                continue
            parsed = json.loads(line)
            rows.extend(parsed if isinstance(parsed, list) else [parsed])
        return {str(row["Service"]): row for row in rows}

    def container_id(self, service: str) -> str:
        return self.run("ps", "--all", "--quiet", service).stdout.strip()

    def down(self) -> None:
        self.run("down", "--volumes", "--remove-orphans", "--timeout", "5", check=False)

    def leftovers(self) -> dict[str, list[str]]:
        """Containers, volumes and networks of the project that still exist."""
        label = f"label=com.docker.compose.project={self.project or PROJECT}"
        found = {}
        for kind, args in (
            ("containers", ("ps", "--all", "--quiet", "--filter", label)),
            ("volumes", ("volume", "ls", "--quiet", "--filter", label)),
            ("networks", ("network", "ls", "--quiet", "--filter", label)),
        ):
            found[kind] = self.engine.docker(*args).stdout.split()
        return found


def stack(engine: Engine, **env: str) -> Compose:
    """The local stack (docker-compose.yml) with the stand-ins."""
    return Compose(engine, (COMPOSE, OVERRIDE), env)


def test_stack(engine: Engine, **env: str) -> Compose:
    """The integration test stack (docker-compose.test.yml on top) with the stand-ins."""
    return Compose(engine, (COMPOSE, COMPOSE_TEST, OVERRIDE, TEST_OVERRIDE), env)


def restore_standins(engine: Engine) -> list[str]:
    """Load the stand-ins kept by an earlier run (their inline cache makes `--build` quick)."""
    return [
        tag
        for tag in STANDIN_IMAGES
        if engine.inspect("image", tag) or image_cache.restore(engine, tag)
    ]


def save_standins(engine: Engine) -> None:
    for tag in STANDIN_IMAGES:
        image_cache.save(engine, tag)
