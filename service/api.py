"""The knowledge-base HTTP API: frameworks and controls, read from IB.

Every answer is JSON. Bad parameters get 400 and unknown ids 404, each with
``{"error": "..."}`` naming the problem; when the knowledge base cannot be read (not loaded
yet, database down) the answer is 503, never a 500. ``OPENAPI_PATHS`` describes these
routes for /openapi.json (service.app merges it into the document).
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

import asyncpg
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from service.catalogue import Catalogue, ControlQuery, read_catalogue
from service.db import UNAVAILABLE_ERRORS
from service.ib import IBError, IBPlatform
from service.openapi import kb_ref

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
FRAMEWORKS_PATH = f"{API_PREFIX}/frameworks"
CONTROLS_PATH = f"{API_PREFIX}/controls"
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
# Beyond any real knowledge base; keeps the value well inside PostgreSQL's integer range.
MAX_OFFSET = 1_000_000
MAX_TEXT_LENGTH = 200
CONTROL_PARAMETERS = ("framework", "service", "q", "limit", "offset")
_CONTROL_PARAMETER_SET = frozenset(CONTROL_PARAMETERS)


class BadParameter(Exception):
    """A query parameter the API cannot use; the message says which and why."""


# Seconds a client should wait before retrying a 503: a killed connection is replaced at
# once by the pool, and a database that is down for longer is re-tried as often as the
# probes check it (contract.HEALTH_CACHE_TTL).
RETRY_AFTER_SECONDS = 2


ECHO_LENGTH = 64  # characters of a client's value an error message repeats


def quoted(value: str) -> str:
    """A client's value for an error message: its repr, cut after ECHO_LENGTH characters.

    A parameter name, an id or a JSON key can be as long as the request line or the body
    allows (kilobytes); the error names it without sending it all back."""
    if len(value) <= ECHO_LENGTH:
        return repr(value)
    return f"{value[:ECHO_LENGTH]!r}... ({len(value)} characters)"


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def unavailable(message: str) -> JSONResponse:
    """503 with a JSON error and Retry-After: the request may succeed when repeated."""
    return JSONResponse(
        {"error": message},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _usable_text(value: str) -> bool:
    """Text PostgreSQL can take: no NUL character, nothing that UTF-8 cannot encode.

    Other control characters are harmless in a search and simply match nothing.
    """
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates from a bad percent-encoding
        return False
    return True


def _parameters(request: Request) -> dict[str, list[str]]:
    """Every query parameter's values, parsed as Starlette's ``request.query_params`` does
    (the query string as Latin-1, then ``parse_qsl`` keeping blank values), in one pass:
    the multi-dict and a scan of it per parameter cost more than the search they precede."""
    found: dict[str, list[str]] = {}
    query = request.scope["query_string"].decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True):
        found.setdefault(name, []).append(value)
    return found


def _text_parameter(parameters: dict[str, list[str]], name: str) -> str | None:
    values = parameters.get(name, ())
    if len(values) > 1:
        raise BadParameter(f"{name}: give it at most once")
    if not values or values[0] == "":
        return None
    value = values[0]
    if len(value) > MAX_TEXT_LENGTH:
        raise BadParameter(f"{name}: at most {MAX_TEXT_LENGTH} characters")
    if not _usable_text(value):
        raise BadParameter(f"{name}: NUL characters are not allowed")
    return value


def _integer_parameter(
    parameters: dict[str, list[str]], name: str, default: int, minimum: int, maximum: int
) -> int:
    values = parameters.get(name, ())
    if len(values) > 1:
        raise BadParameter(f"{name}: give it at most once")
    if not values:
        return default
    raw = values[0]
    if not raw.isascii() or not raw.isdigit() or len(raw) > len(str(maximum)):
        raise BadParameter(
            f"{name}: expected an integer from {minimum} to {maximum}, got {quoted(raw)}"
        )
    value = int(raw)
    if not minimum <= value <= maximum:
        raise BadParameter(f"{name}: expected an integer from {minimum} to {maximum}, got {value}")
    return value


def _control_query(request: Request) -> ControlQuery:
    parameters = _parameters(request)
    unknown = sorted(parameters.keys() - _CONTROL_PARAMETER_SET)
    if unknown:
        allowed = ", ".join(CONTROL_PARAMETERS)
        raise BadParameter(f"unknown parameter {quoted(unknown[0])}; allowed: {allowed}")
    return ControlQuery(
        framework=_text_parameter(parameters, "framework"),
        service=_text_parameter(parameters, "service"),
        text=_text_parameter(parameters, "q"),
        limit=_integer_parameter(parameters, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
        offset=_integer_parameter(parameters, "offset", 0, 0, MAX_OFFSET),
    )


def _encode(value: object) -> bytes:
    """JSON as Starlette's JSONResponse writes it."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


