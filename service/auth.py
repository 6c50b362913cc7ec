"""API authentication: every route under /api/ needs ``Authorization: Bearer <token>``.

The token is the application secret (``APP_SECRET``, or the value behind
``APP_SECRET_ARN``). Nothing else is a credential: no cookies, no query parameter, so a
cross-site request cannot carry one.

Rotation needs no restart. When a presented token matches neither the current nor the
previous value and the secret comes from an ARN, the secret is read again, at most once
per ``REFRESH_INTERVAL`` and by one task for all waiting requests (the database secret's
rule, service.db). A new value becomes current and the old one stays accepted for
``APP_SECRET_OVERLAP`` seconds, so clients switch at their own pace. A current value older
than ``REREAD_AFTER`` is re-read in the background, so a rotation is noticed even before a
client presents the new token; the old one then expires after the overlap.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Receive, Scope, Send

from service import contract
from service.logs import request_id_var

if TYPE_CHECKING:
    from service.secrets import SecretResolver

log = logging.getLogger(__name__)

PROTECTED_PREFIX = "/api/"
# Wrong tokens cause at most one Secrets Manager read per this many seconds, however many
# arrive: a flood of bad tokens costs neither AWS calls nor waiting requests.
REFRESH_INTERVAL = 5.0
# A current value this old is re-read in the background on the next request.
REREAD_AFTER = 300.0
# The same body whatever was wrong (missing, malformed, wrong): it tells a caller nothing.
UNAUTHORISED_BODY = b'{"error":"authentication required: Authorization: Bearer <token>"}'
UNAUTHORISED_HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(UNAUTHORISED_BODY)).encode()),
    (b"www-authenticate", b'Bearer realm="cloud-optimizer"'),
    (b"cache-control", b"no-store"),
]

ReadSecret = Callable[[], Awaitable[str | None]]


@dataclass
class _Accepted:
    value: bytes
    until: float  # monotonic time after which this value is refused; inf for the current


class ApiTokens:
    """The accepted tokens: the current one and, for a while after a rotation, the previous.

    ``reread`` reads the secret again (None: it cannot change without a restart).
    """

    def __init__(
        self,
        current: str | None,
        reread: ReadSecret | None = None,
        *,
        overlap: float = float(contract.APP_SECRET_OVERLAP_DEFAULT),
        refresh_interval: float = REFRESH_INTERVAL,
        reread_after: float = REREAD_AFTER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._reread = reread
        self.overlap = overlap
        self.refresh_interval = refresh_interval
        self.reread_after = reread_after
        self._current = current.encode() if current else None
        self._previous: _Accepted | None = None
        self._read_at = clock()
        self._last_refresh = float("-inf")
        self._refreshing: asyncio.Task[None] | None = None
        self.refresh_count = 0  # secret re-reads, for tests and log lines

    @property
    def configured(self) -> bool:
        return self._current is not None

    def _matches(self, presented: bytes) -> bool:
        current = self._current
        if current is not None and hmac.compare_digest(presented, current):
            return True
        previous = self._previous
        return (
            previous is not None
            and self._clock() < previous.until
            and hmac.compare_digest(presented, previous.value)
        )

    async def _refresh(self) -> None:
        assert self._reread is not None
        self._last_refresh = self._clock()
        try:
            value = await self._reread()
        except Exception as exc:  # a failed re-read keeps the values already held
            log.warning("application secret could not be re-read: %s", type(exc).__name__)
            return
        self.refresh_count += 1
        now = self._clock()
        self._read_at = now
        new = value.encode() if value else None
        if new is None or (self._current is not None and hmac.compare_digest(new, self._current)):
            return
        if self._current is not None:
            self._previous = _Accepted(self._current, now + self.overlap)
        self._current = new
        log.info(
            "application secret rotated: the previous token is accepted for %gs more",
            self.overlap,
            extra={"overlap_seconds": self.overlap},
        )

    def _start_refresh(self) -> asyncio.Task[None]:
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.ensure_future(self._refresh())
        return self._refreshing

    async def verify(self, presented: bytes) -> bool:
        """Whether ``presented`` is an accepted token, re-reading the secret when it may be new."""
        if self._matches(presented):
            if (
                self._reread is not None
                and self._clock() - self._read_at > self.reread_after
                and self._clock() - self._last_refresh > self.refresh_interval
            ):
                self._start_refresh()
            return True
        if self._reread is None:
            return False
        running = self._refreshing is not None and not self._refreshing.done()
        if not running and self._clock() - self._last_refresh < self.refresh_interval:
            return False
        # shield: a client that goes away must not cancel the read others wait for.
        await asyncio.shield(self._start_refresh())
        return self._matches(presented)


def _bearer_token(scope: Scope) -> bytes | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            header: bytes = value
            scheme, _, token = header.partition(b" ")
            token = token.strip(b" ")
            if scheme.lower() != b"bearer" or not token or b" " in token:
                return None
            return token
    return None


def _client(scope: Scope) -> str | None:
    client = scope.get("client")
    return str(client[0]) if client else None


async def _refuse(send: Send) -> None:
    await send({"type": "http.response.start", "status": 401, "headers": UNAUTHORISED_HEADERS})
    await send({"type": "http.response.body", "body": UNAUTHORISED_BODY})


class BearerAuthMiddleware:
    """401 for any /api/ request without an accepted bearer token; the rest passes through."""

    def __init__(self, app: ASGIApp, tokens: ApiTokens | None) -> None:
        self.app = app
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PROTECTED_PREFIX):
            await self.app(scope, receive, send)
            return
        token = _bearer_token(scope)
        tokens = self.tokens
        if token is not None and tokens is not None and await tokens.verify(token):
            await self.app(scope, receive, send)
            return
        reason = "missing or malformed" if token is None else "not accepted"
        if tokens is None or not tokens.configured:
            reason = "no application secret configured"
        # The attempt, never the token: who, what, and why in words.
        log.warning(
            "unauthenticated %s %s refused: token %s",
            scope["method"],
            scope["path"],
            reason,
            extra={"client": _client(scope), "auth": reason, "request_id": request_id_var.get()},
        )
        await _refuse(send)


async def api_tokens(resolver: SecretResolver) -> ApiTokens:
    """The tokens for a resolved configuration; re-readable when the secret has an ARN."""
    settings = resolver.settings
    current = await resolver.app_secret()
    if current is None:
        log.warning(
            "neither %s nor %s is set: every /api/ request is refused with 401",
            contract.ENV_APP_SECRET,
            contract.ENV_APP_SECRET_ARN,
        )
    reread = resolver.reread_app_secret if settings.app_secret_arn is not None else None
    return ApiTokens(current, reread, overlap=settings.app_secret_overlap)
