"""docker/docker-compose.test.yml for real: the integration test stack's run passes inside
its containers, with the command the container workflow's step runs.

The stack (PostgreSQL, Redis, the Secrets Manager emulator and the service, with the
stand-ins of tests/container/standins) comes up, the ``tests`` service waits for the
service through check_stack.py and then runs pytest in the test-stack image, on the suite's
own PostgreSQL and the stack's Redis (the selection below; CO_TEST_STACK_ARGS=tests runs
everything). Its image (the whole dev lock) is kept between runs on a machine by
tests/container/image_cache.py; BuildKit still rebuilds whatever changed.
"""

from __future__ import annotations

import os
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
# The whole suite takes as long in the stack as on the host (measured here: 672 passed in
# 17 min on a loaded machine), too long to run twice in `scripts/dev.sh test`. The suite runs
# the stack with the tests that depend on what differs inside it: the image's tools (aws CLI,
# trivy, checkov, hadolint, actionlint), PostgreSQL's binaries, the suite's trust-auth
# server, the stack's Redis. CO_TEST_STACK_ARGS=tests runs all of it, as the workflow does.
IN_SUITE_SELECTION = " ".join(
    (
        "tests/test_harness.py",
        "tests/service/test_app.py",
        "tests/service/test_commands.py",
        "tests/service/test_secrets.py",
        "tests/e2e/test_cli_and_wiring.py::test_cli_packages_the_relative_build_and_deploys_it",
        "tests/helm/test_workflow.py",
        "tests/container/test_scanners.py",
    )
)
SUMMARY = re.compile(r"^=*\s*(\d+ passed.*?) in [\d.]+s", re.M)


def test_integration_test_stack_run_passes_inside_its_containers(
    docker_engine: Engine, docker_image: DockerImage
) -> None:
    restored = [
        tag
        for tag in CACHED_IMAGES
        if docker_engine.inspect("image", tag) is None and image_cache.restore(docker_engine, tag)
    ]
    selection = os.environ.get("CO_TEST_STACK_ARGS", IN_SUITE_SELECTION)
    project = compose.test_stack(
        docker_engine, CO_SERVICE_PORT=str(free_port()), CO_TEST_ARGS=selection
    )
    started = time.monotonic()
    try:
        run = project.run(*RUN_TESTS, timeout=3600, check=False)
        seconds = time.monotonic() - started
        output = run.stdout + run.stderr
        summary = SUMMARY.search(output)
        size = docker_engine.inspect("image", "cloud-optimizer:test-stack")
        print(
            f"\n[test stack] run --rm --build tests ({selection}): exit {run.returncode} "
            f"after {seconds:.0f} s "
            f"({summary.group(1) if summary else 'no pytest summary'}); image "
            f"{(size or {}).get('Size', 0) / 1e6:.0f} MB; restored from the cache: {restored}"
        )
        assert run.returncode == 0, output[-8000:]
        assert "check_stack: ready" in output
        assert summary, output[-3000:]
        assert "failed" not in summary.group(1)
        assert "error" not in summary.group(1)
        assert int(summary.group(1).split()[0]) > 50
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
