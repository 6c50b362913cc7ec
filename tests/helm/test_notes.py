"""NOTES.txt tells the installer what is still missing and how to check the install."""

from __future__ import annotations

import pytest

from tests.helm.chart import DB_HOST, SCENARIOS, merge, render_raw

NOTES = "cloud-optimizer/templates/NOTES.txt"


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_notes_render_for_every_scenario(scenario: str) -> None:
    values = SCENARIOS[scenario].values()
    notes = render_raw(values)[NOTES]
    tests_enabled = values.get("tests", {}).get("enabled", True)
    assert ("helm test co -n cloud-optimizer" in notes) == tests_enabled, scenario
    ingress = values.get("ingress", {}).get("enabled", True)
    assert ("pod-readiness-gate-inject=enabled" in notes) == ingress, scenario


def test_defaults_render_and_notes_name_the_missing_database_host() -> None:
    """Point 2: what a real install must still set is stated in NOTES."""
    notes = render_raw({})[NOTES]
    assert "ACTION NEEDED: database.host is not set" in notes
    assert "exits 78" in notes
    assert "ACTION NEEDED" not in render_raw(DB_HOST)[NOTES]
    assert "ACTION NEEDED" not in render_raw(SCENARIOS["secrets-manager"].values())[NOTES]


def test_notes_warn_when_marketplace_metering_has_no_irsa_role() -> None:
    """RegisterUsage on EKS accepts IRSA only, not Pod Identity (AWS Marketplace seller guide,
    https://docs.aws.amazon.com/marketplace/latest/userguide/container-metering-registerusage.html)."""
    values = merge(DB_HOST, {"config": {"marketplaceProductCode": "abc123"}})
    assert "accepts IRSA credentials only" in render_raw(values)[NOTES]
    with_role = merge(values, {"serviceAccount": {"roleArn": "arn:aws:iam::111122223333:role/co"}})
    assert "accepts IRSA credentials only" not in render_raw(with_role)[NOTES]


def test_notes_show_the_migration_log_for_the_mode_in_use() -> None:
    assert "logs job/co-cloud-optimizer-migrate" in render_raw(DB_HOST)[NOTES]
    addon = render_raw(SCENARIOS["eks-addon"].values())[NOTES]
    assert "logs deployment/co-cloud-optimizer -c migrate" in addon
    assert "job/" not in addon
