"""The harness itself (tests/support): the servers it hands to tests are real and isolated,
the emulator's clients call the endpoint they are given, a missing scanner fails by name."""

from __future__ import annotations

import threading
from functools import partial
from pathlib import Path

import psycopg
import pytest
from botocore.exceptions import EndpointConnectionError
from localstack_client.session import Session

from tests.support.aws import emulator_session, moto_server
from tests.support.pg import PostgresCluster
from tests.support.threads import start_threads
from tests.support.tools import checkov


def test_each_test_gets_an_empty_real_postgres_database(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        version = conn.execute("SHOW server_version_num").fetchone()
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
    assert version is not None
    assert int(version[0]) >= 130000
    assert tables == (0,)


def test_private_cluster_can_be_stopped_and_started(private_postgres: PostgresCluster) -> None:
    private_postgres.stop()
    try:
        psycopg.connect(private_postgres.url, connect_timeout=2).close()
    except psycopg.OperationalError:
        pass
    else:
        raise AssertionError("the stopped cluster still accepted a connection")
    private_postgres.start()
    with psycopg.connect(private_postgres.url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_emulator_keeps_secrets_between_calls(aws_clients: Session) -> None:
    client = aws_clients.client("secretsmanager")
    arn = client.create_secret(Name="co/test", SecretString='{"password": "x"}')["ARN"]
    assert client.get_secret_value(SecretId=arn)["SecretString"] == '{"password": "x"}'


def test_emulator_clients_call_the_endpoint_they_are_given(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """localstack-client takes any host and port, not only LocalStack's 4566."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with moto_server() as other:
        s3 = emulator_session(other).client("s3")
        assert s3.meta.endpoint_url == other
        s3.list_buckets()
    # The other server is gone: its clients fail to connect, the session's emulator answers.
    with pytest.raises(EndpointConnectionError):
        s3.list_buckets()
    emulator_session(moto_endpoint).client("s3").list_buckets()


def test_emulator_clients_refuse_an_endpoint_the_environment_contradicts(aws: str) -> None:
    with pytest.raises(AssertionError, match=r"AWS_ENDPOINT_URL=.* is another emulator"):
        emulator_session("http://127.0.0.1:9")


def test_a_checkov_named_but_missing_fails_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHECKOV", str(tmp_path / "no-checkov"))
    with pytest.raises(AssertionError, match=r"\$CHECKOV=.*no-checkov is not an executable file"):
        checkov()


def test_threads_started_one_after_another_still_run_together() -> None:
    done: list[int] = []
    together = threading.Barrier(5)

    def client(number: int) -> None:
        together.wait(timeout=10)  # breaks unless all five run at the same time
        done.append(number)

    threads = start_threads(partial(client, n) for n in range(5))
    for thread in threads:
        thread.join(timeout=10)
    assert not together.broken
    assert sorted(done) == [0, 1, 2, 3, 4]
    assert [t.name for t in threads] == [f"test-{n}" for n in range(5)]
