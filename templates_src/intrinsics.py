"""Resolve CloudFormation intrinsic functions the way CloudFormation does, offline.

What a value is on AWS depends on parameters, pseudo parameters, conditions, mappings and
other resources. This module evaluates a template fragment with what is known and keeps
what is not as a :class:`Symbol`: a value that compares equal only to the same symbol, so
two resolutions can be compared ("did this property change?") without an AWS account.
Used by the update-safety check (:mod:`templates_src.update_safety`) and by the tests
that evaluate the templates' IAM policies with intrinsics resolved as AWS resolves them.
Pure functions on template dicts: no I/O.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

Doc = dict[str, Any]
#: A resource's value: (logical id, attribute or None for Ref) -> its value.
ResourceValue = Callable[[str, str | None], Any]
_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


@dataclass(frozen=True)
class Symbol:
    """A value CloudFormation knows only at deploy time, e.g. ("ref", "Vpc", 0)."""

    parts: tuple[Any, ...]

    def __str__(self) -> str:
        return "<" + ":".join(str(p) for p in self.parts) + ">"


class NoValue:
    """``AWS::NoValue``: removes the property or list item it stands for."""


NO_VALUE = NoValue()


class UnresolvableError(ValueError):
    """A condition or value depends on something unknown where a concrete one is needed."""


@dataclass
class Context:
    """Everything a template fragment may refer to."""

    template: Doc
    parameters: Mapping[str, Any]
    region: str = "us-east-1"
    account: str = "123456789012"
    partition: str = "aws"
    stack_name: str = "stack"
    resource_value: ResourceValue | None = None
    _conditions: dict[str, bool] = field(default_factory=dict)

    def pseudo(self, name: str) -> Any:
        values = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::Partition": self.partition,
            "AWS::StackName": self.stack_name,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": (
                f"arn:{self.partition}:cloudformation:{self.region}:{self.account}:"
                f"stack/{self.stack_name}/00000000-0000-0000-0000-000000000000"
            ),
        }
        if name == "AWS::NoValue":
            return NO_VALUE
        if name not in values:
            return Symbol(("pseudo", name))
        return values[name]

    def condition(self, name: str) -> bool:
        """The named condition's value (evaluated once)."""
        if name not in self._conditions:
            value = resolve(self.template["Conditions"][name], self)
            if not isinstance(value, bool):
                raise UnresolvableError(f"condition {name} depends on {value}")
            self._conditions[name] = value
        return self._conditions[name]

    def active(self, logical_id: str) -> bool:
        """Does this resource exist under the current parameter values?"""
        condition = self.template["Resources"][logical_id].get("Condition")
        return condition is None or self.condition(condition)


def _ref(name: str, ctx: Context) -> Any:
    if name.startswith("AWS::"):
        return ctx.pseudo(name)
    declared = ctx.template.get("Parameters", {}).get(name)
    if name in ctx.parameters:
        value = ctx.parameters[name]
        return value if declared is None else _typed_parameter(declared, value)
    if declared is not None:
        if "Default" not in declared:
            return Symbol(("param", name))
        return _typed_parameter(declared, declared["Default"])
    if ctx.resource_value is None:
        return Symbol(("ref", name))
    return ctx.resource_value(name, None)


def _typed_parameter(declared: Doc, value: Any) -> Any:
    """A list-typed parameter's value is a list; every other one is a string."""
    kind = str(declared.get("Type", "String"))
    if kind.startswith("List<") or kind == "CommaDelimitedList":
        if isinstance(value, str) and value == "":
            return []
        return value if isinstance(value, list) else split_value(",", value)
    return value if isinstance(value, (list, Symbol)) else str(value)


def split_value(delimiter: str, value: Any) -> Any:
    """Fn::Split, also of a value joined from deploy-time parts (a, ",", b -> [a, b])."""
    if isinstance(value, str):
        return value.split(delimiter)
    if not (isinstance(value, Symbol) and value.parts[:1] == ("concat",)):
        return Symbol(("split", delimiter, value))
    items: list[list[Any]] = [[]]
    for part in value.parts[1:]:
        if isinstance(part, str):
            pieces = part.split(delimiter)
            items[-1].append(pieces[0])
            items.extend([piece] for piece in pieces[1:])
        else:
            items[-1].append(part)
    return [_concatenate(item) if len(item) != 1 else item[0] for item in items]


def _get_att(argument: Any, ctx: Context) -> Any:
    if isinstance(argument, str):
        logical_id, attribute = argument.split(".", 1)
    else:
        logical_id, attribute = argument[0], resolve(argument[1], ctx)
    if ctx.resource_value is None:
        return Symbol(("att", logical_id, attribute))
    return ctx.resource_value(logical_id, str(attribute))


