"""Real PostgreSQL servers for tests.

Two kinds:
- the shared server named by ``TEST_DATABASE_URL`` (CI's machine runs one on 5432), in
  which every test gets a database of its own;
- a throw-away cluster of the test's own, started from the local PostgreSQL binaries on
  a free port, for tests that stop and start the server. Stopping the shared server
  would disturb everything else on the machine.

``initdb`` and ``postgres`` refuse to run as root, so as root the throw-away cluster runs
as the ``postgres`` system user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from tests.support.net import free_port, wait_for_port


def shared_admin_url() -> str:
    """The shared server's admin URL: ``TEST_DATABASE_URL``, else the machine kind's own
    PostgreSQL on 127.0.0.1:5432 (trust authentication), which the benchmarks default to."""
    return os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def postgres_bin_dir() -> Path | None:
    """Where initdb and pg_ctl live: PATH first, then Debian's versioned directory."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)
    return Path(candidates[0]).parent if candidates else None


def with_database(url: str, dbname: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, parts.fragment))


def create_database(admin_url: str, prefix: str = "co_test") -> str:
    """Create an empty database on the server behind admin_url and return its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return with_database(admin_url, name)


def drop_database(admin_url: str, url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def scratch_database(admin_url: str, prefix: str = "co_test") -> Iterator[str]:
    """A fresh, empty database (its URL) for the block, dropped when the block ends."""
    url = create_database(admin_url, prefix)
    try:
        yield url
    finally:
        drop_database(admin_url, url)


@dataclass
class PostgresCluster:
    """A private PostgreSQL cluster on 127.0.0.1:port that a test may stop and start."""

    port: int = field(default_factory=free_port)
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="co-pg-")))
    # More `-c name=value` server settings, e.g. ssl=on with a certificate and key.
    settings: dict[str, str] = field(default_factory=dict)
    _run_as: Sequence[str] = ()

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _cmd(self, *args: str) -> list[str]:
        bindir = postgres_bin_dir()
        if bindir is None:
            raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
        return [*self._run_as, str(bindir / args[0]), *args[1:]]

    def init(self) -> PostgresCluster:
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self._run_as = ("runuser", "-u", "postgres", "--")
        subprocess.run(
            self._cmd(
                "initdb",
                "-D",
                str(self.datadir),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ),
            check=True,
            capture_output=True,
        )
        return self

    def start(self) -> None:
        opts = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} "
            f"-c unix_socket_directories={self.root} -c fsync=off "
            "-c max_connections=200"
        ) + "".join(f" -c {name}={value}" for name, value in self.settings.items())
        subprocess.run(
            self._cmd(
                "pg_ctl",
                "-D",
                str(self.datadir),
                "-l",
                str(self.root / "log"),
                "-o",
                opts,
                "-w",
                "-t",
                "30",
                "start",
            ),
            check=True,
            capture_output=True,
        )
        wait_for_port("127.0.0.1", self.port)

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(
            self._cmd("pg_ctl", "-D", str(self.datadir), "-m", mode, "-w", "stop"),
            check=False,
            capture_output=True,
        )

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
