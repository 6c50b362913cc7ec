"""The harness itself: the servers it hands to tests are real and isolated."""

from __future__ import annotations

import boto3
import psycopg

from tests.support.pg import PostgresCluster


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


def test_emulator_keeps_secrets_between_calls(aws: str) -> None:
    client = boto3.client("secretsmanager", endpoint_url=aws)
    arn = client.create_secret(Name="co/test", SecretString='{"password": "x"}')["ARN"]
    assert client.get_secret_value(SecretId=arn)["SecretString"] == '{"password": "x"}'
