"""Which resources a stack update would replace or delete: the offline upgrade check.

CloudFormation replaces a resource when an update changes one of its create-only
properties, and deletes it when the new template (or its condition) no longer has it. The
resource schemas say which properties are create-only (``createOnlyProperties``) and which
are so only in some cases (``conditionalCreateOnlyProperties``); cfn-lint bundles those
schemas and the list of stateful resource types. This module compares an earlier template
set with a new one, parent and nested stacks together, under the stack's parameter values:

- a replaced resource changes every value that refers to it, so whatever refers to it is
  compared with that change in (a replaced VPC replaces its subnets and security groups);
- a nested stack's parameters are the values its parent passes, its outputs are compared
  the same way, and a deleted nested stack deletes everything in it.

A stateful resource (a database, a key, a bucket, a secret, a log group...) that would be
replaced or deleted makes the update unsafe. Sources: "Update behaviors of stack
resources" (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-cfn-updating-stacks-update-behaviors.html)
and the resource type schemas (https://docs.aws.amazon.com/cloudformation-cli/latest/userguide/resource-type-schema.html).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

from templates_src.intrinsics import Context, Doc, Symbol, UnresolvableError, resolve

Action = Literal["replace", "delete", "may-replace"]
STACK_TYPE = "AWS::CloudFormation::Stack"
#: Conditionally create-only properties that CloudFormation documents as updated in place
#: for our resource types (AWS::RDS::DBInstance, "Update requires: No interruption" or
#: "Some interruptions"): https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-rds-dbinstance.html
IN_PLACE: dict[str, frozenset[str]] = {
    "AWS::RDS::DBInstance": frozenset(
        {
            "/properties/AutoMinorVersionUpgrade",
            "/properties/BackupRetentionPeriod",
            "/properties/DBParameterGroupName",
            "/properties/MultiAZ",
            "/properties/PreferredMaintenanceWindow",
        }
    ),
}
POLICY_OUTCOME = {
    "Delete": "its data is lost",
    "Snapshot": "a final snapshot is kept, the live data goes",
    "Retain": "it is kept but leaves the stack",
}


@dataclass(frozen=True)
class Change:
    """One resource an update would replace or delete."""

    stack: str  # "cloud-optimizer-production" or "cloud-optimizer-production/RdsStack"
    logical_id: str
    resource_type: str
    action: Action
    reason: str
    stateful: bool
    policy: str = "Delete"

    @property
    def unsafe(self) -> bool:
        return self.stateful

    def describe(self) -> str:
        verb = {"replace": "replaced", "delete": "deleted", "may-replace": "may be replaced"}
        text = f"{self.stack}: {self.logical_id} ({self.resource_type}) {verb[self.action]}"
        text += f": {self.reason}"
        if self.stateful:
            text += f" [stateful: {POLICY_OUTCOME.get(self.policy, self.policy)}]"
        return text


@dataclass(frozen=True)
class TemplateSet:
    """A parent and the nested templates it names (by logical id of the Stack resource)."""

    name: str
    parent: Doc
    children: Mapping[str, Doc]


@functools.cache
def stateful_types() -> frozenset[str]:
    """cfn-lint's list of resource types that hold data (AdditionalSpecs)."""
    text = (
        resources.files("cfnlint.data.AdditionalSpecs").joinpath("StatefulResources.json")
    ).read_text()
    return frozenset(json.loads(text)["ResourceTypes"]) - {STACK_TYPE}


@functools.cache
def _schema(resource_type: str, region: str) -> Doc:
    # Imported here: cfn-lint takes half a second to import.
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER  # noqa: PLC0415

    found: Doc = PROVIDER_SCHEMA_MANAGER.get_resource_schema(region, resource_type).schema
    return found


def create_only(resource_type: str, region: str) -> tuple[frozenset[str], frozenset[str]]:
    """(create-only, conditionally create-only) property paths, e.g. /properties/KmsKeyId."""
    if resource_type.startswith("Custom::") or resource_type == STACK_TYPE:
        # A custom resource's ServiceToken is create-only; a nested stack is updated in place.
        return (
            frozenset({"/properties/ServiceToken"}) if resource_type != STACK_TYPE else frozenset(),
            frozenset(),
        )
    schema = _schema(resource_type, region)
    return (
        frozenset(schema.get("createOnlyProperties", [])),
        frozenset(schema.get("conditionalCreateOnlyProperties", [])),
    )


def _pointer(document: Any, path: str) -> Any:
    """The value at a schema path such as /properties/VpcConfig/SubnetIds (None if absent)."""
    node = {"properties": document}
    for key in path.strip("/").split("/"):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


