"""A PostgreSQL container serving TLS with a certificate a test CA signed, as RDS serves one
signed by a CA of its bundle. The stand-in postgres image, on a Docker network of the
caller's, reachable there by ``alias`` (the name the certificate carries)."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from tests.container import docker_images
from tests.container.engine import Engine
from tests.support.tls import CertificateAuthority


@dataclass(frozen=True)
class TlsPostgres:
    container: str
    alias: str
    ca: CertificateAuthority
    other_ca: CertificateAuthority


def start(
    engine: Engine,
    network: str,
    alias: str,
    certs: Path,
    *,
    user: str,
    password: str,
    dbname: str,
) -> TlsPostgres:
    """Start it (removing it is the caller's: ``docker_images.remove_container``)."""
    image = docker_images.ensure_standin_postgres(engine)
    ca = CertificateAuthority.create(certs, "co-test-ca")
    other_ca = CertificateAuthority.create(certs, "co-other-ca")
    server = certs / "server"
    server.mkdir()
    cert, key = ca.issue_server_certificate(server, (alias,))
    uid = int(
        engine.docker("run", "--rm", "--entrypoint", "id", image, "-u", "postgres").stdout.strip()
    )
    for path in (server, cert, key):
        shutil.chown(path, uid, uid)  # PostgreSQL refuses a key it does not own
    container = f"{network}-{alias}"
    engine.docker(
        "run",
        "--detach",
        "--name",
        container,
        "--label",
        docker_images.CONTAINER_LABEL,
        "--network",
        network,
        "--network-alias",
        alias,
        *docker_images.env_args(
            {"POSTGRES_USER": user, "POSTGRES_PASSWORD": password, "POSTGRES_DB": dbname}
        ),
        "--mount",
        f"type=bind,source={server},target=/tls,readonly",
        image,
        "postgres",
        "-c",
        "ssl=on",
        "-c",
        "ssl_cert_file=/tls/server.crt",
        "-c",
        "ssl_key_file=/tls/server.key",
    )
    deadline = time.monotonic() + 60
    while engine.docker(
        "exec", container, "pg_isready", "-h", "127.0.0.1", "-U", user, check=False
    ).returncode:
        if time.monotonic() > deadline:
            docker_images.remove_container(engine, container, print_log_lines=20)
            raise RuntimeError("the TLS PostgreSQL did not start")
        time.sleep(0.3)
    return TlsPostgres(container, alias, ca, other_ca)


def tls_sessions(engine: Engine, server: TlsPostgres, user: str, dbname: str) -> int:
    """Client sessions of ``user`` that use TLS (asked over the local socket, not counted)."""
    out = engine.docker(
        "exec",
        server.container,
        "psql",
        "-U",
        user,
        "-d",
        dbname,
        "-tAc",
        "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) "
        f"WHERE ssl AND usename = '{user}' AND pid <> pg_backend_pid()",
    ).stdout.strip()
    return int(out)
