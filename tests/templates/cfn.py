"""Helpers to read generated templates as plain dicts (what CloudFormation receives)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

Doc = dict[str, Any]


def resources(template: Doc, type_: str | None = None) -> dict[str, Doc]:
    """The template's resources, optionally only those of one type."""
    found: dict[str, Doc] = template.get("Resources", {})
    return {k: v for k, v in found.items() if type_ is None or v["Type"] == type_}


def one(template: Doc, type_: str) -> tuple[str, Doc]:
    """The only resource of this type (fails when there are none or several)."""
    found = resources(template, type_)
    assert len(found) == 1, f"expected one {type_}, found {sorted(found)}"
    return next(iter(found.items()))


def props(resource: Doc) -> Doc:
    found: Doc = resource.get("Properties", {})
    return found


def walk(node: Any) -> Iterator[Any]:
    """Every dict and list inside ``node``, depth first, ``node`` included."""
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def policy_statements(template: Doc) -> Iterator[tuple[str, Doc]]:
    """(resource title, statement) for every IAM, key and bucket policy statement."""
    for title, resource in resources(template).items():
        for node in walk(resource.get("Properties", {})):
            if isinstance(node, dict) and "Statement" in node and "Version" in node:
                for entry in node["Statement"]:
                    # An optional statement is [condition, statement, AWS::NoValue].
                    optional = isinstance(entry, dict) and "Fn::If" in entry
                    yield title, entry["Fn::If"][1] if optional else entry


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def security_group_rules(template: Doc) -> Iterator[tuple[str, str, Doc]]:
    """(resource title, "ingress"/"egress", rule) for inline and standalone rules."""
    for title, resource in resources(template).items():
        p = props(resource)
        if resource["Type"] == "AWS::EC2::SecurityGroup":
            for direction, key in (
                ("ingress", "SecurityGroupIngress"),
                ("egress", "SecurityGroupEgress"),
            ):
                for rule in p.get(key, []):
                    yield title, direction, rule
        elif resource["Type"] == "AWS::EC2::SecurityGroupIngress":
            yield title, "ingress", p
        elif resource["Type"] == "AWS::EC2::SecurityGroupEgress":
            yield title, "egress", p


def matches(pattern: str, value: str) -> bool:
    """Does a CloudFormation AllowedPattern accept ``value`` (whole-string match)?"""
    return re.fullmatch(pattern, value) is not None
