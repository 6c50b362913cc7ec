"""Fixtures every test package can use: a real PostgreSQL database and the AWS emulator.

PostgreSQL: ``TEST_DATABASE_URL`` names a server (an admin URL, e.g.
``postgresql://postgres@127.0.0.1:5432/postgres``) and each test that asks for
``database_url`` gets a fresh database on it, dropped afterwards. Without that variable a
throw-away cluster is started from the local PostgreSQL binaries for the session.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from localstack_client.session import Session

from tests.support.aws import FAKE_CREDENTIALS, emulator_session, moto_server, reset_moto
from tests.support.pg import PostgresCluster, scratch_database

# How pytest-xdist shares the suite out (scripts/dev.sh test runs ``-n auto --dist loadgroup``):
# a group runs whole on one worker, in collection order.
# - tests/container: every test of the private Docker engine (tests/container/engine.py)
#   lives there, so one engine and one image build per run, not one per worker;
# - every other module whole, so that its module fixtures (a scanner run, a TLS server, the
#   chart's pods with podman) are set up once.
# xdist's own loadgroup reads ``xdist_group`` marks by rewriting ``item._nodeid``, which
# pytest 9.2 no longer reads (a node's id is ``item._id``): the marks are ignored silently
# (seen here: one module's tests on two workers, two engines building the image twice).
# The groups are therefore decided from the node id alone, by the scheduler below; the
# controlling process never collects, the node ids are all it has.
CONTAINER_PACKAGE = "tests/container/"


def xdist_group_of(nodeid: str) -> str:
    module = nodeid.split("::", 1)[0]
    return CONTAINER_PACKAGE if module.startswith(CONTAINER_PACKAGE) else module


@pytest.hookimpl(optionalhook=True, tryfirst=True)  # pytest-xdist's hook; before its own
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return xdist_group_of(nodeid)

    return GroupScheduling(config, log)


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """Admin URL of a running PostgreSQL server that tests may create databases on."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        yield url
        return
    cluster = PostgresCluster().init()
    cluster.start()
    try:
        yield cluster.url
    finally:
        cluster.destroy()


@pytest.fixture
def database_url(pg_admin_url: str) -> Iterator[str]:
    """A fresh, empty database (``postgresql://`` URL) that is dropped after the test."""
    with scratch_database(pg_admin_url) as url:
        yield url


@pytest.fixture
def private_postgres() -> Iterator[PostgresCluster]:
    """A PostgreSQL cluster of the test's own, which the test may stop and start."""
    cluster = PostgresCluster().init()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """The endpoint URL of a moto server running for the whole session."""
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A clean emulator, with this process's AWS clients pointed at it."""
    reset_moto(moto_endpoint)
    for key, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    return moto_endpoint


@pytest.fixture
def aws_clients(aws: str) -> Session:
    """The suite's AWS clients for the clean emulator: ``aws_clients.client("s3")``.

    They come from localstack-client, like every client a test makes; a test that talks to
    another endpoint gets its clients the same way, from ``emulator_session(endpoint)``.
    """
    return emulator_session(aws)
