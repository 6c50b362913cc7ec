"""CO's own data: assessments (a named run against one compliance framework).

Small on purpose; it gives the service real reads and writes in its own ``co`` schema,
which the upgrade-under-load and rotation tests exercise.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import asyncpg
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from service import api
from service.guards import json_media_type
from service.jsonbody import MAX_INTEGER, BadBody, parse_json_object, usable_text
from service.state import AppState

MAX_NAME_LENGTH = 200
MAX_FRAMEWORK_ID_LENGTH = 100
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
ASSESSMENTS_PATH = "/api/v1/assessments"
# At least one character that is whitespace in neither Python's nor ECMAScript's regular
# expressions (the schema's readers use the latter: Python's \S also refuses \x85 and
# \x1c-\x1f, which ECMAScript's accepts), and no NUL.
_BLANK = (
    r"\x00\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a"
    r"\u2028\u2029\u202f\u205f\u3000\ufeff"
)
NAME_PATTERN = rf"^[^\x00]*[^{_BLANK}][^\x00]*$"
_NAME = re.compile(NAME_PATTERN, re.DOTALL)


def _row(record: asyncpg.Record) -> dict[str, Any]:
    created: datetime = record["created_at"]
    return {
        "id": record["id"],
        "name": record["name"],
        "framework_id": record["framework_id"],
        "created_at": created.isoformat(),
    }


def _problem(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"error": detail}, status_code=status)


def _decimal(text: str) -> int | None:
    """A positive id or count in ASCII digits that fits a bigint, else None.

    int() would also take "+5", " 5", "1_0" and non-ASCII digits, and any size.
    """
    if not text.isascii() or not text.isdigit() or len(text) > len(str(MAX_INTEGER)):
        return None
    value = int(text)
    return value if value <= MAX_INTEGER else None


def describe_framework_ids(document: dict[str, Any], framework_ids: frozenset[str]) -> None:
    """Put the framework ids this process serves into the document's request schema."""
    post = document["paths"][ASSESSMENTS_PATH]["post"]
    schema = post["requestBody"]["content"]["application/json"]["schema"]
    schema["properties"]["framework_id"] = {
        **schema["properties"]["framework_id"],
        "enum": sorted(framework_ids),
    }


def _field_problems(body: dict[str, Any]) -> list[str]:
    """What is wrong with the fields, in the terms of the documented schema."""
    unknown = sorted(set(body) - {"name", "framework_id"})
    if unknown:
        return [f"unknown field {api.quoted(unknown[0])}; allowed: name, framework_id"]
    problems = []
    name = body.get("name")
    framework_id = body.get("framework_id")
    if (
        not isinstance(name, str)
        or len(name) > MAX_NAME_LENGTH
        or not usable_text(name)
        or _NAME.fullmatch(name) is None
    ):
        problems.append(
            f"name: expected a non-blank string of at most {MAX_NAME_LENGTH} characters"
        )
    if (
        not isinstance(framework_id, str)
        or not framework_id
        or len(framework_id) > MAX_FRAMEWORK_ID_LENGTH
    ):
        problems.append(
            "framework_id: expected a non-empty string of at most "
            f"{MAX_FRAMEWORK_ID_LENGTH} characters"
        )
    return problems


async def create_assessment(request: Request) -> Response:
    """Create an assessment from {"name", "framework_id"}; answers 201 with the row."""
    state: AppState = request.app.state.co
    if not json_media_type(request.headers.get("content-type", "").encode("latin-1")):
        return _problem(415, "Content-Type must be application/json")
    try:
        body = parse_json_object(await request.body())
    except BadBody as exc:
        return _problem(exc.status, str(exc))
    problems = _field_problems(body)
    if problems:
        return _problem(422, "; ".join(problems))
    framework_id = body["framework_id"]
    name = body["name"]
    assert isinstance(framework_id, str)
    try:
        frameworks = await api.framework_ids(request)
    except api.KnowledgeBaseUnavailable as exc:
        return api.unavailable(str(exc))
    if framework_id not in frameworks:
        return _problem(
            422, f"framework_id: no framework {api.quoted(framework_id)} in the knowledge base"
        )
    async with state.db.connection() as conn:
        record = await conn.fetchrow(
            "INSERT INTO co.assessment (name, framework_id) VALUES ($1, $2) "
            "RETURNING id, name, framework_id, created_at",
            name,
            framework_id,
        )
    assert record is not None
    return JSONResponse(_row(record), status_code=201)


