"""JSON-lines logging with a request id, on the standard library.

One line per record: time, level, logger, message, request_id when inside a request,
and any ``extra`` fields. CloudWatch Logs and Kubernetes log shippers parse it as is.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from contextvars import ContextVar
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service import contract

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

REQUEST_ID_HEADER = "x-request-id"
MAX_INCOMING_REQUEST_ID = 128  # longer ids from a client are replaced, not trusted
# Attributes every LogRecord has; anything else came in through ``extra=``.
_STANDARD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)


# One encoder for every record: json.dumps(default=...) builds a new one per call.
_ENCODER = json.JSONEncoder(default=str)


class JsonFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        self._second = -1
        # "%Y-%m-%dT%H:%M:%S" of ``_second``: records come many per second. Safe across
        # threads because a handler formats under its own lock (logging.Handler.handle).
        self._stamp = ""

    def format(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second:
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        entry: dict[str, Any] = {
            "time": f"{self._stamp}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        # Stamped on the record by RequestIdFilter when it was made, else the current one.
        fields = vars(record)
        request_id = fields.get("request_id") or request_id_var.get()
        if request_id is not None:
            entry["request_id"] = request_id
        for key, value in fields.items():
            if key not in _STANDARD_ATTRIBUTES and key != "request_id" and not key.startswith("_"):
                entry[key] = value
        if record.exc_info and record.levelno >= logging.ERROR:
            entry["exception"] = self.formatException(record.exc_info)
        return _ENCODER.encode(entry)


class RequestIdFilter(logging.Filter):
    """Stamps the current request id on a record, so a record formatted later keeps it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id_var.get()
        return True


def configure_logging(level: int | str = logging.INFO) -> None:
    """Send every logger (ours, Hypercorn's, asyncpg's) to stderr as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # JsonFormatter's line carries no source location, thread or process names: the logging
    # HOWTO's "Optimization" table lists these switches for what a handler never prints.
    # They save the frame walk and look-ups of every record (one per API request).
    # https://docs.python.org/3/howto/logging.html#optimization
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    # botocore logs response bodies (secrets) at DEBUG: see service.secrets.SDK_LOGGERS.
    # yoyo repeats our per-migration line once per SQL statement.
    for noisy in ("botocore", "aiobotocore", "aioboto3", "boto3", "urllib3", "yoyo"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


# Probes arrive every few seconds from every load balancer node; at INFO they would
# drown the log, so they are logged at DEBUG.
_QUIET_PATHS = frozenset({contract.HEALTH_PATH, contract.READY_PATH})
access_log = logging.getLogger("service.access")
log = logging.getLogger(__name__)
# Browsers must not guess a type other than the one declared (a JSON error echoing input
# read as HTML): on every response, errors and probes included.
NOSNIFF = (b"x-content-type-options", b"nosniff")


class RequestIdMiddleware:
    """Gives each request an id (the caller's X-Request-ID if sane), echoes it, logs it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                text = value.decode("latin-1")
                if 0 < len(text) <= MAX_INCOMING_REQUEST_ID and text.isprintable():
                    request_id = text
                break
        if request_id is None:
            # 128 random bits as 32 hex digits, like uuid4().hex at a fifth of the cost.
            request_id = os.urandom(16).hex()
        token = request_id_var.set(request_id)
        header = (b"x-request-id", request_id.encode("latin-1"))
        started = time.perf_counter()
        status = 500
        responded = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, responded
            if message["type"] == "http.response.start":
                status = message["status"]
                responded = True
                message["headers"] = [*message.get("headers", ()), header, NOSNIFF]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # A crash: one JSON line with the request id (the traceback inside it), and a
            # JSON 500 naming the request id, never a traceback to the client.
            status = 500
            log.exception("unhandled error in %s %s", scope["method"], scope["path"])
            if not responded:
                body = json.dumps({"error": "internal error", "request_id": request_id}).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            header,
                            NOSNIFF,
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
        finally:
            path = scope["path"]
            level = logging.DEBUG if path in _QUIET_PATHS and status < 500 else logging.INFO
            if access_log.isEnabledFor(level):
                access_log.log(
                    level,
                    "%s %s %d",
                    scope["method"],
                    path,
                    status,
                    extra={
                        "request_id": request_id,
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    },
                )
            request_id_var.reset(token)
