"""Limits on what a request may send: body size, body speed and media type.

Enforced on the ASGI receive stream, before any handler buffers a body:
- a body over ``MAX_BODY_BYTES`` is refused with 413, at once when Content-Length says so,
  else as soon as the bytes read pass the limit (chunked bodies, lying lengths);
- a body that has not fully arrived ``BODY_READ_TIMEOUT`` seconds after the request began
  is refused with 408, so slow senders cannot hold memory and connection slots;
- ``json_media_type`` is what a write handler checks first (415 otherwise): this is what
  stops an HTML form's ``text/plain`` cross-site post before its body is parsed. It is
  checked by the route, so that a method no route serves still answers 405.
"""

from __future__ import annotations

import asyncio
import json
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service import contract

log = logging.getLogger(__name__)


class _BodyRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def json_media_type(value: bytes | None) -> bool:
    """application/json or application/<x>+json, in UTF-8 (JSON's only charset, RFC 8259)."""
    if value is None:
        return False
    text = value.decode("latin-1").lower()
    media_type, *parameters = (part.strip() for part in text.split(";"))
    if media_type != "application/json" and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        return False
    for parameter in parameters:
        name, _, charset = parameter.partition("=")
        if name.strip() == "charset" and charset.strip().strip('"') not in ("utf-8", "utf8"):
            return False
    return True


async def _answer(send: Send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),  # the rest of the body is not read
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RequestGuardMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int = contract.MAX_BODY_BYTES_DEFAULT,
        body_timeout: float = float(contract.BODY_READ_TIMEOUT),
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        limit = self.max_body_bytes
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            status = 413 if declared.isdigit() else 400
            log.warning("request body refused: Content-Length %r", declared[:20].decode("latin-1"))
            await _answer(send, status, f"request body larger than {limit} bytes")
            return

        deadline = asyncio.get_running_loop().time() + self.body_timeout
        received = 0
        started = False
        body_done = False

        async def limited_receive() -> Message:
            nonlocal received, body_done
            if body_done:  # later calls wait for a disconnect: no deadline for that
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise _BodyRefused(
                    408, f"request body not received within {self.body_timeout:g}s"
                ) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                body_done = not message.get("more_body", False)
                if received > limit:
                    raise _BodyRefused(413, f"request body larger than {limit} bytes")
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyRefused as refused:
            log.warning("request body refused: %s", refused.message)
            if not started:
                await _answer(send, refused.status, refused.message)
