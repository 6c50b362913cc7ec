"""The OpenAPI document for /openapi.json, built from the mounted routes.

Modules that describe their routes in detail export ``OPENAPI_PATHS`` (a Paths Object);
any other route gets an entry from its path, methods and docstring, so the document
never omits a route that exists.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable, Mapping
from typing import Any

from starlette.routing import BaseRoute, Mount, Route

from service import contract

_CONVERTER = re.compile(r"\{([^}:]+):[^}]+\}")

PROBE_PATHS: dict[str, Any] = {
    contract.HEALTH_PATH: {
        "get": {
            "summary": "Liveness: 200 whenever the process can serve",
            "responses": {
                "200": {
                    "description": (
                        "Status of each component "
                        "(database, ib_platform, redis, marketplace_licence)"
                    ),
                    "content": {"application/health+json": {"schema": {"type": "object"}}},
                }
            },
        }
    },
    contract.READY_PATH: {
        "get": {
            "summary": "Readiness: 200 only when every dependency is up",
            "responses": {
                "200": {"description": "Ready for traffic"},
                "503": {"description": "Not ready; the body names what failed"},
            },
        }
    },
    contract.OPENAPI_PATH: {
        "get": {
            "summary": "This document",
            "responses": {"200": {"description": "OpenAPI 3.1 document"}},
        }
    },
}


def _walk(routes: Iterable[BaseRoute], prefix: str = "") -> Iterable[tuple[str, Route]]:
    for route in routes:
        if isinstance(route, Mount):
            yield from _walk(route.routes, prefix + route.path)
        elif isinstance(route, Route):
            yield prefix + route.path, route


SECURITY_SCHEME = "bearerAuth"
_ERROR_BODY = {
    "application/json": {
        "schema": {
            "type": "object",
            "required": ["error"],
            "properties": {"error": {"type": "string"}},
        }
    }
}
# Answers any /api/ operation may give besides its own: no or a wrong token, and the
# database or knowledge base being unavailable.
_API_RESPONSES: dict[str, Any] = {
    "401": {
        "description": "Missing, malformed or wrong bearer token (the application secret)",
        "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
        "content": _ERROR_BODY,
    },
    "503": {
        "description": "Database or knowledge base unavailable; retry after Retry-After",
        "content": _ERROR_BODY,
    },
}
# And a write's: a body too large, too slow, or not JSON.
_WRITE_RESPONSES: dict[str, Any] = {
    "408": {"description": "The request body did not arrive in time", "content": _ERROR_BODY},
    "413": {"description": "The body is larger than MAX_BODY_BYTES", "content": _ERROR_BODY},
    "415": {"description": "Content-Type is not application/json", "content": _ERROR_BODY},
}


def _secure(path: str, operations: dict[str, Any]) -> dict[str, Any]:
    """An /api/ path's operations with the bearer requirement and its answers."""
    if not path.startswith("/api/"):
        return operations
    secured: dict[str, Any] = {}
    for verb, operation in operations.items():
        extra = {**_API_RESPONSES, **(_WRITE_RESPONSES if verb in ("post", "put", "patch") else {})}
        secured[verb] = {
            **operation,
            "security": [{SECURITY_SCHEME: []}],
            "responses": {**extra, **operation.get("responses", {})},
        }
    return secured


def build_openapi(routes: Iterable[BaseRoute], described: Mapping[str, Any]) -> dict[str, Any]:
    paths: dict[str, Any] = {path: dict(ops) for path, ops in described.items()}
    for raw_path, route in _walk(routes):
        path = _CONVERTER.sub(r"{\1}", raw_path)
        operations = paths.setdefault(path, {})
        doc = inspect.getdoc(route.endpoint) or route.name
        for method in sorted(route.methods or ()):
            verb = method.lower()
            if verb == "head" or verb in operations:
                continue
            operations[verb] = {
                "summary": doc.splitlines()[0],
                "responses": {"200": {"description": "Success"}},
            }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Cloud Optimizer", "version": contract.VERSION},
        "paths": {path: _secure(path, ops) for path, ops in sorted(paths.items())},
        "components": {
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "description": (
                        "The application secret (APP_SECRET, or the value behind "
                        "APP_SECRET_ARN) as a bearer token"
                    ),
                }
            }
        },
    }
