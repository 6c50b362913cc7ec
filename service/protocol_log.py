"""Requests Hypercorn refuses itself (malformed HTTP/1.1) get a log line with a request id.

Hypercorn answers a request h11 cannot parse (a bad request line, a header without a colon,
conflicting framing) with a bare 400 and closes the connection, before any ASGI request
exists: the service's middleware never sees it and Hypercorn logs nothing. Hypercorn has no
hook for this, so ``install()`` wraps the one method that sends that answer,
``H11Protocol._send_error_response`` (hypercorn 0.18, pinned in the lock;
tests/service/test_guards.py fails if an upgrade moves it), to log one JSON line that
carries a fresh request id, the status and the client address, and nothing the client sent.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

from hypercorn.protocol.h11 import H11Protocol

from service.logs import request_id_var

log = logging.getLogger("service.protocol")

_SendError = Callable[[Any, int], Awaitable[None]]
_MARK = "_co_logged"


def install() -> None:
    """Idempotent: wrap Hypercorn's protocol-error answer once per process."""
    original: _SendError = H11Protocol._send_error_response
    if getattr(original, _MARK, False):
        return

    async def send_error_response(self: Any, status_code: int) -> None:
        token = request_id_var.set(os.urandom(16).hex())
        try:
            client = getattr(self, "client", None)
            address = client[0] if isinstance(client, tuple) and client else "unknown"
            log.warning(
                "malformed HTTP refused with %d before reaching the service (client %s)",
                status_code,
                address,
            )
            await original(self, status_code)
        finally:
            request_id_var.reset(token)

    setattr(send_error_response, _MARK, True)
    H11Protocol._send_error_response = send_error_response  # type: ignore[method-assign]
