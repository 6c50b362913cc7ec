"""The Starlette application: probes, CO's own API and the knowledge-base API."""

from __future__ import annotations

import importlib.util
import logging
from typing import Any

import asyncpg
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from service import assessments, contract, health
from service.db import describe_error
from service.logs import RequestIdMiddleware
from service.openapi import PROBE_PATHS, build_openapi
from service.state import AppState

log = logging.getLogger(__name__)


def _knowledge_base_routes() -> tuple[list[BaseRoute], dict[str, Any]]:
    """service.api's routes (the knowledge-base API), once that module exists."""
    if importlib.util.find_spec("service.api") is None:
        return [], {}
    api = importlib.import_module("service.api")

    return list(api.routes()), dict(getattr(api, "OPENAPI_PATHS", {}))


async def _database_unavailable(request: Request, exc: Exception) -> Response:
    # A request that needed the database while it is down: 503 so clients and load
    # balancers retry elsewhere, and one log line instead of a traceback.
    log.warning("database unavailable for %s: %s", request.url.path, describe_error(exc))
    return JSONResponse({"error": "database unavailable"}, status_code=503)


def create_app(state: AppState) -> Starlette:
    """The ASGI application; ``state`` is reachable as ``request.app.state.co``."""
    kb_routes, kb_paths = _knowledge_base_routes()
    described = {**PROBE_PATHS, **assessments.OPENAPI_PATHS, **kb_paths}
    document: dict[str, Any] = {}

    async def openapi(request: Request) -> Response:
        """The OpenAPI document describing every route."""
        if not document:
            document.update(build_openapi(request.app.routes, described))
        return JSONResponse(document)

    routes: list[BaseRoute] = [
        *health.routes(),
        Route(contract.OPENAPI_PATH, openapi, methods=["GET"], name="openapi"),
        *assessments.routes(),
        *kb_routes,
    ]
    handlers: dict[Any, Any] = {
        exc_type: _database_unavailable
        for exc_type in (
            OSError,
            TimeoutError,
            asyncpg.PostgresConnectionError,
            asyncpg.InterfaceError,
            asyncpg.CannotConnectNowError,
        )
    }
    app = Starlette(
        routes=routes, middleware=[Middleware(RequestIdMiddleware)], exception_handlers=handlers
    )
    app.state.co = state
    return app
