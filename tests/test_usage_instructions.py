"""docs/usage-instructions.md: every listing requirement answered, and true to the build."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import build_templates
from templates_src import cost, inventory, reports
from templates_src.artifacts import template_dicts

ROOT = Path(__file__).resolve().parent.parent
DOC_PATH = ROOT / "docs" / "usage-instructions.md"
DOC = DOC_PATH.read_text()
GUIDE = (ROOT / "docs" / "operations.md").read_text()

#: What AWS Marketplace asks container products' usage instructions to cover (issue 16).
REQUIRED = (
    "Launch paths: Launch Stack",
    "Launch paths: Helm on Amazon EKS",
    "Launch paths: Docker Compose for evaluation",
    "Every IAM role and why it exists",
    "Network layout",
    "Where sensitive data lives and how it is encrypted",
    "Credential rotation, step by step",
    "Health checks",
    "Upgrade and rollback",
    "Costs",
    "Service quotas",
    "Support",
)


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def headings(text: str) -> dict[str, str]:
    """anchor -> the section's body (up to the next heading of any level)."""
    parts = re.split(r"^#{2,3} (.+)$", text, flags=re.M)
    return {anchor(title): body for title, body in zip(parts[1::2], parts[2::2], strict=True)}


def checklist() -> dict[str, str]:
    section = headings(DOC)["checklist"]
    return dict(re.findall(r"^\| (.+?) \| \[.+?\]\(#([\w-]+)\) \|$", section, re.M))


def test_the_checklist_has_every_requirement() -> None:
    missing = [item for item in REQUIRED if item not in checklist()]
    assert not missing, f"docs/usage-instructions.md's checklist lacks {missing}"


@pytest.mark.parametrize("item", REQUIRED)
def test_each_item_points_at_a_section_that_answers_it(item: str) -> None:
    target = checklist()[item]
    sections = headings(DOC)
    assert target in sections, f"{item}: no section #{target}"
    assert len(sections[target].split()) >= 30, f"{item}: #{target} is nearly empty"


def test_links_into_the_operator_guide_land_on_a_section() -> None:
    guide = headings(GUIDE)
    for target in re.findall(r"\(operations\.md#([\w-]+)\)", DOC):
        assert target in guide, f"operations.md has no section #{target}"
    for path in re.findall(r"\]\(((?:\.\./)?[\w./-]+\.(?:md|png))\)", DOC):
        assert (DOC_PATH.parent / path).exists(), path


def test_every_iam_role_the_templates_create_is_explained() -> None:
    artifacts = build_templates.build_artifacts(["yaml"], None)
    roles = {
        name
        for a in artifacts
        if a.template is not None
        for name, resource in a.template.to_dict()["Resources"].items()
        if resource["Type"] == "AWS::IAM::Role"
    }
    table = headings(DOC)["iam-roles"]
    explained = set(re.findall(r"^\| `(\w+)`", table, re.M))
    assert roles, "no roles found"
    assert roles <= explained, f"roles without a row: {sorted(roles - explained)}"


def test_the_cost_figures_are_the_estimate_s() -> None:
    artifacts = build_templates.build_artifacts(["yaml"], None)
    parents, children = template_dicts(artifacts)
    totals = {
        name: cost.estimate(
            inventory.resources(
                parents[name], children, reports.required_values(name), "us-east-1"
            ),
            "us-east-1",
        ).total
        for name in parents
    }
    section = headings(DOC)["costs"]
    assert f"**${totals['trial']:,.2f} a month**" in section
    assert f"production about **${totals['production']:,.2f}**" in section


def test_the_evaluation_and_chart_paths_exist() -> None:
    for path in ("docker/docker-compose.yml", "docker/README.md", "helm/cloud-optimizer/README.md"):
        assert path in DOC, path
        assert (ROOT / path).exists(), path
