"""Where and as whom to connect to PostgreSQL: one type from a URL or a secret to every driver.

``DatabaseCredentials`` is parsed once (``from_url`` for DATABASE_URL and local runs,
``service.secrets`` for a Secrets Manager secret) and rendered for each consumer:
``asyncpg_arguments`` (the pool), ``psycopg_arguments`` (the migration lock and reads) and
``yoyo_url`` (yoyo, which takes only a URL). Nothing builds a URL to split it again.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from service import contract

# libpq's sslmode values, weakest first (https://www.postgresql.org/docs/15/libpq-ssl.html).
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
# The modes that verify the server's certificate against a CA bundle (libpq's meaning).
VERIFYING_SSL_MODES = ("verify-ca", "verify-full")
DEFAULT_USERNAME = "postgres"


@dataclass(frozen=True)
class DatabaseCredentials:
    """Where and as whom to connect. The password is left out of repr()."""

    host: str
    port: int
    dbname: str
    username: str
    password: str | None = field(repr=False)
    sslmode: str | None = None
    # The CA bundle that verify-ca/verify-full check the server against (the image ships
    # RDS's, contract.RDS_CA_BUNDLE_PATH). None: the system's trust store, for both drivers.
    sslrootcert: str | None = None

    @property
    def verifies_server(self) -> bool:
        return self.sslmode in VERIFYING_SSL_MODES

    def ssl_context(self) -> ssl.SSLContext:
        """asyncpg's form of verify-ca/verify-full: a context that trusts only the bundle."""
        context = ssl.create_default_context(cafile=self.sslrootcert)
        # verify-ca checks the chain but not that the certificate names the host.
        context.check_hostname = self.sslmode == "verify-full"
        return context

    def asyncpg_arguments(self) -> dict[str, Any]:
        """Keyword arguments for asyncpg.connect (no URL, so nothing needs quoting)."""
        arguments: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "database": self.dbname,
            "user": self.username,
            "password": self.password,
        }
        if self.verifies_server:
            arguments["ssl"] = self.ssl_context()
        elif self.sslmode is not None:
            arguments["ssl"] = self.sslmode
        return arguments

    def libpq_parameters(self) -> dict[str, str]:
        """sslmode and, when the server is verified, the bundle, as libpq (psycopg) reads them.

        ``sslrootcert=system`` (libpq 16+) is libpq's name for the system trust store, the
        same store asyncpg uses without a bundle; libpq would otherwise look for
        ~/.postgresql/root.crt, which the image does not have.
        """
        parameters: dict[str, str] = {}
        if self.sslmode is not None:
            parameters["sslmode"] = self.sslmode
        if self.verifies_server:
            parameters["sslrootcert"] = self.sslrootcert or "system"
        return parameters

    def url(self, scheme: str = "postgresql", *, quote_dbname: bool = True) -> str:
        """A URL with user and password percent-quoted (libpq and yoyo decode them)."""
        userinfo = quote(self.username, safe="")
        if self.password is not None:
            userinfo += ":" + quote(self.password, safe="")
        host = f"[{self.host}]" if ":" in self.host else self.host
        parameters = self.libpq_parameters()
        query = "?" + urlencode(parameters, quote_via=quote) if parameters else ""
        dbname = quote(self.dbname, safe="") if quote_dbname else self.dbname
        return f"{scheme}://{userinfo}@{host}:{self.port}/{dbname}{query}"

    def yoyo_url(self) -> str:
        """yoyo speaks DB-API: psycopg 3. yoyo decodes user and password but not the
        database name, so a plain name is passed as it is; a name with URL-reserved
        characters goes percent-quoted as a ``dbname`` query parameter too, which yoyo
        decodes and passes to psycopg over the path (and libpq lets it override the path)."""
        if quote(self.dbname, safe="") == self.dbname:
            return self.url("postgresql+psycopg", quote_dbname=False)
        url = self.url("postgresql+psycopg")
        separator = "&" if "?" in url else "?"
        return f"{url}{separator}dbname={quote(self.dbname, safe='')}"

    def psycopg_arguments(self) -> dict[str, Any]:
        """Keyword arguments for psycopg.connect: libpq's own names, nothing to quote."""
        arguments: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "dbname": self.dbname,
            "user": self.username,
            **self.libpq_parameters(),
        }
        if self.password is not None:
            arguments["password"] = self.password
        return arguments

    def describe(self) -> str:
        """Where the credentials point, for log lines: no password."""
        return f"{self.username}@{self.host}:{self.port}/{self.dbname}"

    @classmethod
    def from_url(cls, raw: str) -> DatabaseCredentials:
        """A postgresql:// URL; ValueError with a message that shows no password."""
        if "#" in raw or raw.count("@") > 1:
            # An unquoted "#" or "@" would silently move part of the password into the host.
            raise ValueError("a postgresql:// URL with the user and password percent-encoded")
        parts = urlsplit(raw)
        if parts.scheme not in ("postgresql", "postgres"):
            raise ValueError("a postgresql:// URL")
        try:
            port = parts.port or contract.DB_DEFAULT_PORT
        except ValueError:
            raise ValueError("a postgresql:// URL with a numeric port") from None
        if not parts.hostname:
            raise ValueError("a postgresql:// URL with a host")
        query = parse_qs(parts.query)
        sslmode = query.get("sslmode", [None])[-1]
        if sslmode is not None and sslmode not in SSL_MODES:
            raise ValueError(f"sslmode one of {', '.join(SSL_MODES)}")
        sslrootcert = query.get("sslrootcert", [None])[-1]
        if sslrootcert is not None and not _readable_file(sslrootcert):
            raise ValueError("sslrootcert naming a readable file")
        return cls(
            host=parts.hostname,
            port=port,
            dbname=unquote(parts.path.lstrip("/")) or contract.DB_DEFAULT_NAME,
            username=unquote(parts.username) if parts.username else DEFAULT_USERNAME,
            password=unquote(parts.password) if parts.password else None,
            sslmode=sslmode,
            sslrootcert=sslrootcert,
        )


def _readable_file(path: str) -> bool:
    try:
        with Path(path).open("rb"):
            return True
    except OSError:
        return False
