"""The image for real: built with buildah on the stand-in base, run with podman (runc).

One container serves the module: read-only root file system with a tmpfs on /tmp, the
test PostgreSQL reached over the host network, DATABASE_URL and PORT only. The tests
read it in file order and the last one stops it.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from service import contract
from tests.container import image_probes, images
from tests.support.net import free_port

pytestmark = [pytest.mark.container, pytest.mark.slow]

STARTUP_LIMIT = images.STARTUP_LIMIT
HEALTH_AIM = 5.0
MB = 1_000_000
SIZE_LIMIT_MB = 500  # the requirement
ADDED_LAYERS_AIM_MB = 120


@dataclass
class RunningService:
    name: str
    port: int
    health_seconds: float | None  # from `podman run`; None: no 200 within STARTUP_LIMIT
    ready_seconds: float | None
    create_seconds: float  # how much of that `podman run --detach` took (vfs copies layers)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def podman(*args: str, timeout: float = 120, check: bool = True) -> str:
    return images.run([*images.podman_cmd(), *args], timeout=timeout, check=check)


PROBES_SOURCE = Path(image_probes.__file__).read_text(encoding="utf-8")


def probe_running(name: str, probe: str) -> dict[str, Any]:
    """Run one of image_probes.py's probes in the running container."""
    out = podman("exec", name, "python", "-c", PROBES_SOURCE, probe)
    found: dict[str, Any] = json.loads(out)
    return found


def probe_image(image: str, probe: str) -> dict[str, Any]:
    """Run a probe in a throw-away container of the image, as the image's own user."""
    out = podman(
        "run",
        "--rm",
        "--network",
        "none",
        *images.RUN_DEFAULTS,
        "--entrypoint",
        "python",
        image,
        "-c",
        PROBES_SOURCE,
        probe,
    )
    found: dict[str, Any] = json.loads(out)
    return found


@pytest.fixture(scope="module")
def service(built_image: images.BuiltImage, image_database_url: str) -> Iterator[RunningService]:
    name = f"co-test-{uuid.uuid4().hex[:10]}"
    port = free_port()
    started = time.monotonic()
    images.start_service_container(
        name,
        built_image.name,
        {contract.ENV_DATABASE_URL: image_database_url, contract.ENV_PORT: str(port)},
        tmpfs="/tmp:rw,nosuid,nodev,size=64m",
        timeout=120,
    )
    created = time.monotonic() - started
    try:
        health = images.wait_for_status(
            f"http://127.0.0.1:{port}{contract.HEALTH_PATH}", 200, STARTUP_LIMIT, started
        )
        ready = images.wait_for_status(
            f"http://127.0.0.1:{port}{contract.READY_PATH}", 200, STARTUP_LIMIT, started
        )
        yield RunningService(name, port, health, ready, created)
    finally:
        images.remove_container(name, print_log_lines=30)


def test_health_answers_200_within_60_seconds(service: RunningService) -> None:
    assert service.health_seconds is not None, f"no 200 on /health in {STARTUP_LIMIT:.0f} s"
    print(
        f"\n[image] /health 200 after {service.health_seconds:.2f} s from `podman run` "
        f"(of which {service.create_seconds:.2f} s creating the container; "
        f"aim < {HEALTH_AIM:.0f} s, limit {STARTUP_LIMIT:.0f} s)"
    )
    assert service.health_seconds < STARTUP_LIMIT


def test_ready_answers_200_within_60_seconds(service: RunningService) -> None:
    assert service.ready_seconds is not None, f"no 200 on /ready in {STARTUP_LIMIT:.0f} s"
    print(f"\n[image] /ready 200 after {service.ready_seconds:.2f} s")
    with urllib.request.urlopen(service.url(contract.READY_PATH), timeout=5) as resp:
        assert resp.status == 200


def test_service_is_pid_1_running_as_uid_1000(service: RunningService) -> None:
    found = probe_running(service.name, "process_1")
    assert found["cmd"] == ["python", "-m", "service"]
    assert set(found["uid"]) == {"1000"}  # real, effective, saved and file-system uid
    assert set(found["gid"]) == {"1000"}


def test_read_only_root_works_with_a_tmpfs_on_tmp(service: RunningService) -> None:
    config = json.loads(podman("inspect", service.name))[0]
    assert config["HostConfig"]["ReadonlyRootfs"] is True
    found = probe_running(service.name, "write_probe")
    assert found["app_errno"] == found["erofs"]
    assert images.http_status(service.url(contract.READY_PATH)) == 200