@dataclass
class _Side:
    """One side (earlier or new) of the comparison of one template."""

    template: Doc
    ctx: Context
    generation: dict[str, int]
    outputs_of: dict[str, dict[str, Any]]

    def value(self, logical_id: str, attribute: str | None) -> Any:
        if attribute and attribute.startswith("Outputs.") and logical_id in self.outputs_of:
            return self.outputs_of[logical_id][attribute.removeprefix("Outputs.")]
        generation = self.generation.get(logical_id, 0)
        return Symbol(("res", self.ctx.stack_name, logical_id, attribute or "Ref", generation))


def _side(template: Doc, parameters: Mapping[str, Any], region: str, stack: str) -> _Side:
    context = Context(template, parameters, region=region, stack_name=stack)
    side = _Side(template, context, {}, {})
    side.ctx.resource_value = side.value
    return side


def _order(template: Doc) -> list[str]:
    """Logical ids, each after the resources it refers to (CloudFormation's order)."""
    from templates_src.setup_time import references  # noqa: PLC0415 - shared walker

    found = template.get("Resources", {})
    names = set(found)
    needs = {
        n: references(r, names) | set(_as_list(r.get("DependsOn", []))) for n, r in found.items()
    }
    order: list[str] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen:
            return  # done, or in progress (CloudFormation templates have no cycles)
        seen.add(name)
        for dependency in sorted(needs[name] - {name}):
            visit(dependency)
        order.append(name)

    for name in sorted(found):
        visit(name)
    return order


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _resolved_properties(side: _Side, logical_id: str) -> Any:
    try:
        return resolve(side.template["Resources"][logical_id].get("Properties", {}), side.ctx)
    except UnresolvableError as exc:
        return Symbol(("error", str(exc)))


def _active(side: _Side, logical_id: str) -> bool:
    if logical_id not in side.template.get("Resources", {}):
        return False
    try:
        return side.ctx.active(logical_id)
    except UnresolvableError:
        return True  # a condition on a deploy-time value: assume the resource exists


Children = Callable[[str, bool], Doc | None]


@dataclass
class _Comparison:
    """Updating one stack from its earlier template to the new one."""

    stack: str
    before: _Side
    after: _Side
    children: Children
    region: str

    def run(self) -> list[Change]:
        old, new = self.before.template, self.after.template
        changes: list[Change] = []
        added = [n for n in _order(new) if n not in old.get("Resources", {})]
        for logical_id in _order(old) + added:
            changes.extend(self._resource(logical_id))
        return changes

    def outputs(self) -> dict[str, tuple[Any, Any]]:
        keys = set(self.before.template.get("Outputs", {})) | set(
            self.after.template.get("Outputs", {})
        )
        return {key: (_output(self.before, key), _output(self.after, key)) for key in keys}

    def _resource(self, logical_id: str) -> list[Change]:
        old, new = self.before.template, self.after.template
        was, now = _active(self.before, logical_id), _active(self.after, logical_id)
        if not now:
            return self._deleted(logical_id) if was else []
        kind = new["Resources"][logical_id]["Type"]
        if kind == STACK_TYPE:
            return self._nested(logical_id)
        if not was:
            return []  # created by the update
        old_resource = old["Resources"][logical_id]
        policy = str(old_resource.get("UpdateReplacePolicy", "Delete"))
        found: tuple[Action, str] | None = (
            ("replace", "its type changes")
            if old_resource["Type"] != kind
            else self._property_change(logical_id, kind)
        )
        if found is None:
            return []
        action, reason = found
        if action == "replace":
            self.after.generation[logical_id] = 1
        return [self._change(logical_id, old_resource["Type"], action, reason, policy)]

    def _change(
        self, logical_id: str, kind: str, action: Action, reason: str, policy: str
    ) -> Change:
        stateful = holds_data(self.before.template["Resources"].get(logical_id, {"Type": kind}))
        return Change(self.stack, logical_id, kind, action, reason, stateful, policy)

    def _property_change(self, logical_id: str, kind: str) -> tuple[Action, str] | None:
        old_props = _resolved_properties(self.before, logical_id)
        new_props = _resolved_properties(self.after, logical_id)
        if old_props == new_props:
            return None
        always, conditional = create_only(kind, self.region)
        changed = [p for p in sorted(always) if _pointer(old_props, p) != _pointer(new_props, p)]
        if changed:
            return "replace", "create-only " + _names(changed) + " changes"
        maybe = [
            p
            for p in sorted(conditional - IN_PLACE.get(kind, frozenset()))
            if _pointer(old_props, p) != _pointer(new_props, p)
        ]
        if maybe:
            return "may-replace", "conditionally create-only " + _names(maybe) + " changes"
        moved = sorted(_replaced_references(new_props))
        if moved and kind in stateful_types():
            # Updated in place, but onto resources the update replaces: a database cannot
            # move to the subnets and security groups of another VPC, so the update fails.
            return "may-replace", "it would move onto replaced " + ", ".join(moved)
        return None

    def _nested(self, logical_id: str) -> list[Change]:
        old_child, new_child = self.children(logical_id, False), self.children(logical_id, True)
        if new_child is None:
            return []
        was = _active(self.before, logical_id) and old_child is not None
        old_params = _resolved_properties(self.before, logical_id) if was else {}
        new_params = _resolved_properties(self.after, logical_id)
        stack = f"{self.stack}/{logical_id}"
        nested = _Comparison(
            stack,
            _side(
                old_child if was and old_child else {"Resources": {}},
                _parameters_of(old_params),
                self.region,
                stack,
            ),
            _side(new_child, _parameters_of(new_params), self.region, stack),
            lambda _n, _new: None,
            self.region,
        )
        changes = nested.run()
        outputs = nested.outputs()
        self.before.outputs_of[logical_id] = {k: v[0] for k, v in outputs.items()}
        self.after.outputs_of[logical_id] = {k: v[1] for k, v in outputs.items()}
        return changes

    def _deleted(self, logical_id: str) -> list[Change]:
        resource = self.before.template["Resources"][logical_id]
        policy = str(resource.get("DeletionPolicy", "Delete"))
        if resource["Type"] != STACK_TYPE:
            why = _why_gone(self.before.template, logical_id)
            return [self._change(logical_id, resource["Type"], "delete", why, policy)]
        child = self.children(logical_id, False)
        if child is None:
            return []
        params = _parameters_of(_resolved_properties(self.before, logical_id))
        stack = f"{self.stack}/{logical_id}"
        side = _side(child, params, self.region, stack)
        return [
            Change(
                stack,
                name,
                r["Type"],
                "delete",
                "its nested stack is deleted",
                holds_data(r),
                str(r.get("DeletionPolicy", "Delete")),
            )
            for name, r in child.get("Resources", {}).items()
            if _active(side, name) and r["Type"] != STACK_TYPE
        ]