async def list_assessments(request: Request) -> Response:
    """Assessments, newest first; ``limit`` (1-500) and ``before`` (an id) page through them."""
    state: AppState = request.app.state.co
    limit_text = request.query_params.get("limit", str(DEFAULT_PAGE_SIZE))
    before = request.query_params.get("before")
    limit = _decimal(limit_text)
    before_id = _decimal(before) if before is not None else None
    if limit is None or (before is not None and before_id is None):
        return _problem(400, "limit and before must be integers")
    if not 1 <= limit <= MAX_PAGE_SIZE:
        return _problem(400, f"limit must be between 1 and {MAX_PAGE_SIZE}")
    async with state.db.connection() as conn:
        records = await conn.fetch(
            "SELECT id, name, framework_id, created_at FROM co.assessment "
            "WHERE $1::bigint IS NULL OR id < $1 ORDER BY id DESC LIMIT $2",
            before_id,
            limit,
        )
    return JSONResponse({"items": [_row(r) for r in records]})


async def get_assessment(request: Request) -> Response:
    """One assessment by id, or 404."""
    state: AppState = request.app.state.co
    assessment_id = _decimal(request.path_params["assessment_id"])
    if assessment_id is None:
        return _problem(404, "no such assessment")
    async with state.db.connection() as conn:
        record = await conn.fetchrow(
            "SELECT id, name, framework_id, created_at FROM co.assessment WHERE id = $1",
            assessment_id,
        )
    if record is None:
        return _problem(404, "no such assessment")
    return JSONResponse(_row(record))


_ASSESSMENT_SCHEMA = {
    "type": "object",
    "required": ["id", "name", "framework_id", "created_at"],
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "framework_id": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
    },
}

OPENAPI_PATHS: dict[str, Any] = {
    ASSESSMENTS_PATH: {
        "get": {
            "summary": "List assessments, newest first",
            "parameters": [
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
                },
                {
                    "name": "before",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 0, "maximum": MAX_INTEGER},
                },
            ],
            "responses": {
                "200": {
                    "description": "A page of assessments",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "items": {"type": "array", "items": _ASSESSMENT_SCHEMA}
                                },
                            }
                        }
                    },
                },
                "400": {"description": "Bad paging parameters"},
            },
        },
        "post": {
            "summary": "Create an assessment",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["name", "framework_id"],
                            "additionalProperties": False,
                            "properties": {
                                "name": {
                                    "type": "string",
                                    "minLength": 1,
                                    "maxLength": MAX_NAME_LENGTH,
                                    # Not blank, no NUL (PostgreSQL text cannot hold one).
                                    "pattern": NAME_PATTERN,
                                },
                                "framework_id": {
                                    "type": "string",
                                    "minLength": 1,
                                    "maxLength": MAX_FRAMEWORK_ID_LENGTH,
                                    "description": (
                                        "The id of a framework in the knowledge base "
                                        "(GET /api/v1/frameworks); /openapi.json lists "
                                        "the ids this release serves"
                                    ),
                                },
                            },
                        }
                    }
                },
            },
            "responses": {
                "201": {
                    "description": "Created",
                    "content": {"application/json": {"schema": _ASSESSMENT_SCHEMA}},
                },
                "400": {"description": "Body is not a JSON object"},
                "422": {"description": "A field is missing or invalid"},
            },
        },
    },
    ASSESSMENTS_PATH + "/{assessment_id}": {
        "get": {
            "summary": "One assessment",
            "parameters": [
                {
                    "name": "assessment_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "integer"},
                }
            ],
            "responses": {
                "200": {
                    "description": "The assessment",
                    "content": {"application/json": {"schema": _ASSESSMENT_SCHEMA}},
                },
                "404": {"description": "No such assessment"},
            },
        },
    },
}


async def assessments(request: Request) -> Response:
    """List (GET) or create (POST) assessments."""
    if request.method == "POST":
        return await create_assessment(request)
    return await list_assessments(request)


def routes() -> list[Route]:
    # One route per path, so that 405's Allow and OPTIONS list every method the path serves.
    return [
        Route(ASSESSMENTS_PATH, assessments, methods=["GET", "POST"]),
        Route(ASSESSMENTS_PATH + "/{assessment_id}", get_assessment, methods=["GET"]),
    ]
