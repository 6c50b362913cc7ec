"""Every name and label the chart makes stays within Kubernetes' limits (point 6).

Kubernetes rules relied on (https://kubernetes.io/docs/concepts/overview/working-with-objects/names/):
a Service name is an RFC 1035 label (at most 63 characters); other object names are DNS
subdomains, but a Job's name also becomes the value of the `batch.kubernetes.io/job-name`
label on its pods, and a label value has at most 63 characters
(https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#syntax-and-character-set).
The chart keeps every name it makes within 63 so that none of these can fail. Helm itself
limits release names to 53 characters.
"""

from __future__ import annotations

import re
from typing import Any

import helm_python
import pytest

from tests.helm.chart import DB_HOST, DEV_SECRETS, Manifest, merge, pod_bearing, pod_labels, render

LONGEST_RELEASE = "r" * 53  # Helm refuses longer release names
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def test_helm_refuses_a_release_name_longer_than_53() -> None:
    helm_python.validate_release_name(LONGEST_RELEASE)
    with pytest.raises(helm_python.HelmInvalidArgError):
        helm_python.validate_release_name(LONGEST_RELEASE + "r")


def names_and_labels(manifests: list[Manifest]) -> list[tuple[str, str]]:
    """(where, value) of every name and label value the chart rendered."""
    found: list[tuple[str, str]] = []
    for manifest in manifests:
        found.append((f"{manifest.kind} name", manifest.name))
        for key, value in (manifest.body["metadata"].get("labels") or {}).items():
            found.append((f"{manifest.kind} label {key}", value))
        if manifest in list(pod_bearing(manifests)):
            for key, value in pod_labels(manifest).items():
                found.append((f"{manifest.kind} pod label {key}", value))
        if manifest.kind == "ExternalSecret":
            found.append(("ExternalSecret target", manifest.body["spec"]["target"]["name"]))
        if manifest.kind == "Job":
            # The Job controller labels its pods with the Job's name.
            found.append(("Job pod label job-name", manifest.name))
    return found


LONG_CASES: dict[str, tuple[dict[str, Any], str]] = {
    "longest-release": ({}, LONGEST_RELEASE),
    "longest-release-dev": (
        DEV_SECRETS | {"secrets": {**DEV_SECRETS["secrets"], "source": "inline"}},
        LONGEST_RELEASE,
    ),
    "longest-fullname-override": ({"fullnameOverride": "f" * 63}, "co"),
    "longest-name-override": ({"nameOverride": "n" * 63}, LONGEST_RELEASE),
}


@pytest.mark.parametrize("case", sorted(LONG_CASES))
def test_every_name_and_label_fits_in_63_characters(case: str) -> None:
    overrides, release = LONG_CASES[case]
    manifests = render(merge(DB_HOST, overrides), release=release)
    too_long = [(where, value) for where, value in names_and_labels(manifests) if len(value) > 63]
    assert too_long == []
    malformed = [(w, v) for w, v in names_and_labels(manifests) if not LABEL_VALUE.match(v)]
    assert malformed == []
    for manifest in manifests:
        if manifest.kind == "Service":
            assert DNS_LABEL.match(manifest.name), manifest.name


def test_component_names_stay_distinct_when_shortened() -> None:
    manifests = render(
        merge(DB_HOST, DEV_SECRETS | {"secrets": {**DEV_SECRETS["secrets"], "source": "inline"}}),
        release=LONGEST_RELEASE,
    )
    secrets = sorted(m.name for m in manifests if m.kind == "Secret")
    assert len(secrets) == len(set(secrets)) == 3
    assert all(name.endswith(("-database", "-app", "-migrate")) for name in secrets)


def test_the_version_label_is_a_valid_label_for_any_tag() -> None:
    """A Docker tag may have 128 characters and end in '.' or '-'; a label may not."""
    tag = "1.0.0-build." + "x" * 100 + "-"
    manifests = render(merge(DB_HOST, {"image": {"tag": tag}}))
    for manifest in pod_bearing(manifests):
        version = pod_labels(manifest)["app.kubernetes.io/version"]
        assert LABEL_VALUE.match(version), version
        assert len(version) <= 63, version