def _sub(argument: Any, ctx: Context) -> Any:
    text, variables = (argument, {}) if isinstance(argument, str) else argument
    values = {name: resolve(value, ctx) for name, value in variables.items()}
    parts: list[Any] = []
    position = 0
    for match in _SUB_VARIABLE.finditer(text):
        parts.append(text[position : match.start()])
        name = match.group(1)
        if name in values:
            parts.append(values[name])
        elif "." in name and not name.startswith("AWS::"):
            parts.append(_get_att(name, ctx))
        else:
            parts.append(_ref(name, ctx))
        position = match.end()
    parts.append(text[position:])
    return _concatenate(parts)


def _concatenate(parts: list[Any]) -> Any:
    if all(isinstance(p, str) for p in parts):
        return "".join(parts)
    merged: list[Any] = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        elif part != "":
            merged.append(part)
    return Symbol(("concat", *merged))


def _join(argument: Any, ctx: Context) -> Any:
    delimiter, items = argument[0], resolve(argument[1], ctx)
    if isinstance(items, Symbol):
        return Symbol(("join", delimiter, items))
    parts: list[Any] = []
    for i, item in enumerate(items):
        if i:
            parts.append(delimiter)
        parts.append(item)
    return _concatenate(parts)


def _select(argument: Any, ctx: Context) -> Any:
    index, items = resolve(argument[0], ctx), resolve(argument[1], ctx)
    if isinstance(items, Symbol) or isinstance(index, Symbol):
        return Symbol(("select", index, items))
    if int(index) >= len(items):
        raise UnresolvableError(f"Fn::Select cannot select nonexistent value at index {index}")
    return items[int(index)]


def _split(argument: Any, ctx: Context) -> Any:
    return split_value(argument[0], resolve(argument[1], ctx))


def _find_in_map(argument: Any, ctx: Context) -> Any:
    name, first, second = (resolve(a, ctx) for a in argument)
    if isinstance(first, Symbol) or isinstance(second, Symbol):
        return Symbol(("map", name, first, second))
    try:
        return ctx.template["Mappings"][name][first][second]
    except KeyError:
        # What CloudFormation answers before it creates anything.
        raise UnresolvableError(
            f"Template error: Unable to get mapping for {name}::{first}::{second}"
        ) from None


def _cidr(argument: Any, ctx: Context) -> Any:
    block, count, bits = (resolve(a, ctx) for a in argument)
    if not all(isinstance(v, (str, int)) for v in (block, count, bits)):
        return Symbol(("cidr", block, count, bits))
    network = ipaddress.ip_network(str(block))
    subnets = network.subnets(new_prefix=network.max_prefixlen - int(bits))
    return [str(next(subnets)) for _ in range(int(count))]


def _boolean(function: str, argument: Any, ctx: Context) -> Any:
    values = [resolve(a, ctx) for a in argument]
    if function == "Fn::Equals":
        left, right = values
        if isinstance(left, Symbol) or isinstance(right, Symbol):
            return Symbol(("equals", left, right))
        return str(left) == str(right)
    if any(isinstance(v, Symbol) for v in values):
        return Symbol((function, *values))
    if function == "Fn::Not":
        return not values[0]
    return all(values) if function == "Fn::And" else any(values)


def _if(argument: Any, ctx: Context) -> Any:
    name, when_true, when_false = argument
    return resolve(when_true if ctx.condition(name) else when_false, ctx)


FUNCTIONS: dict[str, Callable[[Any, Context], Any]] = {
    "Fn::GetAtt": _get_att,
    "Fn::Sub": _sub,
    "Fn::Join": _join,
    "Fn::Select": _select,
    "Fn::Split": _split,
    "Fn::FindInMap": _find_in_map,
    "Fn::Cidr": _cidr,
    "Fn::If": _if,
    "Fn::GetAZs": lambda a, c: Symbol(("azs", resolve(a, c) or c.region)),
    "Fn::Base64": lambda a, c: Symbol(("base64", resolve(a, c))),
    "Fn::ImportValue": lambda a, c: Symbol(("import", resolve(a, c))),
    "Condition": lambda a, c: c.condition(a),
    "Fn::Contains": lambda a, c: resolve(a[1], c) in resolve(a[0], c),
}


def resolve(node: Any, ctx: Context) -> Any:
    """``node`` with every intrinsic function evaluated, AWS::NoValue removed."""
    if isinstance(node, list):
        items = [resolve(item, ctx) for item in node]
        return [item for item in items if item is not NO_VALUE]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        (key, argument), *_ = node.items()
        if key == "Ref":
            return _ref(argument, ctx)
        if key in ("Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or"):
            return _boolean(key, argument, ctx)
        if key in FUNCTIONS:
            return FUNCTIONS[key](argument, ctx)
    resolved = {key: resolve(value, ctx) for key, value in node.items()}
    return {key: value for key, value in resolved.items() if value is not NO_VALUE}
