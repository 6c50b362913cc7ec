"""The Starlette application: probes, CO's own API and the knowledge-base API."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from service import api, assessments, contract, health, landing
from service.db import UNAVAILABLE_ERRORS, describe_error
from service.logs import RequestIdMiddleware
from service.openapi import PROBE_PATHS, build_openapi
from service.secrets import SecretError
from service.state import AppState

log = logging.getLogger(__name__)


async def _database_unavailable(request: Request, exc: Exception) -> Response:
    # A request that needed the database while it is down or its connection was killed:
    # 503 with Retry-After so clients and load balancers retry, never a 500, and one log
    # line instead of a traceback.
    log.warning("database unavailable for %s: %s", request.url.path, describe_error(exc))
    return api.unavailable("database unavailable")


def create_app(state: AppState) -> Starlette:
    """The ASGI application; ``state`` is reachable as ``request.app.state.co``."""
    described = {**PROBE_PATHS, **assessments.OPENAPI_PATHS, **api.OPENAPI_PATHS}
    described |= landing.OPENAPI_PATHS
    document: dict[str, Any] = {}

    async def openapi(request: Request) -> Response:
        """The OpenAPI document describing every route."""
        if not document:
            document.update(build_openapi(request.app.routes, described))
        return JSONResponse(document)

    routes: list[BaseRoute] = [
        *health.routes(),
        *landing.routes(),
        Route(contract.OPENAPI_PATH, openapi, methods=["GET"], name="openapi"),
        *assessments.routes(),
        *api.routes(),
    ]
    handlers: dict[Any, Any] = {
        exc_type: _database_unavailable
        for exc_type in (
            *UNAVAILABLE_ERRORS,
            # The password was rejected even after re-reading the secret, or the secret
            # could not be re-read: either way the database cannot be used right now.
            asyncpg.InvalidAuthorizationSpecificationError,
            SecretError,
        )
    }
    app = Starlette(
        routes=routes, middleware=[Middleware(RequestIdMiddleware)], exception_handlers=handlers
    )
    app.state.co = state
    return app
