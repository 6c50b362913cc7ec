"""The chart README documents every value, and every value is commented, so neither drifts.

The values table is generated from the `# --` comments in values.yaml (helm/values_table.py,
`python -m helm`); these tests fail when the README differs from a fresh render, when a
key has no comment, and when the table names a key that does not exist.
"""

from __future__ import annotations

import re
from typing import Any

from helm import values_table
from tests.helm.chart import CHART_DIR, values_file

ROW = re.compile(r"^\|\s*`([A-Za-z0-9_.]+)`\s*\|\s*`(.*?)`\s*\|(.+)\|\s*$")


def readme_rows() -> dict[str, str]:
    """key -> default column of the README's values table."""
    text = (CHART_DIR / "README.md").read_text()
    section = text.split("## Values", 1)[1].split("\n## ", 1)[0]
    return {m.group(1): m.group(2) for line in section.splitlines() if (m := ROW.match(line))}


def leaf_paths(tree: dict[str, Any], prefix: str = "") -> list[str]:
    paths: list[str] = []
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            paths += leaf_paths(value, f"{path}.")
        else:
            paths.append(path)
    return paths


def documented(path: str, rows: dict[str, str]) -> bool:
    """A row for the value itself or for a map that holds it (e.g. `resources`)."""
    parts = path.split(".")
    return any(".".join(parts[:n]) in rows for n in range(len(parts), 0, -1))


def test_every_value_is_in_the_readme_table() -> None:
    rows = readme_rows()
    missing = [p for p in leaf_paths(values_file("values.yaml")) if not documented(p, rows)]
    assert missing == []


def test_the_readme_table_names_no_value_that_does_not_exist() -> None:
    values = values_file("values.yaml")

    def exists(path: str) -> bool:
        node: Any = values
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                return False
            node = node[part]
        return True

    assert [key for key in readme_rows() if not exists(key)] == []


def test_every_value_has_a_comment_in_values_yaml() -> None:
    """Each documented key is preceded by a `# --` comment (what the README table shows)."""
    lines = (CHART_DIR / "values.yaml").read_text().splitlines()
    stack: list[str] = []
    commented: set[str] = set()
    pending = False
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("# --"):
            pending = True
            continue
        if stripped.startswith("#"):
            continue
        match = re.match(r"^(\s*)([A-Za-z0-9_]+):", line)
        if match:
            depth = len(match.group(1)) // 2
            stack = [*stack[:depth], match.group(2)]
            if pending:
                commented.add(".".join(stack))
            pending = False
    uncommented = [
        p
        for p in leaf_paths(values_file("values.yaml"))
        if not documented(p, dict.fromkeys(commented, ""))
    ]
    assert uncommented == []


def test_the_readme_table_is_generated_from_the_values_comments() -> None:
    readme = (CHART_DIR / "README.md").read_text()
    values = (CHART_DIR / "values.yaml").read_text()
    assert readme == values_table.render_readme(readme, values)


def test_the_generator_documents_a_key_from_its_comment() -> None:
    text = "a:\n  # -- The b value,\n  # on two lines.\n  b: 1\n# -- Whole map.\nc:\n  d: x\n"
    rows = values_table.rows(text)
    assert [(r.key, r.default, r.description) for r in rows] == [
        ("a.b", 1, "The b value, on two lines."),
        ("c", {"d": "x"}, "Whole map."),
    ]
    assert '| `c` | `{"d": "x"}` | Whole map. |' in values_table.table(text)
