"""The image connecting with DB_SSLMODE=verify-full and DB_SSLROOTCERT, as on ECS to RDS.

A private PostgreSQL (the stand-in image) serves TLS with a certificate that a test CA
signed for the name ``tls-db``. The image verifies it against the bundle at the contract's
RDS_CA_BUNDLE_PATH: with the test CA mounted there it connects (over TLS); with another CA,
or with the RDS bundle the image ships, it refuses with one clear error line and exit 69,
no traceback.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from service import contract
from tests.container import docker_images, images, tls_postgres
from tests.container.conftest import DockerImage
from tests.container.engine import Engine
from tests.support.net import free_port
from tests.support.tls import CertificateAuthority

pytestmark = [pytest.mark.container, pytest.mark.slow]

DB_ALIAS = "tls-db"
DB_USER = "cloud_optimizer"
DB_PASSWORD = "tls-test-password"


@dataclass(frozen=True)
class TlsDatabase:
    network: str
    server: tls_postgres.TlsPostgres

    @property
    def ca(self) -> CertificateAuthority:
        return self.server.ca

    @property
    def other_ca(self) -> CertificateAuthority:
        return self.server.other_ca

    def service_env(self, **extra: str) -> dict[str, str]:
        return {
            contract.ENV_DB_HOST: DB_ALIAS,
            contract.ENV_DB_PORT: str(contract.DB_DEFAULT_PORT),
            contract.ENV_DB_NAME: contract.DB_DEFAULT_NAME,
            contract.ENV_DB_USERNAME: DB_USER,
            contract.ENV_DB_PASSWORD: DB_PASSWORD,
            contract.ENV_DB_SSLMODE: "verify-full",
            contract.ENV_DB_SSLROOTCERT: contract.RDS_CA_BUNDLE_PATH,
            contract.ENV_SHUTDOWN_DELAY: "0",
            **extra,
        }


@pytest.fixture(scope="module")
def tls_database(
    docker_engine: Engine, docker_image: DockerImage, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TlsDatabase]:
    network = f"co-tls-{uuid.uuid4().hex[:8]}"
    docker_engine.docker("network", "create", network)
    server = None
    try:
        server = tls_postgres.start(
            docker_engine,
            network,
            DB_ALIAS,
            tmp_path_factory.mktemp("tls"),
            user=DB_USER,
            password=DB_PASSWORD,
            dbname=contract.DB_DEFAULT_NAME,
        )
        yield TlsDatabase(network, server)
    finally:
        if server is not None:
            docker_images.remove_container(docker_engine, server.container, print_log_lines=10)
        docker_engine.docker("network", "rm", network, check=False)


def run_service(
    engine: Engine,
    image: str,
    db: TlsDatabase,
    bundle: Path | None,
    *,
    detach: bool,
    name: str,
    extra: dict[str, str] | None = None,
) -> tuple[int, str]:
    """The image on the database's network; ``bundle`` mounted at RDS_CA_BUNDLE_PATH."""
    mount = (
        ["--mount", f"type=bind,source={bundle},target={contract.RDS_CA_BUNDLE_PATH},readonly"]
        if bundle
        else []
    )
    port = free_port()
    result = engine.docker(
        "run",
        *(["--detach"] if detach else []),
        "--name",
        name,
        "--label",
        docker_images.CONTAINER_LABEL,
        "--network",
        db.network,
        "--publish",
        f"127.0.0.1:{port}:{contract.PORT}",
        "--read-only",
        "--tmpfs",
        "/tmp",
        *mount,
        *docker_images.env_args(db.service_env(**(extra or {}))),
        image,
        timeout=180,
        check=False,
    )
    if detach:
        assert result.returncode == 0, result.stderr
        return port, result.stdout
    return result.returncode, result.stdout + result.stderr


def error_records(output: str) -> list[str]:
    """The messages of the service's ERROR log lines (one JSON object per line)."""
    found = []
    for line in output.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("level") == "ERROR":
            found.append(str(record.get("message")))
    return found


def test_verify_full_with_the_ca_at_the_bundle_path_connects_over_tls(
    docker_engine: Engine, docker_image: DockerImage, tls_database: TlsDatabase
) -> None:
    name = f"co-tls-ok-{uuid.uuid4().hex[:6]}"
    try:
        started = time.monotonic()
        port, _ = run_service(
            docker_engine,
            docker_image.name,
            tls_database,
            tls_database.ca.cert_path,
            detach=True,
            name=name,
        )
        ready = images.wait_for_status(
            f"http://127.0.0.1:{port}{contract.READY_PATH}", 200, images.STARTUP_LIMIT, started
        )
        assert ready is not None, "not ready with verify-full and the right CA"
        sessions = tls_postgres.tls_sessions(
            docker_engine, tls_database.server, DB_USER, contract.DB_DEFAULT_NAME
        )
        assert sessions >= 1  # the service's pool, encrypted
        print(f"\n[tls] verify-full ready after {ready:.2f} s; {sessions} TLS sessions")
    finally:
        docker_images.remove_container(docker_engine, name, print_log_lines=0)


@pytest.mark.parametrize("which", ["another CA", "the shipped RDS bundle"])
def test_verify_full_refuses_a_certificate_the_bundle_does_not_sign_in_one_line(
    docker_engine: Engine, docker_image: DockerImage, tls_database: TlsDatabase, which: str
) -> None:
    bundle = tls_database.other_ca.cert_path if which == "another CA" else None
    name = f"co-tls-bad-{uuid.uuid4().hex[:6]}"
    try:
        code, output = run_service(
            docker_engine,
            docker_image.name,
            tls_database,
            bundle,
            detach=False,
            name=name,
            extra={contract.ENV_DB_WAIT_TIMEOUT: "3"},
        )
    finally:
        docker_images.remove_container(docker_engine, name)
    assert code == contract.EXIT_UNAVAILABLE, output[-3000:]
    assert "Traceback" not in output
    errors = error_records(output)
    assert errors, output[-3000:]
    assert "certificate" in errors[-1].lower(), errors[-1]
    assert "\n" not in errors[-1]
    print(f"\n[tls] {which}: exit {code}: {errors[-1]}")
