"""build_templates.py: the files it writes, its options, its exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import build_templates
from templates_src.artifacts import Artifact
from templates_src.rds import build_rds_stack

ROOT = Path(__file__).resolve().parents[2]
EXPECTED = {
    "cloud-optimizer-quickstart.yaml",
    "cloud-optimizer-production.yaml",
    "nested/vpc.yaml",
    "nested/nat.yaml",
    "nested/ecs.yaml",
    "nested/rds.yaml",
    "nested/alb.yaml",
    "nested/cloudfront.yaml",
    "parameters/trial.json",
    "parameters/production.json",
}


def files_under(directory: Path) -> set[str]:
    return {str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file()}


def test_build_writes_exactly_the_nine_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert build_templates.main(["--out", str(tmp_path), "--no-lint"]) == build_templates.EXIT_OK
    assert files_under(tmp_path) == EXPECTED
    table = capsys.readouterr().out
    assert "cloud-optimizer-quickstart.yaml" in table
    assert "of 51,200" in table
    assert "/500" in table


def test_output_is_byte_identical_from_run_to_run(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    for out in (first, second):
        assert build_templates.main(["--out", str(out), "--no-lint", "--format", "both"]) == 0
    assert files_under(first) == files_under(second)
    for name in files_under(first):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_committed_out_is_what_the_build_generates(
    artifacts: list[Artifact],
) -> None:
    committed = ROOT / "out"
    # out/diagrams/ is drawn by --diagram; tests/templates/test_diagram.py keeps it current.
    templates = {f for f in files_under(committed) if not f.startswith("diagrams/")}
    assert templates == {a.path for a in artifacts}
    for artifact in artifacts:
        assert (committed / artifact.path).read_text() == artifact.text, (
            f"out/{artifact.path} is stale: run `bash scripts/dev.sh build`"
        )


def test_json_format_points_parents_at_json_children_and_removes_stale_yaml(tmp_path: Path) -> None:
    assert build_templates.main(["--out", str(tmp_path), "--no-lint"]) == 0
    assert build_templates.main(["--out", str(tmp_path), "--no-lint", "--format", "json"]) == 0
    written = files_under(tmp_path)
    assert written == {p.replace(".yaml", ".json") for p in EXPECTED}
    parent = yaml.safe_load((tmp_path / "cloud-optimizer-quickstart.json").read_text())
    assert parent["Resources"]["RdsStack"]["Properties"]["TemplateURL"] == "nested/rds.json"


def test_template_base_url_makes_nested_urls_absolute(tmp_path: Path) -> None:
    url = "https://s3.amazonaws.com/bucket/co/1.0.0"
    assert (
        build_templates.main(["--out", str(tmp_path), "--no-lint", "--template-base-url", url]) == 0
    )
    parent = yaml.safe_load((tmp_path / "cloud-optimizer-production.yaml").read_text())
    stack = parent["Resources"]["EcsStack"]
    assert stack["Properties"]["TemplateURL"] == url + "/nested/ecs.yaml"
    assert "Metadata" not in stack  # the relative-path lint note is gone


def test_relative_build_is_ready_for_package(artifacts: list[Artifact]) -> None:
    parent = yaml.safe_load(
        next(a.text for a in artifacts if a.path == "cloud-optimizer-quickstart.yaml")
    )
    for title, name in (
        ("VpcStack", "vpc"),
        ("NatStack", "nat"),
        ("AlbStack", "alb"),
        ("RdsStack", "rds"),
        ("EcsStack", "ecs"),
    ):
        assert parent["Resources"][title]["Properties"]["TemplateURL"] == f"nested/{name}.yaml"


@pytest.mark.parametrize(
    "argv",
    [
        ["--format", "xml"],
        ["--bogus"],
        ["--template-base-url", "http://insecure.example.com/x"],
        ["--template-base-url", "s3://bucket/prefix"],
        ["positional"],
    ],
)
def test_bad_options_exit_2_with_one_line(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert build_templates.main([*argv, "--out", str(tmp_path)]) == build_templates.EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("build_templates.py: error: ")
    assert not files_under(tmp_path)


def test_unwritable_out_exits_3_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    assert (
        build_templates.main(["--out", str(blocker / "out"), "--no-lint"])
        == build_templates.EXIT_WRITE
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "cannot write --out" in err


def test_lint_findings_exit_1_and_are_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def rds_without_backup_parameter() -> object:
        template = build_rds_stack()
        del template.parameters["BackupRetentionDays"]
        template.metadata["AWS::CloudFormation::Interface"]["ParameterGroups"][0][
            "Parameters"
        ].remove("BackupRetentionDays")
        del template.metadata["AWS::CloudFormation::Interface"]["ParameterLabels"][
            "BackupRetentionDays"
        ]
        for resource in template.resources.values():
            if resource.resource_type == "AWS::RDS::DBInstance":
                resource.BackupRetentionPeriod = 7
        return template

    monkeypatch.setitem(build_templates.NESTED_BUILDERS, "rds", rds_without_backup_parameter)
    assert build_templates.main(["--out", str(tmp_path)]) == build_templates.EXIT_LINT
    captured = capsys.readouterr()
    assert "E3043" in captured.err  # the parent passes a parameter the child lost
    assert "cloud-optimizer-quickstart.yaml" in captured.err


@pytest.mark.slow
def test_cli_help_documents_exit_codes_and_errors_have_no_traceback(tmp_path: Path) -> None:
    script = str(ROOT / "build_templates.py")
    shown = subprocess.run(
        [sys.executable, script, "--help"], capture_output=True, text=True, check=True
    )
    for code in ("0", "1", "2", "3", "4"):
        assert f"\n  {code}  " in shown.stdout
    bad = subprocess.run(
        [sys.executable, script, "--format", "toml", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == build_templates.EXIT_USAGE
    assert "Traceback" not in bad.stderr
    assert bad.stderr.count("\n") == 1
