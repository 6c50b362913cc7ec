"""Fixtures every test package can use: a real PostgreSQL database and the AWS emulator.

PostgreSQL: ``TEST_DATABASE_URL`` names a server (an admin URL, e.g.
``postgresql://postgres@127.0.0.1:5432/postgres``) and each test that asks for
``database_url`` gets a fresh database on it, dropped afterwards. Without that variable a
throw-away cluster is started from the local PostgreSQL binaries for the session.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.aws import FAKE_CREDENTIALS, moto_server, reset_moto
from tests.support.pg import PostgresCluster, scratch_database

# Groups for pytest-xdist's ``--dist loadgroup`` (scripts/dev.sh test runs the suite on
# every core): a group runs on one worker, in collection order.
# - every test of the private Docker engine (tests/container/engine.py): one engine and one
#   image build per run, not one per worker;
# - the tests that build or run the image with buildah/podman (the ``container`` marker
#   without the engine): one image store, one buildah build of the working tree;
# - every other test with the rest of its module, so that a module's fixtures (a scanner
#   run, a TLS server, a rendered chart) are set up once.
DOCKER_ENGINE_GROUP = "docker-engine"
PODMAN_STORE_GROUP = "podman-store"


def xdist_group_of(item: pytest.Item) -> str:
    if "docker_engine" in getattr(item, "fixturenames", ()):
        return DOCKER_ENGINE_GROUP
    if item.get_closest_marker("container") is not None:
        return PODMAN_STORE_GROUP
    return item.nodeid.split("::", 1)[0]


@pytest.hookimpl(tryfirst=True)  # before xdist reads the marks (it runs in each worker)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.pluginmanager.hasplugin("xdist"):
        return  # run with -p no:xdist: one process, nothing to group
    for item in items:
        item.add_marker(pytest.mark.xdist_group(xdist_group_of(item)))


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
