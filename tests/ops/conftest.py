"""Fixtures for the operations tests: real service processes with test-speed drain times."""

from __future__ import annotations

import pytest

from service import contract
from tests.ops.loadbalancer import CHECK_INTERVAL
from tests.service.conftest import start_service
from tests.support.process import service_environment

__all__ = ["ops_env", "start_service"]

# Test-speed drain: ten target-group checks long, so the harness (like an ALB) notices a
# draining instance long before it stops accepting. Production uses the contract's values.
TEST_SHUTDOWN_DELAY = 10 * CHECK_INTERVAL
TEST_GRACEFUL_TIMEOUT = TEST_SHUTDOWN_DELAY + 5
# Seconds a release of the operations tests may take to answer /ready.
READY_TIMEOUT = 90.0


def ops_environment(database_url: str) -> dict[str, str]:
    return service_environment(
        **{
            contract.ENV_DATABASE_URL: database_url,
            contract.ENV_SHUTDOWN_DELAY: f"{TEST_SHUTDOWN_DELAY:g}",
            contract.ENV_GRACEFUL_TIMEOUT: f"{TEST_GRACEFUL_TIMEOUT:g}",
            contract.ENV_DB_WAIT_TIMEOUT: "10",
        }
    )


@pytest.fixture
def ops_env(database_url: str) -> dict[str, str]:
    """Release N's environment: the local form (DATABASE_URL) with test-speed drain."""
    return ops_environment(database_url)
