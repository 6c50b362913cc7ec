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
from localstack_client.session import Session

from tests.support.aws import FAKE_CREDENTIALS, emulator_session, moto_server, reset_moto
from tests.support.pg import PostgresCluster, scratch_database


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
