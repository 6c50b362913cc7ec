"""The OpenAPI document for /openapi.json, built from the mounted routes.

The route list comes from Starlette's schema generator (``BaseSchemaGenerator.get_endpoints``:
mounts, methods, path converters). Modules that describe their routes in detail export
``OPENAPI_PATHS`` (a Paths Object); any other route gets an entry from its docstring, so
the document never omits a route that exists. The knowledge base's JSON Schema
(``compliance/schema/framework.schema.json``) is published as it is under
``components/schemas``, and the API's schemas refer to it with ``$ref`` (``kb_ref``)
instead of restating its rules.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from starlette.routing import BaseRoute
from starlette.schemas import BaseSchemaGenerator

from service import contract

_KB_DEFS = "#/$defs/"
_COMPONENTS = "#/components/schemas/"

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


def kb_ref(name: str) -> dict[str, str]:
    """A reference to definition ``name`` of the knowledge base's JSON Schema."""
    return {"$ref": _COMPONENTS + name}


def kb_schemas(schema_file: Path) -> dict[str, Any]:
    """The knowledge base schema's ``$defs`` as OpenAPI component schemas, with their
    internal references pointed at ``components/schemas`` (OpenAPI 3.1 schemas are JSON
    Schema 2020-12, so the definitions are used as they are)."""
    document = json.loads(schema_file.read_text(encoding="utf-8"))

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                key: (
                    _COMPONENTS + value.removeprefix(_KB_DEFS)
                    if key == "$ref" and isinstance(value, str) and value.startswith(_KB_DEFS)
                    else rewrite(value)
                )
                for key, value in node.items()
            }
        if isinstance(node, list):
            return [rewrite(item) for item in node]
        return node

    defs: dict[str, Any] = rewrite(document["$defs"])
    return defs


class OpenAPIGenerator(BaseSchemaGenerator):
    """Builds the document from the mounted routes and the modules' descriptions."""

    def __init__(self, described: Mapping[str, Any], schemas: Mapping[str, Any]) -> None:
        self.described = described
        self.schemas = schemas

    def get_schema(self, routes: list[BaseRoute]) -> dict[str, Any]:
        paths: dict[str, Any] = {path: dict(ops) for path, ops in self.described.items()}
        for endpoint in self.get_endpoints(routes):
            operations = paths.setdefault(endpoint.path, {})
            if endpoint.http_method in operations:
                continue
            doc = inspect.getdoc(endpoint.func) or endpoint.func.__name__
            operations[endpoint.http_method] = {
                "summary": doc.splitlines()[0],
                "responses": {"200": {"description": "Success"}},
            }
        return {
            "openapi": "3.1.0",
            "info": {"title": "Cloud Optimizer", "version": contract.VERSION},
            "paths": {path: _secure(path, ops) for path, ops in sorted(paths.items())},
            "components": {
                "schemas": dict(self.schemas),
                "securitySchemes": {
                    SECURITY_SCHEME: {
                        "type": "http",
                        "scheme": "bearer",
                        "description": (
                            "The application secret (APP_SECRET, or the value behind "
                            "APP_SECRET_ARN) as a bearer token"
                        ),
                    }
                },
            },
        }
