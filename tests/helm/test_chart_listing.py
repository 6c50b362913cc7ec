"""The Marketplace listing's links reach the packaged Chart.yaml, and only https ones do.

helm/chart_listing.py and `python -m helm.eks_addon --home/--icon/--source`: the source
chart has no links (it has no public page of its own), the package for the listing has
all three, and a link that is not an https URL stops the build with one line, exit 64.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import helm_python
import pytest
import yaml

from helm import chart_listing, eks_addon
from tests.helm.chart import CHART_DIR, REPO_ROOT

HOME = "https://cloud-optimizer.example.com/"
ICON = "https://cloud-optimizer.example.com/assets/icon.svg"
SOURCES = ["https://git.example.com/co/cloud-optimizer", "https://git.example.com/co/ib"]
LISTED = ["--home", HOME, "--icon", ICON, "--source", SOURCES[0], "--source", SOURCES[1]]


def chart_lint_messages(chart: Path) -> list[dict[str, object]]:
    report = helm_python.lint(chart, None, strict=True, kube_version="v1.31.0")
    assert report["errors"] == [], report["errors"]
    return [m for m in report["messages"] if m["path"] == "Chart.yaml"]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "helm.eks_addon", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_listed_package_carries_home_icon_and_sources(tmp_path: Path) -> None:
    done = run_cli(str(tmp_path), *LISTED)
    assert done.returncode == 0, done.stderr
    chart = yaml.safe_load((tmp_path / "cloud-optimizer" / "Chart.yaml").read_text())
    assert (chart["home"], chart["icon"], chart["sources"]) == (HOME, ICON, SOURCES)
    source = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())
    assert {k: v for k, v in chart.items() if k not in ("home", "icon", "sources")} == source
    # Helm itself reads them: no "icon is recommended", no invalid URL.
    assert chart_lint_messages(tmp_path / "cloud-optimizer") == []


def test_the_source_chart_has_no_links_and_says_why() -> None:
    text = (CHART_DIR / "Chart.yaml").read_text()
    assert not {"home", "icon", "sources"} & set(yaml.safe_load(text))
    comments = " ".join(line.strip("# ") for line in text.splitlines() if line.startswith("#"))
    assert "made-up address must never be published" in comments
    assert "python -m helm.eks_addon" in comments
    # What that costs: Helm's lint says so as information (severity 1), which --strict passes.
    assert chart_lint_messages(CHART_DIR) == [
        {"severity": 1, "path": "Chart.yaml", "error": "icon is recommended"}
    ]


@pytest.mark.parametrize(
    ("flag", "url", "why"),
    [
        ("--icon", "http://cloud-optimizer.example.com/icon.svg", "the scheme must be https"),
        ("--home", "cloud-optimizer.example.com", "the scheme must be https"),
        ("--source", "https://", "a host name is needed"),
        ("--source", "https://git.example.com:99999/co", "malformed"),
        ("--home", "https://[::1/", "malformed"),
        ("--home", "https://user:pw@cloud-optimizer.example.com/", "no user or password"),
        ("--icon", "https://cloud-optimizer.example.com/my icon.svg", "no spaces"),
        ("--source", "ftp://git.example.com/co", "the scheme must be https"),
        ("--home", "", "empty"),
    ],
)
def test_a_link_that_is_not_https_is_refused_in_one_line(
    tmp_path: Path, flag: str, url: str, why: str
) -> None:
    args = dict(zip(LISTED[::2], LISTED[1::2], strict=False))
    args[flag] = url
    done = run_cli(str(tmp_path), *[part for pair in args.items() for part in pair])
    assert done.returncode == 64
    assert done.stderr.startswith(f"python -m helm.eks_addon: {flag} must be an https URL ({why}")
    assert done.stderr.endswith(f"), got {url!r}\n")
    assert done.stderr.count("\n") == 1
    assert not (tmp_path / "cloud-optimizer").exists()


def test_a_marketplace_package_needs_all_three_links(tmp_path: Path) -> None:
    done = run_cli(str(tmp_path), "--home", HOME)
    assert (done.returncode, done.stderr) == (
        64,
        "python -m helm.eks_addon: a package for the Marketplace listing needs --icon, "
        "--source (or --unlisted for a package that is not published)\n",
    )
    assert not (tmp_path / "cloud-optimizer").exists()
    unlisted = run_cli(str(tmp_path), "--unlisted", "--icon", ICON)
    assert unlisted.returncode == 64
    assert unlisted.stderr.count("\n") == 1


def test_an_unlisted_package_keeps_the_source_chart_yaml(tmp_path: Path) -> None:
    assert eks_addon.main(["eks_addon", str(tmp_path), "--unlisted"]) == 0
    packaged = (tmp_path / "cloud-optimizer" / "Chart.yaml").read_text()
    assert packaged == (CHART_DIR / "Chart.yaml").read_text()


def test_a_source_chart_with_its_own_link_is_not_packaged(tmp_path: Path) -> None:
    """Appending the links to a Chart.yaml that has one would make a duplicate key."""
    source = tmp_path / "src" / "cloud-optimizer"
    shutil.copytree(CHART_DIR, source)
    with (source / "Chart.yaml").open("a") as chart_yaml:
        chart_yaml.write("home: https://elsewhere.example.com/\n")
    listing = chart_listing.chart_listing(HOME, ICON, SOURCES)
    with pytest.raises(chart_listing.ListingError, match=r"Chart.yaml sets home itself"):
        eks_addon.package(tmp_path / "out", listing, chart_dir=source)
    assert not (tmp_path / "out").exists()
