"""docker/docker-compose.yml for real, as docker/README.md's "The local stack" runs it.

`docker compose up --build --wait` reaches healthy with the stand-ins of
tests/container/standins (the shipped file keeps its pinned official images); the service
runs on the Secrets Manager path and check_stack.py passes through it; the dev profile's
hot reload comes up and restarts on a change; `stop` exits 0 within the drain; `down -v`
leaves no container, volume or network behind. The module's tests share one stack, in
file order.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from service import contract
from tests.container import compose, docker_images, images
from tests.container.conftest import DockerImage
from tests.container.engine import Engine
from tests.support.net import free_port

pytestmark = [pytest.mark.container, pytest.mark.slow]

WAIT_TIMEOUT = 300
DEV_IMAGE_AIM_MB = 600
README = compose.DOCKER_DIR / "README.md"
CHECK_STACK = compose.DOCKER_DIR / "check_stack.py"
STANDIN_FILES = {str(compose.OVERRIDE), str(compose.TEST_OVERRIDE)}
DEFAULT_DB_PASSWORD = "local-only-not-a-secret"  # docker-compose.yml's ${CO_DB_PASSWORD:-...}


@dataclass
class Stack:
    project: compose.Compose
    port: int
    dev_port: int
    up_seconds: float
    commands: list[list[str]]  # what the test ran, for the README comparison

    def url(self, path: str, port: int | None = None) -> str:
        return f"http://127.0.0.1:{port or self.port}{path}"


@pytest.fixture(scope="module")
def stack(docker_engine: Engine, docker_image: DockerImage) -> Iterator[Stack]:
    """The stack up and healthy (the product image's BuildKit cache is warm already)."""
    port, dev_port = free_port(), free_port()
    project = compose.stack(docker_engine, CO_SERVICE_PORT=str(port), CO_DEV_PORT=str(dev_port))
    up = ["up", "--build", "--wait", "--wait-timeout", str(WAIT_TIMEOUT)]
    restored = compose.restore_standins(docker_engine)
    try:
        seconds, _ = project.timed(*up, timeout=1800)
        print(
            f"\n[compose] up --build --wait: healthy after {seconds:.1f} s "
            f"(stand-ins from the cache: {restored})"
        )
        yield Stack(project, port, dev_port, seconds, [project.command(*up)])
    finally:
        logs = project.run("logs", "--no-color", "--tail", "20", check=False)
        print(f"\n[compose logs]\n{logs.stdout[-6000:]}")
        project.down()
        compose.save_standins(docker_engine)


def test_up_wait_brings_every_service_to_healthy(stack: Stack) -> None:
    services = stack.project.services()
    assert set(services) == {"postgres", "redis", "aws", "aws-seed", "service"}
    for name in ("postgres", "redis", "aws", "service"):
        assert services[name]["State"] == "running", name
        assert "(healthy)" in str(services[name]["Status"]), services[name]["Status"]
    assert services["aws-seed"]["State"] == "exited"
    assert services["aws-seed"]["ExitCode"] == 0
    assert stack.up_seconds < WAIT_TIMEOUT


def test_check_stack_passes_through_the_service(stack: Stack) -> None:
    cmd = [sys.executable, str(CHECK_STACK), stack.url(""), "--expect-redis"]
    stack.commands.append(cmd)
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert "'database': 'pass'" in result.stdout
    assert "'redis': 'pass'" in result.stdout
    print(f"\n[compose] {result.stdout.strip()}")


def test_service_reads_its_database_credentials_from_secrets_manager(
    docker_engine: Engine, stack: Stack
) -> None:
    """Only the ARN reaches the container; the database accepts only the secret's password
    (scram-sha-256), so a connection proves the service read the secret."""
    info = docker_engine.inspect("container", stack.project.container_id("service"))
    assert info is not None
    env = dict(item.split("=", 1) for item in info["Config"]["Env"])
    assert env[contract.ENV_DB_SECRET_ARN].startswith("arn:aws:secretsmanager:")
    for absent in (
        contract.ENV_DATABASE_URL,
        contract.ENV_DB_HOST,
        contract.ENV_DB_USERNAME,
        contract.ENV_DB_PASSWORD,
    ):
        assert absent not in env, absent
    host = info["HostConfig"]
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"]
    assert "no-new-privileges:true" in host["SecurityOpt"]
    assert info["Config"]["User"] == f"{contract.CONTAINER_UID}:{contract.CONTAINER_GID}"
    logs = stack.project.run("logs", "--no-color", "service").stdout
    assert "step 2: resolve secrets done" in logs
    assert "step 3: wait for database done" in logs
    assert DEFAULT_DB_PASSWORD not in logs  # the secret's value is never logged


def test_dev_profile_serves_with_hot_reload_in_the_dev_image(
    docker_engine: Engine, stack: Stack
) -> None:
    """`--profile dev up service-dev`: the slim dev image serves from the mounted source and
    restarts when a watched file changes (here: a newer mtime on service/contract.py)."""
    cmd = ["--profile", "dev", "up", "--build", "--wait", "--wait-timeout", "300", "service-dev"]
    stack.commands.append(stack.project.command(*cmd))
    seconds, _ = stack.project.timed(*cmd, timeout=1800)
    size = docker_images.image_size(docker_engine, "cloud-optimizer:dev")
    print(
        f"\n[compose] dev image {size / 1e6:.1f} MB (aim < {DEV_IMAGE_AIM_MB} MB); "
        f"built and healthy in {seconds:.1f} s"
    )
    assert images.http_status(stack.url(contract.HEALTH_PATH, stack.dev_port)) == 200
    assert size < DEV_IMAGE_AIM_MB * 1_000_000

    def starts() -> int:
        logs = stack.project.run("logs", "--no-color", "service-dev").stdout
        return len(re.findall(r"cloud optimizer [\d.]+: serve\"", logs))

    assert starts() == 1
    watched = images.REPO_ROOT / "service" / "contract.py"
    later = time.time() + 2
    os.utime(watched, (later, later))  # content unchanged: only the reloader notices
    deadline = time.monotonic() + 60
    while starts() < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert starts() == 2, "no restart after a watched file changed"
    started = time.monotonic()
    while time.monotonic() - started < 60:
        if images.http_status(stack.url(contract.HEALTH_PATH, stack.dev_port)) == 200:
            break
        time.sleep(0.2)
    assert images.http_status(stack.url(contract.HEALTH_PATH, stack.dev_port)) == 200
    stack.project.run("--profile", "dev", "rm", "--stop", "--force", "service-dev")


def test_stop_drains_and_exits_0_within_the_grace_period(
    docker_engine: Engine, stack: Stack
) -> None:
    """`compose stop` gives the service its stop_grace_period; it drains (SHUTDOWN_DELAY)
    and exits 0 well before Docker would send SIGKILL."""
    container = stack.project.container_id("service")
    cmd = ["stop", "service"]
    stack.commands.append(stack.project.command(*cmd))
    seconds, _ = stack.project.timed(*cmd, timeout=contract.CONTAINER_STOP_TIMEOUT + 60)
    state = docker_images.container_state(docker_engine, container)
    print(f"\n[compose] stop service: exit {state['ExitCode']} after {seconds:.1f} s")
    assert state["ExitCode"] == 0
    assert state["OOMKilled"] is False
    assert contract.SHUTDOWN_DELAY <= seconds < contract.GRACEFUL_TIMEOUT


def test_down_volumes_leaves_no_container_volume_or_network(stack: Stack) -> None:
    assert any(stack.project.leftovers().values())  # there was something to remove
    cmd = ["down", "--volumes"]
    stack.commands.append(stack.project.command(*cmd))
    stack.project.run(*cmd)
    assert stack.project.leftovers() == {"containers": [], "volumes": [], "networks": []}


def readme_stack_commands() -> list[list[str]]:
    section = README.read_text(encoding="utf-8").split("## The local stack", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "docker/README.md's 'The local stack' has no sh block"
    commands = []
    for raw in block.group(1).splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            commands.append(shlex.split(line))
    return commands


def as_a_user_types_it(cmd: list[str], stack: Stack) -> list[str]:
    """The command without the stand-in -f files and the test's own timeouts and ports."""
    out: list[str] = []
    args = iter(cmd)
    for arg in args:
        if arg == "-f":
            path = next(args)
            if path not in STANDIN_FILES:
                out += ["-f", os.path.relpath(path, images.REPO_ROOT)]
        elif arg == "--wait-timeout":
            next(args)
        elif arg == sys.executable:
            out.append("python3")
        elif arg.startswith("/"):
            out.append(os.path.relpath(arg, images.REPO_ROOT))
        else:
            out.append(arg.replace(stack.url(""), f"http://127.0.0.1:{contract.PORT}"))
    return out


def test_readme_local_stack_commands_are_what_this_test_ran(stack: Stack) -> None:
    readme = readme_stack_commands()
    for ran in stack.commands:
        typed = as_a_user_types_it(ran, stack)
        assert typed in readme, f"{shlex.join(typed)} is not in docker/README.md: {readme}"