#: Resource metadata that says why a resource of a stateful type holds nothing to keep (a
#: generated secret that is replaced together with everything using it, and its key).
DISPOSABLE = "Disposable"


def holds_data(resource: Doc) -> bool:
    """A stateful type (cfn-lint's list), unless the template marks it disposable."""
    return resource["Type"] in stateful_types() and DISPOSABLE not in resource.get("Metadata", {})


def _replaced_references(node: Any) -> set[str]:
    """Logical ids of replaced resources that ``node`` refers to."""
    found: set[str] = set()
    if isinstance(node, Symbol):
        if node.parts[:1] == ("res",) and node.parts[-1] == 1:
            found.add(str(node.parts[2]))
        for part in node.parts:
            found |= _replaced_references(part)
    elif isinstance(node, dict):
        for value in node.values():
            found |= _replaced_references(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            found |= _replaced_references(value)
    return found


def _parameters_of(properties: Any) -> dict[str, Any]:
    found = properties.get("Parameters", {}) if isinstance(properties, dict) else {}
    return dict(found) if isinstance(found, dict) else {}


def _names(paths: list[str]) -> str:
    return ", ".join(p.removeprefix("/properties/") for p in paths)


def _output(side: _Side, key: str) -> Any:
    declared = side.template.get("Outputs", {}).get(key)
    if declared is None:
        return Symbol(("missing-output", key))
    try:
        return resolve(declared["Value"], side.ctx)
    except UnresolvableError as exc:
        return Symbol(("error", str(exc)))


def _why_gone(old: Doc, logical_id: str) -> str:
    condition = old["Resources"][logical_id].get("Condition")
    if condition:
        return f"its condition {condition} is false now, or the new template lacks it"
    return "the new template no longer has it"


def compare_sets(
    old: TemplateSet,
    new: TemplateSet,
    old_parameters: Mapping[str, Any],
    new_parameters: Mapping[str, Any],
    region: str = "us-east-1",
) -> list[Change]:
    """Every replacement and deletion of updating parent ``old`` (and its children) to ``new``."""

    def children(logical_id: str, is_new: bool) -> Doc | None:
        return (new if is_new else old).children.get(logical_id)

    comparison = _Comparison(
        new.name,
        _side(old.parent, old_parameters, region, new.name),
        _side(new.parent, new_parameters, region, new.name),
        children,
        region,
    )
    return comparison.run()
