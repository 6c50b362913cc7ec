"""The Starlette application: probes, CO's own API and the knowledge-base API."""

from __future__ import annotations

import copy
import functools
import logging
from typing import Any

import asyncpg
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from service import api, assessments, contract, health, landing
from service.auth import BearerAuthMiddleware
from service.db import UNAVAILABLE_ERRORS, describe_error
from service.guards import RequestGuardMiddleware
from service.kb_validation import SCHEMA_FILE
from service.logs import RequestIdMiddleware
from service.openapi import PROBE_PATHS, OpenAPIGenerator, kb_schemas
from service.secrets import SecretError
from service.state import AppState

log = logging.getLogger(__name__)


async def _database_unavailable(request: Request, exc: Exception) -> Response:
    # A request that needed the database while it is down or its connection was killed:
    # 503 with Retry-After so clients and load balancers retry, never a 500, and one log
    # line instead of a traceback.
    log.warning("database unavailable for %s: %s", request.url.path, describe_error(exc))
    return api.unavailable("database unavailable")


class AllowedMethodsMiddleware:
    """OPTIONS answers 204 with the methods the path really serves, in ``Allow``."""

    def __init__(self, app: ASGIApp, routes: list[BaseRoute]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "OPTIONS":
            methods: set[str] = set()
            for route in self.routes:
                match, _ = route.matches(scope)
                if match != Match.NONE and isinstance(route, Route):
                    methods.update(route.methods or ())
            if methods:
                allow = ", ".join(sorted(methods | {"OPTIONS"}))
                await send(
                    {
                        "type": "http.response.start",
                        "status": 204,
                        "headers": [(b"allow", allow.encode())],
                    }
                )
                await send({"type": "http.response.body", "body": b""})
                return
        await self.app(scope, receive, send)


def create_app(state: AppState) -> Starlette:
    """The ASGI application; ``state`` is reachable as ``request.app.state.co``."""
    described = {**PROBE_PATHS, **assessments.OPENAPI_PATHS, **api.OPENAPI_PATHS}
    described |= landing.OPENAPI_PATHS
    document: dict[str, Any] = {}

    @functools.cache
    def component_schemas() -> dict[str, Any]:
        # Read once per process: the schema file is baked into the image.
        return kb_schemas(state.settings.compliance_dir / SCHEMA_FILE)

    async def openapi(request: Request) -> Response:
        """The OpenAPI document describing every route."""
        if not document:
            generator = OpenAPIGenerator(described, component_schemas())
            # A copy: the generator hands back the modules' own description dicts, and the
            # framework ids written into it must not stick to them (nor to another app).
            built = copy.deepcopy(generator.get_schema(request.app.routes))
            try:
                assessments.describe_framework_ids(built, await api.framework_ids(request))
            except api.KnowledgeBaseUnavailable:
                return JSONResponse(built)  # complete once the knowledge base can be read
            document.update(built)
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
            # STATEMENT_TIMEOUT ended a query: the database is too slow right now.
            asyncpg.QueryCanceledError,
        )
    }
    # Outermost first: the request id and response headers cover every answer below; no
    # body is read and no route is looked up before the caller is authenticated.
    middleware = [
        Middleware(RequestIdMiddleware),
        Middleware(BearerAuthMiddleware, tokens=state.tokens),
        Middleware(RequestGuardMiddleware, max_body_bytes=state.settings.max_body_bytes),
        Middleware(AllowedMethodsMiddleware, routes=routes),
    ]
    app = Starlette(routes=routes, middleware=middleware, exception_handlers=handlers)
    app.state.co = state
    return app
