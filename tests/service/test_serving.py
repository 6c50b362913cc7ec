"""Hypercorn settings derived from the configuration: drain arithmetic and lifespan bound."""

from __future__ import annotations

from service import contract
from service.config import load_settings
from service.entrypoint import build_parser
from service.serve import CLOSE_RESERVE, hypercorn_config

URL = "postgresql://postgres@127.0.0.1/co"


def test_hypercorn_binds_host_and_port() -> None:
    config = hypercorn_config(load_settings({"DATABASE_URL": URL, "PORT": "9123"}))
    assert config.bind == ["0.0.0.0:9123"]
    ipv6 = hypercorn_config(load_settings({"DATABASE_URL": URL, "HOST": "::"}))
    assert ipv6.bind == [f"[::]:{contract.PORT}"]


def test_in_flight_requests_get_what_the_drain_leaves_of_the_graceful_timeout() -> None:
    config = hypercorn_config(load_settings({"DATABASE_URL": URL}))
    expected = contract.GRACEFUL_TIMEOUT - contract.SHUTDOWN_DELAY - CLOSE_RESERVE
    assert config.graceful_timeout == expected
    # Drain, then in-flight requests, then closing the pool: all within GRACEFUL_TIMEOUT.
    assert contract.SHUTDOWN_DELAY + config.graceful_timeout + CLOSE_RESERVE <= (
        contract.GRACEFUL_TIMEOUT
    )
    tight = hypercorn_config(
        load_settings({"DATABASE_URL": URL, "SHUTDOWN_DELAY": "5", "GRACEFUL_TIMEOUT": "6"})
    )
    assert tight.graceful_timeout == 1.0


def test_lifespan_startup_timeout_outlasts_the_longest_migration_wait() -> None:
    """Slow steps run before serving; the lifespan bound can never be what ends a start."""
    config = hypercorn_config(load_settings({"DATABASE_URL": URL}))
    assert config.startup_timeout >= contract.MIGRATION_LOCK_TIMEOUT


def test_command_line_defaults_to_serve() -> None:
    assert build_parser().parse_args([]).command is None
    rollback = build_parser().parse_args(["rollback", "--to", "co-0001-assessments", "--force"])
    assert (rollback.to, rollback.force, rollback.all) == ("co-0001-assessments", True, False)
    assert build_parser().parse_args(["migrate", "--contract"]).contract is True
