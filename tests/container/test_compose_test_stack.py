"""docker/docker-compose.test.yml for real: the integration test stack's whole run passes
inside its containers, exactly as the container workflow's step runs it.

The stack (PostgreSQL, Redis, the Secrets Manager emulator and the service, with the
stand-ins of tests/container/standins) comes up, the ``tests`` service waits for the
service through check_stack.py and then runs the service's tests in the test-stack image
against the stack's PostgreSQL and Redis. Its image (the whole dev lock) is kept between
runs on a machine by tests/container/image_cache.py; BuildKit still rebuilds whatever
changed.
"""

from __future__ import annotations

import re
import time

import pytest
import yaml

from tests.container import compose, image_cache, images
from tests.container.conftest import DockerImage
from tests.container.engine import Engine
from tests.support.net import free_port

pytestmark = [pytest.mark.container, pytest.mark.slow]

WORKFLOW = images.REPO_ROOT / ".github" / "workflows" / "container.yml"
RUN_TESTS = ("run", "--rm", "--build", "tests")
CACHED_IMAGES = ("cloud-optimizer:test-stack", *compose.STANDIN_IMAGES)
SUMMARY = re.compile(r"^=*\s*(\d+ passed.*?) in [\d.]+s", re.M)


def test_integration_test_stack_run_passes_inside_its_containers(
    docker_engine: Engine, docker_image: DockerImage
) -> None:
    restored = [
        tag
        for tag in CACHED_IMAGES
        if docker_engine.inspect("image", tag) is None and image_cache.restore(docker_engine, tag)
    ]
    project = compose.test_stack(docker_engine, CO_SERVICE_PORT=str(free_port()))
    started = time.monotonic()
    try:
        run = project.run(*RUN_TESTS, timeout=3600, check=False)
        seconds = time.monotonic() - started
        output = run.stdout + run.stderr
        summary = SUMMARY.search(output)
        size = docker_engine.inspect("image", "cloud-optimizer:test-stack")
        print(
            f"\n[test stack] run --rm --build tests: exit {run.returncode} after {seconds:.0f} s "
            f"({summary.group(1) if summary else 'no pytest summary'}); image "
            f"{(size or {}).get('Size', 0) / 1e6:.0f} MB; restored from the cache: {restored}"
        )
        assert run.returncode == 0, output[-8000:]
        assert "check_stack: ready" in output
        assert summary, output[-3000:]
        assert "failed" not in summary.group(1)
        assert "error" not in summary.group(1)
        assert int(summary.group(1).split()[0]) > 200
    finally:
        for tag in CACHED_IMAGES:
            image_cache.save(docker_engine, tag)
        project.down()


def test_ci_workflow_runs_the_test_stack_as_this_test_does() -> None:
    steps = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))["jobs"]["image"]["steps"]
    runs = [str(step.get("run", "")).strip() for step in steps]
    assert f"$COMPOSE_TEST {' '.join(RUN_TESTS)}" in runs
    env = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))["env"]
    files = [str(f.relative_to(images.REPO_ROOT)) for f in (compose.COMPOSE, compose.COMPOSE_TEST)]
    assert env["COMPOSE_TEST"] == "docker compose " + " ".join(f"-f {f}" for f in files)
