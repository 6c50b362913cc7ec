"""Bad values fail the install with a message that names the bad key.

Each file in bad_values/ is a values file an operator might write by mistake; its
`# expect:` lines are what the error must say. Most are refused by values.schema.json
(wrong type, unknown key, bad enum or pattern); the rest by template guards, for rules a
schema cannot express (numbers that are each valid but wrong together, values required
only for one secret source). Each file is layered over a working install (the database
host given), the way `helm install -f bad.yaml` would be.
"""

from __future__ import annotations

import json
from pathlib import Path

import helm_python
import pytest
import yaml

from tests.helm.chart import CHART_DIR, DB_HOST, SCENARIOS, merge, render_raw, values_file

BAD_VALUES = Path(__file__).parent / "bad_values"
BAD_FILES = sorted(BAD_VALUES.glob("*.yaml"))


def expectations(path: Path) -> list[str]:
    lines = path.read_text().splitlines()
    return [line.split("# expect:", 1)[1].strip() for line in lines if "# expect:" in line]


def test_there_is_a_set_of_bad_values_files_each_with_expectations() -> None:
    assert len(BAD_FILES) >= 15
    for path in BAD_FILES:
        assert expectations(path), f"{path.name} says nothing about the error it expects"


@pytest.mark.parametrize("path", BAD_FILES, ids=lambda p: p.stem)
def test_bad_values_file_fails_with_a_readable_message(path: Path) -> None:
    values = merge(DB_HOST, yaml.safe_load(path.read_text()))
    with pytest.raises((helm_python.HelmValuesError, helm_python.HelmRenderError)) as caught:
        render_raw(values)
    message = str(caught.value)
    for expected in expectations(path):
        assert expected in message, f"{path.name}: {expected!r} not in {message!r}"
    # Readable: one short explanation, not a stack trace.
    assert len(message) < 600, message
    assert "goroutine" not in message


@pytest.mark.parametrize("name", ["values.yaml", "values-dev.yaml", "values-prod.yaml"])
def test_committed_values_files_pass_the_schema(name: str) -> None:
    chart = helm_python.Chart.load(CHART_DIR)
    chart.validate_schema(merge(values_file(name), DB_HOST))


def test_schema_forbids_unknown_keys_at_every_level() -> None:
    """additionalProperties false on every object whose keys the chart defines."""
    schema = json.loads((CHART_DIR / "values.schema.json").read_text())
    # Maps whose keys are the user's (labels, annotations, Kubernetes objects), and
    # `global`, which a parent chart shares with every subchart and which carries keys
    # other charts define.
    free_form = {
        "annotations",
        "podAnnotations",
        "podLabels",
        "nodeSelector",
        "affinity",
        "commonLabels",
        "commonAnnotations",
        "behavior",
        "global",
    }

    def walk(node: dict[str, object], where: str) -> None:
        if node.get("type") == "object" and "properties" in node:
            assert node.get("additionalProperties") is False, where
        properties = node.get("properties")
        if isinstance(properties, dict):
            for key, child in properties.items():
                if key not in free_form and isinstance(child, dict):
                    walk(child, f"{where}.{key}")
        definitions = node.get("definitions")
        if isinstance(definitions, dict):
            for key, child in definitions.items():
                if isinstance(child, dict) and key != "stringMap":
                    walk(child, f"#/definitions/{key}")

    walk(schema, "values")


def test_every_value_in_values_yaml_is_in_the_schema() -> None:
    schema = json.loads((CHART_DIR / "values.schema.json").read_text())

    def resolve(node: dict[str, object]) -> dict[str, object]:
        ref = node.get("$ref")
        if isinstance(ref, str):
            target: dict[str, object] = schema["definitions"][ref.rsplit("/", 1)[1]]
            return target
        return node

    def walk(values: object, node: dict[str, object], where: str) -> None:
        node = resolve(node)
        if not isinstance(values, dict) or "properties" not in node:
            return
        properties = node["properties"]
        assert isinstance(properties, dict)
        for key, value in values.items():
            assert key in properties, f"{where}.{key} is not in values.schema.json"
            walk(value, properties[key], f"{where}.{key}")

    walk(values_file("values.yaml"), schema, "values")


def test_every_scenario_passes_the_schema() -> None:
    chart = helm_python.Chart.load(CHART_DIR)
    for scenario in SCENARIOS.values():
        chart.validate_schema(scenario.values())


def test_schema_is_valid_draft_07() -> None:
    """Draft-07, so that Helm 3 (gojsonschema) and Helm 4 both understand it."""
    import jsonschema

    schema = json.loads((CHART_DIR / "values.schema.json").read_text())
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    jsonschema.Draft7Validator.check_schema(schema)
