"""Fixtures for the service tests: environments and real service processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from service import contract
from tests.service.process import ServiceProcess, service_environment


@pytest.fixture
def service_env(database_url: str) -> dict[str, str]:
    """The local form: DATABASE_URL alone (plus test-speed drain and wait times)."""
    return service_environment(
        **{
            contract.ENV_DATABASE_URL: database_url,
            contract.ENV_SHUTDOWN_DELAY: "0",
            contract.ENV_DB_WAIT_TIMEOUT: "10",
        }
    )


@pytest.fixture
def start_service() -> Iterator[Callable[[dict[str, str]], ServiceProcess]]:
    """Start real service processes; every one is stopped at the end of the test."""
    started: list[ServiceProcess] = []

    def start(env: dict[str, str]) -> ServiceProcess:
        process = ServiceProcess(env).start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()
        process.log_path.unlink(missing_ok=True)
