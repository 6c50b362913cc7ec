"""Evaluate the templates' policies as AWS does, with moto's IAM policy evaluator.

``moto.iam.access_control.IAMPolicy`` matches actions and resources with IAM's wildcards
and applies Allow/Deny; two of its simplifications would make a check pass that AWS
fails, so this module works around them (and says how):

- moto returns DENIED for any statement whose condition does not hold (an Allow or a Deny)
  and stops; AWS treats such a statement as not applying. So each statement's conditions
  are checked on their own (with moto's condition classes), its action and resource with
  moto's matcher, and the results are combined the way IAM combines them (an explicit
  Deny wins, else any Allow, else implicit deny).
- moto's condition table knows StringEquals only, ignores every other operator, and treats
  a key missing from the request as satisfied. AWS fails a condition whose key is absent
  (unless the operator ends in IfExists). So the operators these templates use are added
  to moto's table with IAM's semantics (ArnLike/StringLike: case-sensitive wildcards,
  Bool: string comparison), and a statement with a condition key the request lacks does
  not apply. ("IAM JSON policy elements: Condition operators",
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html)

Principals are matched here (moto does not for resource-based policies): a statement of a
key or bucket policy applies to a request only if its Principal names the caller.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from moto.iam import policy_conditions
from moto.iam.access_control import IAMPolicy, PermissionResult
from moto.iam.policy_conditions import TrustRelationShipConditions


def _like(expected: list[str] | str, actual: str) -> bool:
    patterns = expected if isinstance(expected, list) else [expected]
    # IAM wildcards: * any run, ? one character, case-sensitive, no other specials.
    return any(fnmatch.fnmatchcase(actual, p.replace("[", "[[]")) for p in patterns)


def _bool(expected: list[str] | str, actual: str) -> bool:
    values = expected if isinstance(expected, list) else [expected]
    return actual.lower() in [str(v).lower() for v in values]


OPERATORS = {
    "ArnLike": _like,
    "StringLike": _like,
    "ArnEquals": policy_conditions.string_equals_operation,
    "Bool": _bool,
}


@contextmanager
def iam_condition_operators() -> Iterator[None]:
    """moto's condition table with the operators above, for the duration of the block."""
    table = policy_conditions.CONDITION_OPERATIONS
    saved = dict(table)
    table.update(OPERATORS)
    try:
        yield
    finally:
        table.clear()
        table.update(saved)


@dataclass(frozen=True)
class Request:
    """One API call as AWS authorises it."""

    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()
    principal: tuple[str, str] | None = None  # ("Service", "logs....") or ("AWS", arn)


def _names(principal: Any) -> set[tuple[str, str]]:
    if principal == "*":
        return {("*", "*")}
    found = set()
    for kind, value in principal.items():
        for item in value if isinstance(value, list) else [value]:
            found.add((kind, str(item)))
    return found


def _condition_keys(statement: dict[str, Any]) -> set[str]:
    return {key for values in statement.get("Condition", {}).values() for key in values}


def allowed(statements: list[dict[str, Any]], request: Request) -> bool:
    """Would AWS allow ``request`` under these statements (one policy or several)?"""
    context = dict(request.context)
    verdict = False
    for statement in statements:
        if "Principal" in statement and request.principal is not None:
            names = _names(statement["Principal"])
            if ("*", "*") not in names and request.principal not in names:
                continue
        if not _condition_keys(statement) <= set(context):
            continue  # AWS: a condition on a key the request does not carry fails
        conditions = TrustRelationShipConditions(statement.get("Condition", {}))
        if not all(c.verify_condition([context[k] for k in c.context_keys]) for c in conditions):
            continue
        # Action and resource, with the statement's effect, by moto's matcher.
        single = {k: v for k, v in statement.items() if k not in ("Principal", "Condition")}
        result = IAMPolicy(json.dumps({"Version": "2012-10-17", "Statement": [single]}))
        outcome = result.is_action_permitted(request.action, request.resource)
        if outcome == PermissionResult.DENIED:
            return False
        if outcome == PermissionResult.PERMITTED:
            verdict = True
    return verdict


def role_statements(resolved_role: dict[str, Any]) -> list[dict[str, Any]]:
    """Every statement of a role's inline policies (resolved properties)."""
    return [s for p in resolved_role.get("Policies", []) for s in p["PolicyDocument"]["Statement"]]


def allowed_within_boundary(
    statements: list[dict[str, Any]], boundary: list[dict[str, Any]], request: Request
) -> bool:
    """A bounded role: allowed only if its policies *and* its permissions boundary allow it
    ("Evaluating effective permissions with boundaries",
    https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html)."""
    return allowed(statements, request) and allowed(boundary, request)
