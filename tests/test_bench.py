"""bench/: every benchmark imports as a module of the repository, not through sys.path."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from bench.bench_service import source_at
from tests.support.tools import REPO_ROOT

BENCHMARKS = sorted(
    path.stem for path in (REPO_ROOT / "bench").glob("*.py") if path.stem != "__init__"
)


@pytest.mark.parametrize("name", BENCHMARKS)
def test_each_benchmark_imports_normally_without_touching_sys_path(name: str) -> None:
    before = list(sys.path)
    importlib.import_module(f"bench.{name}")
    assert sys.path == before
    assert "sys.path" not in (REPO_ROOT / "bench" / f"{name}.py").read_text()


@pytest.mark.parametrize("name", ["bench_kb", "bench_templates"])
def test_a_benchmark_run_as_a_file_says_how_to_run_it(name: str) -> None:
    proc = subprocess.run(
        [sys.executable, str(Path("bench") / f"{name}.py")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 1
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert f"python -m bench.{name}" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_ref_git_does_not_know_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exited:
        source_at("no-such-ref-anywhere", tmp_path)
    message = str(exited.value.code)
    assert message.startswith("--against no-such-ref-anywhere: git archive failed: ")
    assert "\n" not in message
