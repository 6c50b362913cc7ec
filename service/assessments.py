"""CO's own data: assessments (a named run against one compliance framework).

Small on purpose; it gives the service real reads and writes in its own ``co`` schema,
which the upgrade-under-load and rotation tests exercise.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import asyncpg
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from service.state import AppState

MAX_NAME_LENGTH = 200
MAX_FRAMEWORK_ID_LENGTH = 100
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
ASSESSMENTS_PATH = "/api/v1/assessments"


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


async def create_assessment(request: Request) -> Response:
    """Create an assessment from {"name", "framework_id"}; answers 201 with the row."""
    state: AppState = request.app.state.co
    try:
        body = json.loads(await request.body())
    except ValueError:
        return _problem(400, "body is not JSON")
    if not isinstance(body, dict):
        return _problem(400, "body must be a JSON object")
    problems = []
    name = body.get("name")
    framework_id = body.get("framework_id")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_LENGTH:
        problems.append(
            f"name: expected a non-empty string of at most {MAX_NAME_LENGTH} characters"
        )
    if (
        not isinstance(framework_id, str)
        or not framework_id.strip()
        or len(framework_id) > MAX_FRAMEWORK_ID_LENGTH
    ):
        problems.append(
            "framework_id: expected a non-empty string of at most "
            f"{MAX_FRAMEWORK_ID_LENGTH} characters"
        )
    if problems:
        return _problem(422, "; ".join(problems))
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
    try:
        limit = int(request.query_params.get("limit", DEFAULT_PAGE_SIZE))
        before = request.query_params.get("before")
        before_id = int(before) if before is not None else None
    except ValueError:
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
    try:
        assessment_id = int(request.path_params["assessment_id"])
    except ValueError:
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
                {"name": "before", "in": "query", "schema": {"type": "integer"}},
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
                            "properties": {
                                "name": {
                                    "type": "string",
                                    "minLength": 1,
                                    "maxLength": MAX_NAME_LENGTH,
                                },
                                "framework_id": {
                                    "type": "string",
                                    "minLength": 1,
                                    "maxLength": MAX_FRAMEWORK_ID_LENGTH,
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


def routes() -> list[Route]:
    return [
        Route(ASSESSMENTS_PATH, list_assessments, methods=["GET"]),
        Route(ASSESSMENTS_PATH, create_assessment, methods=["POST"]),
        Route(ASSESSMENTS_PATH + "/{assessment_id}", get_assessment, methods=["GET"]),
    ]