class _EncodedCatalogue:
    """A catalogue with every document already encoded as JSON.

    The documents never change while a catalogue is served, so each is encoded once and
    a listing page is assembled from encoded pieces instead of re-encoding ~20 KB of
    controls per request.
    """

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        frameworks = catalogue.frameworks()
        self.frameworks = _encode({"total": len(frameworks), "items": frameworks})
        self.framework = {f["id"]: _encode(f) for f in frameworks}
        controls = catalogue.documents()
        # By position, as Catalogue.page answers: a page is joined without a look-up by id.
        self.control_items = [_encode(c) for c in controls]
        self.control_detail = {c["id"]: _encode(catalogue.control(c["id"])) for c in controls}

    def controls_page(self, query: ControlQuery) -> bytes:
        total, page = self.catalogue.page(query)
        return b'{"total":%d,"limit":%d,"offset":%d,"items":[%s]}' % (
            total,
            query.limit,
            query.offset,
            b",".join(map(self.control_items.__getitem__, page)),
        )


Handler = Callable[[Request, _EncodedCatalogue], Response]


class _CatalogueCache:
    """The catalogue this process serves, read from IB once per loaded knowledge base.

    Rebuilt when service.startup swaps ``state.kb`` for another status object; one reader
    at a time so that a burst of first requests causes one read, not one each.
    """

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.status: object | None = None
        self.catalogue: _EncodedCatalogue | None = None

    async def get(
        self, status: object, ib: IBPlatform, pinned: Catalogue | None = None
    ) -> _EncodedCatalogue | None:
        """``pinned``: the catalogue read at start, served instead of what IB holds now
        (another release's replica may have loaded another version since)."""
        if self.status is status and self.catalogue is not None:
            return self.catalogue
        async with self.lock:
            if self.status is not status or self.catalogue is None:
                catalogue = pinned if pinned is not None else await read_catalogue(ib)
                self.catalogue = None if catalogue is None else _EncodedCatalogue(catalogue)
                self.status = status
                # Out of the cyclic collector's sight, like what service.serve.serve
                # freezes, so that full collections do not walk the catalogue's hundreds
                # of thousands of objects (p99 spikes at 100x). A replaced catalogue is
                # still freed: it holds no cycles, and reference counting frees it.
                gc.freeze()
        return self.catalogue


def _cache(request: Request) -> _CatalogueCache:
    cache: _CatalogueCache | None = getattr(request.app.state, "kb_catalogue", None)
    if cache is None:
        cache = _CatalogueCache()
        request.app.state.kb_catalogue = cache
    return cache


# Any database error while reading the catalogue (not only a lost connection): the
# knowledge base is unavailable, the request itself is fine.
_CATALOGUE_UNAVAILABLE: tuple[type[BaseException], ...] = (
    IBError,
    asyncpg.PostgresError,
    *UNAVAILABLE_ERRORS,
)


class KnowledgeBaseUnavailable(Exception):
    """The catalogue could not be read; the message says why, in words for a client."""


async def _catalogue(request: Request) -> _EncodedCatalogue:
    """The catalogue this process serves; KnowledgeBaseUnavailable when it cannot be read
    (not loaded yet, database down)."""
    state = request.app.state.co
    ib, status = state.ib, state.kb
    if not isinstance(ib, IBPlatform) or status is None:
        raise KnowledgeBaseUnavailable("knowledge base not loaded yet")
    try:
        catalogue = await _cache(request).get(status, ib, state.catalogue)
    except _CATALOGUE_UNAVAILABLE as exc:
        log.warning("knowledge base unavailable for %s: %s", request.url.path, exc)
        raise KnowledgeBaseUnavailable("knowledge base unavailable") from None
    if catalogue is None:
        raise KnowledgeBaseUnavailable("knowledge base not loaded yet")
    return catalogue