def test_healthcheck_command_reports_healthy(service: RunningService) -> None:
    run = subprocess.run(
        [*images.podman_cmd(), "healthcheck", "run", service.name],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    state = json.loads(podman("inspect", service.name))[0]["State"]
    health = state.get("Health") or state.get("Healthcheck")
    assert health["Status"] == "healthy"


def test_healthcheck_command_fails_when_nothing_answers(
    service: RunningService, built_image: images.BuiltImage
) -> None:
    """The same command, pointed at a port where nothing listens, must report unhealthy."""
    info = images.inspect_image(built_image.name)
    assert info is not None
    test = info["Healthcheck"]["Test"]  # type: ignore[index]
    assert test[0] == "CMD"
    run = subprocess.run(
        [
            *images.podman_cmd(),
            "exec",
            "-e",
            f"{contract.ENV_PORT}={free_port()}",
            service.name,
            *test[1:],
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode != 0


def test_stop_drains_then_exits_0_within_the_grace_period(service: RunningService) -> None:
    """SIGTERM reaches PID 1: /ready turns 503 at once, then a clean exit before SIGKILL."""
    assert images.http_status(service.url(contract.READY_PATH)) == 200
    started = time.monotonic()
    stop = subprocess.Popen(
        [
            *images.podman_cmd(),
            "stop",
            "--time",
            str(contract.CONTAINER_STOP_TIMEOUT),
            service.name,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    draining = images.wait_for_status(
        service.url(contract.READY_PATH), 503, contract.SHUTDOWN_DELAY, started
    )
    health_while_draining = images.http_status(service.url(contract.HEALTH_PATH))
    stop.communicate(timeout=contract.CONTAINER_STOP_TIMEOUT + 30)
    elapsed = time.monotonic() - started
    state = json.loads(podman("inspect", service.name))[0]["State"]
    print(
        f"\n[image] podman stop: exit {state['ExitCode']} after {elapsed:.1f} s "
        f"(drain {contract.SHUTDOWN_DELAY} s, grace {contract.GRACEFUL_TIMEOUT} s)"
    )
    assert draining is not None, "/ready did not turn 503 after SIGTERM"
    assert health_while_draining == 200
    assert stop.returncode == 0
    assert state["ExitCode"] == 0
    assert elapsed < contract.GRACEFUL_TIMEOUT


def test_runtime_user_owns_nothing_and_can_write_only_tmp(
    built_image: images.BuiltImage,
) -> None:
    found = probe_image(built_image.name, "ownership")
    assert image_probes.problems("ownership", found) == []
    assert found["writable"] == ["/tmp"]


def test_runtime_has_no_build_tools_or_pip_caches(built_image: images.BuiltImage) -> None:
    found = probe_image(built_image.name, "build_leftovers")
    assert image_probes.problems("build_leftovers", found) == []
    assert found == {"tools": [], "modules": [], "caches": []}


def test_every_module_is_byte_compiled_at_build_time(built_image: images.BuiltImage) -> None:
    """Each .py has a pyc whose source hash matches, so nothing is compiled at run time."""
    found = probe_image(built_image.name, "bytecode")
    assert image_probes.problems("bytecode", found) == []


def test_image_carries_service_migrations_and_knowledge_base(
    built_image: images.BuiltImage,
) -> None:
    found = probe_image(built_image.name, "contents")
    assert image_probes.problems("contents", found) == []


def test_oci_labels_name_the_version(built_image: images.BuiltImage) -> None:
    info = images.inspect_image(built_image.name)
    assert info is not None
    labels = info["Labels"]
    assert isinstance(labels, dict)
    assert labels["org.opencontainers.image.title"] == contract.APP_NAME
    assert labels["org.opencontainers.image.version"] == contract.VERSION
    for key in ("description", "revision", "created", "vendor", "licenses"):
        assert labels.get(f"org.opencontainers.image.{key}"), key


def test_image_size_total_and_added_layers(built_image: images.BuiltImage) -> None:
    total = images.image_size(built_image.name)
    added = total - images.image_size(built_image.base)
    print(
        f"\n[image] size: total {total / MB:.1f} MB (limit {SIZE_LIMIT_MB} MB), "
        f"added layers {added / MB:.1f} MB (aim < {ADDED_LAYERS_AIM_MB} MB)"
    )
    assert total < SIZE_LIMIT_MB * MB
    assert added < ADDED_LAYERS_AIM_MB * MB
