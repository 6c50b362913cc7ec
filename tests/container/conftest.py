"""Fixtures for the image tests: a private Docker engine, the built image, a database for it.

The real build and run need the Docker engine (docker.io, with the buildx and Compose v2
plugins) and, for the buildah build and the chart's pods, buildah, podman, runc and
debootstrap. Where they are absent those tests skip and say so (``bash scripts/dev.sh
test`` installs all of them); everywhere else a failure to build or start is a failure,
never a skip.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.container import docker_images, engine, images, standin
from tests.support.pg import scratch_database


@pytest.fixture(scope="session")
def container_tools() -> None:
    """buildah, podman, runc and debootstrap (the second builder, and podman kube play)."""
    missing = images.missing_tools()
    if missing:
        pytest.skip(
            f"no {', '.join(missing)} on this machine: the image cannot be built or run here "
            "(scripts/dev.sh test installs them with apt)"
        )


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[engine.Engine]:
    """A dockerd of this test run's own, stopped and removed when the session ends."""
    missing = engine.missing_tools() + [t for t in ("debootstrap",) if t in images.missing_tools()]
    if missing:
        pytest.skip(
            f"no {', '.join(missing)} on this machine: no Docker engine can run here "
            "(scripts/dev.sh test installs docker.io, buildx and Compose v2)"
        )
    running = engine.start_engine()
    print(
        f"\n[engine] private dockerd ({running.storage_driver}) at {running.root} "
        f"answered after {running.started_seconds:.2f} s"
    )
    _ENGINES.append(running)
    try:
        yield running
    finally:
        waited = time.monotonic()
        running.stop()
        print(f"\n{running.report} (the session waited {time.monotonic() - waited:.1f} s)")
        _ENGINES.remove(running)


# The session's engine, and the last collected test that needs it: once that test's
# teardown is done, the engine is stopped and removed in the background while the rest of
# the suite runs (a minute of dockerd's stop and of removing the layers, off the critical
# path); the docker_engine fixture's own teardown then only waits for it.
_ENGINES: list[engine.Engine] = []
_LAST_ENGINE_USER: dict[str, str] = {}


def pytest_collection_finish(session: pytest.Session) -> None:
    users = [item.nodeid for item in session.items if "docker_engine" in _fixtures(item)]
    _LAST_ENGINE_USER.clear()
    if users:
        _LAST_ENGINE_USER["nodeid"] = users[-1]


def _fixtures(item: pytest.Item) -> list[str]:
    names = getattr(item, "fixturenames", ())
    return list(names)


@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    yield
    if item.nodeid == _LAST_ENGINE_USER.get("nodeid") and nextitem is not None:
        for running in _ENGINES:
            running.stop_in_background()


@dataclass(frozen=True)
class DockerImage:
    name: str
    base: str
    build: docker_images.Build
    ca_marker: str  # a line only the build's CA secret held (test_image_build looks for it)


@pytest.fixture(scope="session")
def docker_image(
    docker_engine: engine.Engine, tmp_path_factory: pytest.TempPathFactory
) -> DockerImage:
    """docker/Dockerfile built with BuildKit on the stand-in base, once per session.

    pip's CA reaches the build as the BuildKit secret, as docker/README.md tells a user
    behind a TLS-intercepting proxy: the host's bundle plus a comment line that exists
    nowhere else (OpenSSL and pip ignore text between PEM blocks), so that a test can show
    the secret is in none of the image's layers."""
    marker = f"co-secret-marker-{uuid.uuid4().hex}"
    bundle = tmp_path_factory.mktemp("pip-ca") / "bundle.pem"
    host = docker_images.HOST_CA_BUNDLE
    bundle.write_bytes((host.read_bytes() if host.is_file() else b"") + f"\n# {marker}\n".encode())
    build = docker_images.build(docker_engine, ca_bundle=bundle)
    base_mb = docker_images.image_size(docker_engine, standin.DOCKER_IMAGE) / 1e6
    total_mb = docker_images.image_size(docker_engine, build.tag) / 1e6
    print(
        f"\n[image] {build.tag} built with BuildKit in {build.seconds:.1f} s (no cache): "
        f"total {total_mb:.1f} MB, added layers {total_mb - base_mb:.1f} MB on the "
        f"stand-in base ({base_mb:.1f} MB)"
    )
    return DockerImage(build.tag, standin.DOCKER_IMAGE, build, marker)


@pytest.fixture(scope="module")
def image_database_url(pg_admin_url: str) -> Iterator[str]:
    """A fresh database for the containers of one test module, dropped afterwards."""
    with scratch_database(pg_admin_url, prefix="co_image") as url:
        yield url
