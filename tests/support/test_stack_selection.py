"""What the integration test stack does not run, and why: a pytest plugin, loaded by
docker/docker-compose.test.yml's command (``-p tests.support.test_stack_selection``).

Inside the stack's container there is no Docker engine (the tests run as uid 1000 in an
unprivileged container, where dockerd cannot start), no buildah and no podman. The tests
that need them are deselected there, each counted by pytest as deselected, never as passed
or skipped, and listed with the reason at the end of the run; ``bash scripts/dev.sh test``
runs all of them on the host. A test is deselected when it asks for one of the fixtures
below, or is named in ``NEEDS_HOST_TESTS``; tests/container/test_compose_test_stack.py
checks that this selects exactly the tests that start an engine, build with buildah or
play pods with podman.
"""

from __future__ import annotations

import pytest

#: Fixture -> why a test that asks for it cannot run inside the test stack.
NEEDS_HOST_FIXTURES = {
    "docker_engine": "starts a Docker engine (dockerd) of its own, which the container cannot run",
    "container_tools": "builds with buildah and runs with podman, which the container lacks",
    "play": "runs the chart's pods with podman kube play, which the container lacks",
}
#: Node id -> why; tests that start an engine without the fixture.
_ENGINE_TEST = "tests/container/test_engine.py::test_stop_in_background_removes_the_engine_"
NEEDS_HOST_TESTS = {
    _ENGINE_TEST + "and_stop_waits_for_it": (
        "starts and stops a Docker engine (dockerd), which the container cannot run"
    ),
}


def reason_to_deselect(item: pytest.Item) -> str | None:
    if item.nodeid in NEEDS_HOST_TESTS:
        return NEEDS_HOST_TESTS[item.nodeid]
    for fixture in getattr(item, "fixturenames", ()):
        if fixture in NEEDS_HOST_FIXTURES:
            return NEEDS_HOST_FIXTURES[fixture]
    return None


_DESELECTED: dict[str, list[str]] = {}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    kept: list[pytest.Item] = []
    deselected: list[pytest.Item] = []
    _DESELECTED.clear()
    for item in items:
        reason = reason_to_deselect(item)
        if reason is None:
            kept.append(item)
        else:
            deselected.append(item)
            _DESELECTED.setdefault(reason, []).append(item.nodeid)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _DESELECTED:
        return
    terminalreporter.section("deselected in the test stack (run on the host)")
    for reason, nodeids in _DESELECTED.items():
        terminalreporter.write_line(f"{len(nodeids)} test(s): {reason}")
        for nodeid in nodeids:
            terminalreporter.write_line(f"  {nodeid}")
