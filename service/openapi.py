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
        "paths": dict(sorted(paths.items())),
    }
