"""Serialise a template to the exact text written to ``out/`` (no I/O here).

YAML is long-form (``Fn::GetAtt:``, never ``!GetAtt``) so every consumer reads it the
same way: CloudFormation, cfn-lint, checkov, trivy, the AWS CLI and moto. Keys are
sorted, so the same template always gives the same bytes.
"""

from __future__ import annotations

from typing import Any

from troposphere import Template


def trivy_ignores(template: Template) -> dict[str, list[str]]:
    """Rule ids each resource suppresses for trivy (``Metadata.trivy.ignore``)."""
    found: dict[str, list[str]] = {}
    for title, resource in template.resources.items():
        metadata: dict[str, Any] = resource.resource.get("Metadata", {})
        ids = [entry["id"] for entry in metadata.get("trivy", {}).get("ignore", [])]
        if ids:
            found[title] = ids
    return found


def render_yaml(template: Template) -> str:
    """YAML, with ``# trivy:ignore:<id>`` comments for each resource that suppresses a rule.

    trivy honours only comments, checkov only Metadata: the comments are derived from
    the Metadata (where the reasons are), so the two cannot drift apart. trivy matches a
    comment to the line just above a finding's range, and a finding may start at the
    resource or at any list item inside it (a rule, a container), so the comment goes
    above the resource and above each list item of its block: the resource's scope.
    """
    text: str = template.to_yaml(long_form=True)
    ignores = trivy_ignores(template)
    if not ignores:
        return text
    out: list[str] = []
    in_resources = False
    current: list[str] = []
    for line in text.splitlines(keepends=True):
        indent = len(line) - len(line.lstrip(" "))
        if indent == 0:
            in_resources = line.rstrip() == "Resources:"
            current = []
        elif in_resources and indent == 2:
            current = ignores.get(line.strip().rstrip(":"), [])
            out.extend(f"  # trivy:ignore:{rule}\n" for rule in current)
        elif current and line.lstrip().startswith("- "):
            out.extend(f"{' ' * indent}# trivy:ignore:{rule}\n" for rule in current)
        out.append(line)
    return "".join(out)


def render_json(template: Template) -> str:
    """JSON, two-space indented, sorted keys (comments are impossible in JSON)."""
    text: str = template.to_json(indent=2)
    return text + "\n"
