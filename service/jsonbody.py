"""Request bodies as JSON objects the database can take, or a 400/422 naming why not.

json.loads accepts things PostgreSQL and the rest of the service cannot: NUL characters
(text columns refuse them), lone surrogates (not encodable as UTF-8), nesting deep enough
to exhaust the interpreter's stack, and integers of any size. Each is refused here.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 32  # far beyond any body the API defines
# A bigint column's range, the widest integer the API stores.
MIN_INTEGER = -(2**63)
MAX_INTEGER = 2**63 - 1


class BadBody(Exception):
    """The body cannot be used; ``status`` is 400 (not JSON) or 422 (JSON, wrong content)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def usable_text(value: str) -> bool:
    """No NUL character, nothing UTF-8 cannot encode (lone surrogates)."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check(value: Any, depth: int, where: str) -> None:
    if depth > MAX_DEPTH:
        raise BadBody(400, f"body nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        if not usable_text(value):
            raise BadBody(422, f"{where}: NUL characters and lone surrogates are not allowed")
    elif isinstance(value, bool):
        return
    elif isinstance(value, int):
        if not MIN_INTEGER <= value <= MAX_INTEGER:
            raise BadBody(422, f"{where}: integer out of range")
    elif isinstance(value, dict):
        for key, item in value.items():
            if not usable_text(key):
                raise BadBody(422, f"{where}: a key holds NUL or a lone surrogate")
            _check(item, depth + 1, key if where == "body" else f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check(item, depth + 1, f"{where}[{index}]")


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object; BadBody otherwise."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadBody(400, "body is not UTF-8") from None
    try:
        document = json.loads(text)
    except RecursionError:
        raise BadBody(400, f"body nested deeper than {MAX_DEPTH} levels") from None
    except ValueError:  # JSONDecodeError, and integers longer than Python converts
        raise BadBody(400, "body is not JSON") from None
    if not isinstance(document, dict):
        raise BadBody(400, "body must be a JSON object")
    _check(document, 1, "body")
    return document
