"""docker/slim_site_packages.py on a site-packages of the test's own (no container needed).

The built image is checked by test_image_sdk.py; this shows what the script removes, what it
keeps and that a stripped shared object still loads.
"""

from __future__ import annotations

import ctypes
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from service import contract

SCRIPT = Path(__file__).resolve().parents[2] / "docker" / "slim_site_packages.py"
spec = importlib.util.spec_from_file_location("slim_site_packages", SCRIPT)
assert spec is not None
assert spec.loader is not None
slim = importlib.util.module_from_spec(spec)
spec.loader.exec_module(slim)


def a_shared_object() -> Path:
    """A real extension module of this venv, with its symbol table (wheels ship them)."""
    import asyncpg.protocol.protocol as module

    assert module.__file__ is not None
    return Path(module.__file__)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    site = tmp_path / "site-packages"
    data = site / "botocore" / "data"
    for name in (*contract.AWS_SDK_SERVICES, "s3", "ec2"):
        (data / name / "2020-01-01").mkdir(parents=True)
        (data / name / "2020-01-01" / "service-2.json.gz").write_bytes(b"model")
    for name in ("endpoints.json", "partitions.json", "_retry.json"):
        (data / name).write_text("{}")
    (site / "pkg" / "tests").mkdir(parents=True)
    (site / "pkg" / "tests" / "test_x.py").write_text("")
    (site / "pkg" / "__init__.py").write_text("")
    (site / "pkg" / "speedups.c").write_text("int x;")
    (site / "pkg" / "speedups.pyx").write_text("")
    (site / "pkg-1.0.dist-info" / "tests").mkdir(parents=True)  # metadata stays whole
    shutil.copy(a_shared_object(), site / "pkg" / "native.cpython-311-x86_64-linux-gnu.so")
    return site


@pytest.mark.skipif(shutil.which("strip") is None, reason="binutils strip is not installed")
def test_slim_keeps_the_services_called_and_the_sdk_data(site: Path) -> None:
    native = site / "pkg" / "native.cpython-311-x86_64-linux-gnu.so"
    before = native.stat().st_size
    assert slim.main([str(site)]) == 0
    data = site / "botocore" / "data"
    assert sorted(p.name for p in data.iterdir() if p.is_dir()) == sorted(contract.AWS_SDK_SERVICES)
    assert (data / "endpoints.json").is_file()
    assert (data / "partitions.json").is_file()
    assert not (site / "pkg" / "tests").exists()
    assert not (site / "pkg" / "speedups.c").exists()
    assert not (site / "pkg" / "speedups.pyx").exists()
    assert (site / "pkg" / "__init__.py").is_file()
    assert (site / "pkg-1.0.dist-info" / "tests").is_dir()
    assert native.stat().st_size < before * 0.7, (before, native.stat().st_size)
    symbols = subprocess.run(
        ["nm", str(native)], capture_output=True, text=True, check=False
    ).stderr
    assert "no symbols" in symbols
    ctypes.CDLL(str(native))  # the loader still links it


def test_slim_refuses_when_a_kept_model_is_missing(site: Path) -> None:
    shutil.rmtree(site / "botocore" / "data" / "sts")
    with pytest.raises(SystemExit, match="no model for sts"):
        slim.main([str(site)])


def test_slim_names_a_missing_directory(tmp_path: Path) -> None:
    assert slim.main([str(tmp_path / "nowhere")]) == 2


def test_slim_runs_as_the_dockerfile_runs_it(site: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), str(site), "--keep-service", "s3"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "kept botocore models s3; removed 4 others" in proc.stdout