async def framework_ids(request: Request) -> frozenset[str]:
    """The ids of the frameworks this process serves (KnowledgeBaseUnavailable as above)."""
    return frozenset((await _catalogue(request)).framework)


def _knowledge_base_endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Give a handler the catalogue; turn every way of not reaching it into 400 or 503."""

    async def endpoint(request: Request) -> Response:
        try:
            catalogue = await _catalogue(request)
        except KnowledgeBaseUnavailable as exc:
            return unavailable(str(exc))
        try:
            return handler(request, catalogue)
        except BadParameter as exc:
            return _error(400, str(exc))

    endpoint.__name__ = handler.__name__
    endpoint.__doc__ = handler.__doc__
    return endpoint


def _json_bytes(body: bytes) -> Response:
    return Response(body, media_type="application/json")


def list_frameworks(request: Request, catalogue: _EncodedCatalogue) -> Response:
    """Every compliance framework in the knowledge base."""
    if request.query_params:
        raise BadParameter(f"unknown parameter {quoted(next(iter(request.query_params)))}")
    return _json_bytes(catalogue.frameworks)


def get_framework(request: Request, catalogue: _EncodedCatalogue) -> Response:
    """One framework by its id."""
    framework_id: str = request.path_params["id"]
    found = catalogue.framework.get(framework_id)
    if found is None:
        return _error(404, f"no framework with id {quoted(framework_id)}")
    return _json_bytes(found)


def list_controls(request: Request, catalogue: _EncodedCatalogue) -> Response:
    """Controls filtered by framework and AWS service, searched by id and title, paged."""
    return _json_bytes(catalogue.controls_page(_control_query(request)))


def get_control(request: Request, catalogue: _EncodedCatalogue) -> Response:
    """One control by its global key, with its mappings in both directions."""
    key: str = request.path_params["id"]
    found = catalogue.control_detail.get(key)
    if found is None:
        return _error(404, f"no control with id {quoted(key)}")
    return _json_bytes(found)


def routes() -> list[BaseRoute]:
    return [
        Route(FRAMEWORKS_PATH, _knowledge_base_endpoint(list_frameworks), methods=["GET"]),
        Route(FRAMEWORKS_PATH + "/{id}", _knowledge_base_endpoint(get_framework), methods=["GET"]),
        Route(CONTROLS_PATH, _knowledge_base_endpoint(list_controls), methods=["GET"]),
        Route(CONTROLS_PATH + "/{id}", _knowledge_base_endpoint(get_control), methods=["GET"]),
    ]


# --- OpenAPI description ------------------------------------------------------------------

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}},
}


def _array_of(definition: str) -> dict[str, Any]:
    return {"type": "array", "items": kb_ref(definition)}


# The API's shapes, field by field from the knowledge base's JSON Schema (kb_ref): a
# field's rules are written once, in compliance/schema/framework.schema.json.
_FRAMEWORK = {
    "type": "object",
    "required": ["id", "name", "version", "publisher", "description", "control_count"],
    "properties": {
        "id": kb_ref("frameworkId"),
        "name": kb_ref("text"),
        "version": kb_ref("text"),
        "publisher": kb_ref("text"),
        "description": kb_ref("text"),
        "control_count": {"type": "integer", "minimum": 0},
    },
}
_CONTROL_PROPERTIES: dict[str, Any] = {
    "id": {**kb_ref("mapping"), "description": "Global key <framework id>:<control id>"},
    "framework": kb_ref("frameworkId"),
    "control_id": kb_ref("controlId"),
    "title": kb_ref("text"),
    "severity": kb_ref("severity"),
    "services": _array_of("service"),
    "resource_types": _array_of("resourceType"),
    "description": kb_ref("text"),
}
_CONTROL = {
    "type": "object",
    "required": list(_CONTROL_PROPERTIES),
    "properties": _CONTROL_PROPERTIES,
}
_MAPPED_CONTROL = {
    "type": "object",
    "required": ["id", "framework", "control_id", "title"],
    "properties": {
        name: _CONTROL_PROPERTIES[name] for name in ("id", "framework", "control_id", "title")
    },
}
_CONTROL_WITH_MAPPINGS = {
    "type": "object",
    "required": [*_CONTROL_PROPERTIES, "mappings"],
    "properties": {
        **_CONTROL_PROPERTIES,
        "mappings": {
            "type": "object",
            "required": ["maps_to", "mapped_from"],
            "properties": {
                "maps_to": {
                    "description": "Controls this control lists as related",
                    "type": "array",
                    "items": _MAPPED_CONTROL,
                },
                "mapped_from": {
                    "description": "Controls that list this control as related",
                    "type": "array",
                    "items": _MAPPED_CONTROL,
                },
            },
        },
    },
}


def _json(description: str, schema: Mapping[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _page(item: Mapping[str, Any], *, paged: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "total": {"type": "integer", "minimum": 0, "description": "Matches in all pages"},
        "items": {"type": "array", "items": item},
    }
    if paged:
        properties["limit"] = {"type": "integer"}
        properties["offset"] = {"type": "integer"}
    return {"type": "object", "required": list(properties), "properties": properties}


_UNAVAILABLE = _json("The knowledge base is not loaded or the database is down", _ERROR)
_BAD_REQUEST = _json("A parameter is invalid; the error names it", _ERROR)
_NOT_FOUND = _json("No such id", _ERROR)
# What _usable_text accepts, as a JSON Schema pattern.
_NO_NUL = "^[^\\u0000]*$"
_ID_PARAMETER = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}


def _text_query(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": "string", "maxLength": MAX_TEXT_LENGTH, "pattern": _NO_NUL},
    }


OPENAPI_PATHS: dict[str, Any] = {
    FRAMEWORKS_PATH: {
        "get": {
            "summary": list_frameworks.__doc__,
            "operationId": "listFrameworks",
            "tags": ["knowledge base"],
            "responses": {
                "200": _json("The frameworks", _page(_FRAMEWORK, paged=False)),
                "400": _BAD_REQUEST,
                "503": _UNAVAILABLE,
            },
        }
    },
    FRAMEWORKS_PATH + "/{id}": {
        "get": {
            "summary": get_framework.__doc__,
            "operationId": "getFramework",
            "tags": ["knowledge base"],
            "parameters": [_ID_PARAMETER],
            "responses": {
                "200": _json("The framework", _FRAMEWORK),
                "404": _NOT_FOUND,
                "503": _UNAVAILABLE,
            },
        }
    },
    CONTROLS_PATH: {
        "get": {
            "summary": list_controls.__doc__,
            "operationId": "listControls",
            "tags": ["knowledge base"],
            "parameters": [
                _text_query("framework", "Only controls of this framework id"),
                _text_query("service", "Only controls that apply to this AWS service key"),
                _text_query("q", "Case-insensitive text in the control's id or title"),
                {
                    "name": "limit",
                    "in": "query",
                    "required": False,
                    "schema": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": MAX_LIMIT,
                        "default": DEFAULT_LIMIT,
                    },
                },
                {
                    "name": "offset",
                    "in": "query",
                    "required": False,
                    "schema": {
                        "type": "integer",
                        "minimum": 0,
                        "maximum": MAX_OFFSET,
                        "default": 0,
                    },
                },
            ],
            "responses": {
                "200": _json("One page of matching controls", _page(_CONTROL, paged=True)),
                "400": _BAD_REQUEST,
                "503": _UNAVAILABLE,
            },
        }
    },
    CONTROLS_PATH + "/{id}": {
        "get": {
            "summary": get_control.__doc__,
            "operationId": "getControl",
            "tags": ["knowledge base"],
            "parameters": [_ID_PARAMETER],
            "responses": {
                "200": _json("The control and its mappings", _CONTROL_WITH_MAPPINGS),
                "404": _NOT_FOUND,
                "503": _UNAVAILABLE,
            },
        }
    },
}
