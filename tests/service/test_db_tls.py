"""DB_SSLMODE=verify-full/verify-ca with DB_SSLROOTCERT, against a real TLS PostgreSQL.

The ECS tasks and the chart's production values connect to RDS with verify-full and the
RDS CA bundle the image ships; here a private server presents a certificate from a test
CA, and both drivers the service uses (asyncpg for serving, psycopg for migrations) must
verify it: connect with the right CA, refuse with a wrong one or a host it does not name.
"""

from __future__ import annotations

import os
import pwd
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from service import contract
from service.credentials import DatabaseCredentials
from service.migrate import applied_migration_ids
from tests.support.pg import PostgresCluster
from tests.support.process import StartService, log_records, run_command, service_environment
from tests.support.tls import CertificateAuthority

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class TlsServer:
    cluster: PostgresCluster
    ca: CertificateAuthority
    other_ca: CertificateAuthority

    def url(self, host: str) -> str:
        return f"postgresql://postgres@{host}:{self.cluster.port}/postgres"


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsServer]:
    """A server whose certificate names localhost only (not 127.0.0.1)."""
    certs = tmp_path_factory.mktemp("certs")
    ca = CertificateAuthority.create(certs, "co-test-ca")
    other_ca = CertificateAuthority.create(certs, "co-other-ca")
    cluster = PostgresCluster().init()
    server_dir = cluster.root / "tls"
    server_dir.mkdir()
    cert, key = ca.issue_server_certificate(server_dir, ("localhost",))
    if os.geteuid() == 0:  # the server runs as postgres and must own its key
        user = pwd.getpwnam("postgres")
        for path in (server_dir, cert, key):
            shutil.chown(path, user.pw_uid, user.pw_gid)
    cluster.settings.update(ssl="on", ssl_cert_file=str(cert), ssl_key_file=str(key))
    cluster.start()
    try:
        yield TlsServer(cluster, ca, other_ca)
    finally:
        cluster.destroy()


def tls_env(url: str, sslmode: str, rootcert: Path | str) -> dict[str, str]:
    return service_environment(
        **{
            contract.ENV_DATABASE_URL: url,
            contract.ENV_DB_SSLMODE: sslmode,
            contract.ENV_DB_SSLROOTCERT: str(rootcert),
            contract.ENV_SHUTDOWN_DELAY: "0",
            contract.ENV_DB_WAIT_TIMEOUT: "2",
        }
    )


def encrypted_sessions(server: TlsServer) -> int:
    with psycopg.connect(server.url("localhost"), sslmode="disable") as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) "
            "WHERE ssl AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_verify_full_with_the_bundle_migrates_and_serves_over_tls(
    tls_server: TlsServer, start_service: StartService
) -> None:
    url = tls_server.url("localhost")
    service = start_service(tls_env(url, "verify-full", tls_server.ca.cert_path))
    service.wait_until_ready(60)
    # psycopg applied the migrations, asyncpg's pool serves /ready: both over TLS.
    assert applied_migration_ids(DatabaseCredentials.from_url(url + "?sslmode=disable"))
    assert encrypted_sessions(tls_server) >= 1


@pytest.mark.parametrize("sslmode", ["verify-full", "verify-ca"])
def test_a_server_certificate_from_another_ca_is_refused(
    tls_server: TlsServer, sslmode: str
) -> None:
    env = tls_env(tls_server.url("localhost"), sslmode, tls_server.other_ca.cert_path)
    result = run_command(["migrate"], env)
    assert result.returncode == contract.EXIT_UNAVAILABLE, result.stderr
    errors = [r["message"] for r in log_records(result.stderr) if r["level"] == "ERROR"]
    assert errors, result.stderr
    assert "certificate" in errors[-1].lower()
    assert "Traceback" not in result.stderr


def test_verify_full_refuses_a_host_the_certificate_does_not_name(
    tls_server: TlsServer,
) -> None:
    env = tls_env(tls_server.url("127.0.0.1"), "verify-full", tls_server.ca.cert_path)
    result = run_command(["migrate"], env)
    assert result.returncode == contract.EXIT_UNAVAILABLE, result.stderr
    assert "Traceback" not in result.stderr


def test_verify_ca_accepts_the_same_host_because_it_checks_only_the_chain(
    tls_server: TlsServer,
) -> None:
    env = tls_env(tls_server.url("127.0.0.1"), "verify-ca", tls_server.ca.cert_path)
    result = run_command(["migrate"], env)
    assert result.returncode == contract.EXIT_OK, result.stderr


def test_a_missing_bundle_is_a_configuration_error_naming_the_variable(tmp_path: Path) -> None:
    env = tls_env("postgresql://postgres@localhost:1/postgres", "verify-full", tmp_path / "no.pem")
    result = run_command(["migrate"], env)
    assert result.returncode == contract.EXIT_CONFIG
    assert contract.ENV_DB_SSLROOTCERT in result.stderr
    assert "Traceback" not in result.stderr
