"""`build_templates.py --check-update`: what an update replaces or deletes, from the schemas.

Release N is out/ as committed at the parent of this work (a git ref); N+1 is this build.
The same check compares the trial parent with the production one (a trial stack updated
with the production template), and a stack whose create-only parameters change.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import build_templates
from templates_src import reports, update_check, update_safety
from templates_src.update_safety import TemplateSet, compare_sets

#: out/ of release N: the commit this work started from.
RELEASE_N = "6922fafaedfc226f958d3826e952c3a97f2673ce"


def check(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = build_templates.main(["--check-update", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_n_to_n_plus_1_replaces_or_deletes_no_stateful_resource_in_either_parent(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = check([RELEASE_N], capsys)
    assert code == build_templates.EXIT_OK, out + err
    assert "cloud-optimizer-quickstart -> cloud-optimizer-quickstart" in out
    assert "cloud-optimizer-production -> cloud-optimizer-production" in out
    assert "UNSAFE" not in out
    assert "no stateful resource is replaced or deleted" in out


def test_trial_to_production_deletes_the_trial_database_and_is_unsafe(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = check(
        [RELEASE_N, "--from-parent", "trial", "--to-parent", "production"], capsys
    )
    assert code == build_templates.EXIT_UNSAFE_UPDATE
    (line,) = [x for x in out.splitlines() if "UNSAFE" in x]
    assert "TrialDatabase (AWS::RDS::DBInstance) deleted" in line
    assert "its data is lost" in line
    assert err.count("\n") == 1


def stack_parameters(tmp_path: Path, **values: str) -> Path:
    path = tmp_path / "parameters.json"
    path.write_text(
        json.dumps([{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()])
    )
    return path


def test_a_new_vpc_cidr_would_move_the_database_and_is_unsafe(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given as the stack's own values: N with 10.0.0.0/16, the update with 10.1.0.0/16 is
    # modelled by comparing a build with itself under two parameter files.
    out_dir = tmp_path / "out"
    assert build_templates.main(["--out", str(out_dir), "--no-lint"]) == 0
    earlier = update_check.read_earlier_build(str(out_dir))
    sets = {
        name: update_check.template_set(name, earlier, "test")
        for name in ("cloud-optimizer-production",)
    }
    base = {
        "CertificateArn": reports.SAMPLE_VALUES["CertificateArn"],
        "DomainName": "co.example.com",
    }
    changes = compare_sets(
        sets["cloud-optimizer-production"],
        sets["cloud-optimizer-production"],
        {**base, "VpcCidr": "10.0.0.0/16"},
        {**base, "VpcCidr": "10.1.0.0/16"},
    )
    unsafe = {c.logical_id: c for c in changes if c.unsafe}
    assert "Database" in unsafe
    assert "DatabaseSecurityGroup" in unsafe["Database"].reason
    replaced = {c.logical_id for c in changes if c.action == "replace"}
    assert {"Vpc", "PrivateSubnet1", "DatabaseSecurityGroup", "TaskSecurityGroup"} <= replaced


def test_moving_to_an_existing_vpc_deletes_the_vpc_stack_with_its_log_group(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parameters = stack_parameters(
        tmp_path,
        ExistingVpcId="vpc-0123456789abcdef0",
        ExistingPublicSubnetIds="subnet-0123456789abcdef0,subnet-0123456789abcdef1",
        ExistingPrivateSubnetIds="subnet-0123456789abcdef2,subnet-0123456789abcdef3",
    )
    out_dir = tmp_path / "out"
    assert build_templates.main(["--out", str(out_dir), "--no-lint"]) == 0
    earlier = update_check.read_earlier_build(str(out_dir))
    trial = update_check.template_set("cloud-optimizer-quickstart", earlier, "test")
    given = reports.stack_parameters(parameters)
    changes = compare_sets(trial, trial, {}, given)
    deleted = {c.logical_id: c for c in changes if c.action == "delete"}
    assert deleted["FlowLogGroup"].stack.endswith("/VpcStack")
    assert deleted["FlowLogGroup"].unsafe


def test_a_folder_of_the_same_build_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "out"
    assert build_templates.main(["--out", str(out_dir), "--no-lint"]) == 0
    capsys.readouterr()
    code, out, _err = check([str(out_dir)], capsys)
    assert code == build_templates.EXIT_OK
    assert out.count(": 0 resource(s) replaced or deleted") == 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["no-such-ref-or-folder"], "neither a folder nor a git ref"),
        ([RELEASE_N, "--to-parent", "production"], "--to-parent needs --from-parent"),
        ([RELEASE_N, "--parameters", "/nonexistent.json"], "--parameters"),
    ],
)
def test_a_bad_source_or_option_exits_2_with_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = check(argv, capsys)
    assert code == build_templates.EXIT_USAGE
    assert message in err
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_the_options_need_check_update(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        build_templates.main(["--from-parent", "trial", "--no-lint"]) == build_templates.EXIT_USAGE
    )
    assert "go with --check-update" in capsys.readouterr().err


def one_stack(resources: dict[str, Any], parameters: dict[str, Any] | None = None) -> TemplateSet:
    return TemplateSet("s", {"Parameters": parameters or {}, "Resources": resources}, {})


GROUP = {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": {"Ref": "Name"}}}
NAME = {"Name": {"Type": "String", "Default": "/co/app"}}


def test_a_create_only_change_replaces_and_a_stateful_replacement_is_unsafe() -> None:
    before = one_stack({"Logs": GROUP}, NAME)
    changes = compare_sets(before, before, {}, {"Name": "/co/renamed"})
    (change,) = changes
    assert (change.logical_id, change.action, change.unsafe) == ("Logs", "replace", True)
    assert "LogGroupName" in change.reason
    assert compare_sets(before, before, {}, {}) == []


def test_a_replacement_reaches_whatever_refers_to_the_replaced_resource() -> None:
    resources = {
        "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": {"Ref": "Cidr"}}},
        "Group": {
            "Type": "AWS::EC2::SecurityGroup",
            "Properties": {"GroupDescription": "g", "VpcId": {"Ref": "Vpc"}},
        },
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": "unrelated"}},
    }
    stack = one_stack(resources, {"Cidr": {"Type": "String"}})
    changes = compare_sets(stack, stack, {"Cidr": "10.0.0.0/16"}, {"Cidr": "10.1.0.0/16"})
    assert {c.logical_id for c in changes} == {"Vpc", "Group"}
    assert not any(c.unsafe for c in changes)


def test_removing_a_retained_bucket_is_reported_as_kept_but_leaving_the_stack() -> None:
    bucket = {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain", "Properties": {}}
    (change,) = compare_sets(one_stack({"Logs": bucket}), one_stack({}), {}, {})
    assert (change.action, change.unsafe) == ("delete", True)
    assert "kept but leaves the stack" in change.describe()


def test_stateful_types_come_from_cfn_lint() -> None:
    stateful = update_safety.stateful_types()
    assert {"AWS::RDS::DBInstance", "AWS::KMS::Key", "AWS::S3::Bucket", "AWS::Logs::LogGroup",
            "AWS::SecretsManager::Secret"} <= stateful  # fmt: skip
    assert "AWS::ECS::TaskDefinition" not in stateful


def test_adding_a_certificate_to_the_trial_deletes_the_cloudfront_stack_and_nothing_of_value(
    tmp_path: Path,
) -> None:
    out_dir = tmp_path / "out"
    assert build_templates.main(["--out", str(out_dir), "--no-lint"]) == 0
    earlier = update_check.read_earlier_build(str(out_dir))
    trial = update_check.template_set("cloud-optimizer-quickstart", earlier, "test")
    with_certificate = {
        "CertificateArn": reports.SAMPLE_VALUES["CertificateArn"],
        "DomainName": "co.example.com",
    }
    changes = compare_sets(trial, trial, {}, with_certificate)
    deleted = {c.logical_id: c for c in changes if c.stack.endswith("/CloudfrontStack")}
    assert {"Distribution", "OriginSecret", "OriginKey", "StackHelperLogGroup"} <= set(deleted)
    assert {c.action for c in deleted.values()} == {"delete"}
    # Stateful types, but marked disposable: the secret is regenerated, the key encrypts
    # only it and the helper's lookup logs.
    assert not [c for c in changes if c.unsafe], [c.describe() for c in changes if c.unsafe]
    assert update_safety.holds_data({"Type": "AWS::KMS::Key"})
    assert not update_safety.holds_data(
        {"Type": "AWS::KMS::Key", "Metadata": {update_safety.DISPOSABLE: "why"}}
    )


#: A commit whose out/ holds the diagrams (PNG) beside the templates.
RELEASE_WITH_DIAGRAMS = "3b5151c"


def test_a_git_ref_whose_out_has_diagrams_is_read_for_its_templates_only(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The PNGs are not text: reading them as a template was a traceback, not a verdict.
    files = update_check.read_earlier_build(RELEASE_WITH_DIAGRAMS)
    assert "cloud-optimizer-quickstart.yaml" in files
    assert not [name for name in files if not name.endswith((".yaml", ".json"))]
    code, out, err = check([RELEASE_WITH_DIAGRAMS], capsys)
    assert code in {build_templates.EXIT_OK, build_templates.EXIT_UNSAFE_UPDATE}, err
    assert "cloud-optimizer-quickstart -> cloud-optimizer-quickstart" in out
