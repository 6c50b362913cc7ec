"""The fast path of the knowledge-base schema check: accept a valid file in microseconds.

jsonschema walks every keyword of every control in Python and takes seconds for a
knowledge base of tens of thousands of controls (bench/bench_kb_scale.py: 7.6 s of the
100x load). fastjsonschema compiles the schema to Python code once and answers "valid or
not" about 20 times faster, but says little about why. So service.kb_validation asks it
first and runs jsonschema only for a file it rejects, which keeps every problem reported as
before.

The two must agree on what is valid. fastjsonschema implements draft 2019-09 at most; the
knowledge base's schema is 2020-12. ``compile_acceptor`` therefore returns an acceptor only
for a schema built from keywords whose meaning is the same in both drafts (in the forms
listed), and ``None`` for anything else, so that a schema edited to use a newer keyword
falls back to jsonschema alone instead of being checked by the wrong rules.
tests/service/test_kb_fast.py checks that both agree on valid and broken files.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# Keywords with one meaning in drafts 2019-09 and 2020-12 (validation or annotation only).
# Left out on purpose: "items" in array form and "prefixItems" (their meaning changed in
# 2020-12), "format" (an assertion in fastjsonschema, an annotation in 2020-12),
# "$dynamicRef", "unevaluated*", "dependentSchemas" and "$ref" (inline_local_refs below
# removes local references before the check; one that remains may carry siblings).
SAME_IN_BOTH = frozenset(
    {
        "$schema",
        "$id",
        "$comment",
        "title",
        "description",
        "examples",
        "default",
        "type",
        "enum",
        "const",
        "properties",
        "required",
        "additionalProperties",
        "minProperties",
        "maxProperties",
        "items",
        "minItems",
        "maxItems",
        "uniqueItems",
        "minLength",
        "maxLength",
        "pattern",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "allOf",
        "anyOf",
        "oneOf",
        "not",
        "$defs",
    }
)
# Keywords whose value is a map of names to subschemas, not a schema itself.
_SCHEMA_MAPS = frozenset({"properties", "$defs"})
_SCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf"})
_SCHEMA_VALUES = frozenset({"items", "not", "additionalProperties"})


def _subschemas(key: str, value: Any) -> list[Any] | None:
    """The subschemas under one keyword; None when the value has the wrong shape."""
    if key in _SCHEMA_MAPS:
        return list(value.values()) if isinstance(value, dict) else None
    if key in _SCHEMA_LISTS:
        return value if isinstance(value, list) else None
    if key in _SCHEMA_VALUES:
        return [value]  # "items" as a list is not a schema: refused below
    return []


def uses_only_shared_keywords(schema: Any) -> bool:
    """Whether every subschema of ``schema`` is made of SAME_IN_BOTH keywords only."""
    if isinstance(schema, bool):
        return True
    if not isinstance(schema, dict):
        return False
    for key, value in schema.items():
        children = _subschemas(key, value) if key in SAME_IN_BOTH else None
        if children is None or not all(uses_only_shared_keywords(c) for c in children):
            return False
    return True


def compile_acceptor(schema: Any) -> Callable[[Any], bool] | None:
    """A function that says whether a document is valid, or None (use jsonschema alone)."""
    if not uses_only_shared_keywords(schema):
        return None
    import fastjsonschema  # noqa: PLC0415 - only a start that loads the knowledge base needs it

    try:
        check = fastjsonschema.compile(schema, use_formats=False, detailed_exceptions=False)
    except Exception:  # any schema it cannot compile: jsonschema alone judges it
        return None

    def accepts(document: Any) -> bool:
        try:
            check(document)
        except fastjsonschema.JsonSchemaValueException:
            return False
        return True

    return accepts


def inline_local_refs(schema: Any) -> Any:
    """The schema with every non-recursive ``#/$defs/...`` reference replaced by its target.

    Same meaning, about twice as fast to evaluate: jsonschema resolves a ``$ref`` on every
    use, and the framework schema uses one per field of each of hundreds of controls.
    A recursive reference is left as it is (``$defs`` stays, so it still resolves).
    """
    if not isinstance(schema, dict):
        return schema
    definitions = schema.get("$defs")
    if not isinstance(definitions, dict):
        return schema
    prefix = "#/$defs/"

    def inline(node: Any, expanding: frozenset[str]) -> Any:
        if isinstance(node, list):
            return [inline(item, expanding) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        name = ref[len(prefix) :] if isinstance(ref, str) and ref.startswith(prefix) else None
        if name is not None and name in definitions and name not in expanding:
            target = inline(definitions[name], expanding | {name})
            siblings = {k: inline(v, expanding) for k, v in node.items() if k != "$ref"}
            return {"allOf": [target], **siblings} if siblings else target
        return {key: inline(value, expanding) for key, value in node.items()}

    return inline(schema, frozenset())
