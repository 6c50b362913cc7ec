"""Serving with Hypercorn (uvloop) and the SIGTERM drain.

Knows nothing of the startup steps or their exit codes: ``service.startup`` runs this as
its last step and turns ``CannotListen`` into EXIT_OSERR.
"""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import signal
import socket
import time
from dataclasses import dataclass

from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config as HypercornConfig

from service import contract, protocol_log
from service.app import create_app
from service.config import Settings
from service.state import AppState

log = logging.getLogger("service")

# Seconds kept back from GRACEFUL_TIMEOUT for closing the pool and Redis after Hypercorn
# has finished the in-flight requests.
CLOSE_RESERVE = 2.0
# Hypercorn's lifespan startup wait. Our slow steps (migrations, knowledge base) run before
# serving, so lifespan startup is instant; the bound is generous so it can never end a
# slow first start.
LIFESPAN_STARTUP_TIMEOUT = float(contract.MIGRATION_LOCK_TIMEOUT)


class CannotListen(Exception):
    """The address cannot be bound (the port is taken, or it is not this host's)."""

    def __init__(self, host: str, port: int, exc: OSError) -> None:
        reason = "in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
        super().__init__(f"cannot listen on {host}:{port}: {reason}")


def hypercorn_config(settings: Settings) -> HypercornConfig:
    config = HypercornConfig()
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    config.bind = [f"{host}:{settings.port}"]
    config.accesslog = None  # service.logs.RequestIdMiddleware logs requests
    config.include_server_header = False  # no product or version for a scanner to match
    config.errorlog = logging.getLogger("hypercorn.error")
    protocol_log.install()  # malformed requests Hypercorn refuses itself are logged too
    config.startup_timeout = LIFESPAN_STARTUP_TIMEOUT
    # After the drain Hypercorn waits this long for in-flight requests; what is left of
    # GRACEFUL_TIMEOUT after the drain, less time to close the pool.
    config.graceful_timeout = max(
        1.0, settings.graceful_timeout - settings.shutdown_delay - CLOSE_RESERVE
    )
    return config


@dataclass
class ShutdownSequence:
    """SIGTERM: /ready 503 at once, keep serving SHUTDOWN_DELAY, then stop accepting."""

    state: AppState
    delay: float
    stop_serving: asyncio.Event
    signalled_at: float | None = None

    def on_signal(self, signum: int) -> None:
        if self.signalled_at is not None:
            # A second signal (an impatient operator) skips the rest of the drain.
            log.info("second %s: ending the drain now", signal.Signals(signum).name)
            self.stop_serving.set()
            return
        self.signalled_at = time.monotonic()
        self.state.shutting_down = True
        log.info(
            "%s received: /ready answers 503, serving %gs more before closing",
            signal.Signals(signum).name,
            self.delay,
        )
        asyncio.get_running_loop().call_later(self.delay, self._drained)

    def _drained(self) -> None:
        log.info("drain delay over: no new connections, finishing in-flight requests")
        self.stop_serving.set()


def check_listen_address(host: str, port: int) -> None:
    """Bind the address once, as Hypercorn will, so a busy port ends the start with one
    line (CannotListen) before Hypercorn has started anything it would fail to stop."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        raise CannotListen(host, port, exc) from None


async def serve(state: AppState) -> None:
    """Serve until SIGTERM (or SIGINT) and the drain are over; CannotListen if the
    address cannot be bound."""
    settings = state.settings
    check_listen_address(settings.host, settings.port)
    app = create_app(state)
    stop_serving = asyncio.Event()
    shutdown = ShutdownSequence(state, settings.shutdown_delay, stop_serving)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, shutdown.on_signal, signum)
    # Everything loaded so far (libraries, the knowledge base) lives as long as the process:
    # move it out of the collector's sight so that full collections, which requests
    # trigger now and then, do not walk it every time. No collection first: it would walk
    # all of it once more (tens of ms) to free a few thousand cyclic objects, which stay.
    gc.freeze()
    gc.enable()  # python -m service starts with the collector off (service/__main__.py)
    log.info("serving on %s:%d", settings.host, settings.port)
    try:
        await hypercorn_serve(app, hypercorn_config(settings), shutdown_trigger=stop_serving.wait)  # type: ignore[arg-type]
    except OSError as exc:  # binding: the port is taken, or the address is not this host's
        raise CannotListen(settings.host, settings.port, exc) from None
    if shutdown.signalled_at is not None:
        log.info(
            "stopped serving %.1fs after the signal",
            time.monotonic() - shutdown.signalled_at,
        )
