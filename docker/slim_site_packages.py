"""Slim the image's virtualenv in the build stage: what the service never loads goes.

    python docker/slim_site_packages.py SITE_PACKAGES [--strip PATH_TO_STRIP]

Run by docker/Dockerfile's build stage after the hash-locked install, before byte-code is
compiled. It only removes or shrinks what nothing at run time reads:
- botocore's models of the AWS services the service never calls. The calls it makes are
  listed once in ``service.contract.AWS_SDK_SERVICES`` (tests/service/test_sdk_services.py
  holds the code to that list); the SDK's own files beside the models (endpoints.json,
  partitions.json, _retry.json, sdk-default-configuration.json) all stay, because every
  client reads them to resolve its endpoint and retry rules;
- test suites, test helpers and C/Cython sources shipped inside packages;
- the debug symbols and symbol tables of shared objects (``strip --strip-unneeded``, which
  keeps the dynamic symbols the loader links against).
The ``*.dist-info`` directories stay whole: the SBOM (syft) reads them. Prints what it
removed and the size before and after, so that the build log shows the saving.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

# Directories inside packages that only a package's own test run imports.
TEST_DIRS = frozenset({"tests", "test", "_testbase", "testing"})
# Sources and headers for building extensions; the compiled .so is what is loaded.
SOURCE_SUFFIXES = frozenset({".c", ".h", ".pyx", ".pxd", ".pxi", ".cpp"})
ELF_MAGIC = b"\x7fELF"


def tree_size(root: Path) -> int:
    return sum(p.lstat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def prune_botocore_data(site: Path, keep: frozenset[str]) -> list[str]:
    """Remove botocore/data/<service>/ for every service not in ``keep``; return them."""
    data = site / "botocore" / "data"
    if not data.is_dir():
        return []
    missing = sorted(name for name in keep if not (data / name).is_dir())
    if missing:
        # A renamed or dropped model would otherwise be found only by a failing call.
        raise SystemExit(f"slim: botocore has no model for {', '.join(missing)}")
    removed = []
    for entry in sorted(data.iterdir()):
        if entry.is_dir() and entry.name not in keep:
            shutil.rmtree(entry)
            removed.append(entry.name)
    return removed


def remove_tests_and_sources(site: Path) -> list[Path]:
    """Test directories and extension sources inside packages (not in dist-info)."""
    removed: list[Path] = []
    for package in sorted(site.iterdir()):
        if not package.is_dir() or package.name.endswith((".dist-info", ".data")):
            continue
        for path in sorted(package.rglob("*"), key=lambda p: len(p.parts)):
            if not path.exists():  # inside a directory removed already
                continue
            if path.is_dir() and path.name in TEST_DIRS:
                shutil.rmtree(path)
                removed.append(path)
            elif path.is_file() and path.suffix in SOURCE_SUFFIXES:
                path.unlink()
                removed.append(path)
    return removed


def shared_objects(site: Path) -> list[Path]:
    found = []
    for path in sorted(site.rglob("*.so*")):
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as f:
                if f.read(4) == ELF_MAGIC:
                    found.append(path)
    return found


def strip_shared_objects(paths: list[Path], strip: str) -> None:
    """Drop debug sections and the static symbol table; the dynamic symbols stay."""
    if paths:
        subprocess.run([strip, "--strip-unneeded", *map(str, paths)], check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("site_packages", type=Path)
    parser.add_argument("--strip", default="strip", help="the binutils strip to run")
    parser.add_argument(
        "--keep-service",
        action="append",
        default=[],
        help="a botocore service model to keep (repeat); default: contract.AWS_SDK_SERVICES",
    )
    args = parser.parse_args(argv)
    site: Path = args.site_packages
    if not site.is_dir():
        print(f"slim: {site} is not a directory", file=sys.stderr)
        return 2
    keep = frozenset(args.keep_service)
    if not keep:
        from service.contract import AWS_SDK_SERVICES  # noqa: PLC0415 - /app is on the path only in the build

        keep = frozenset(AWS_SDK_SERVICES)
    before = tree_size(site)
    models = prune_botocore_data(site, keep)
    extras = remove_tests_and_sources(site)
    objects = shared_objects(site)
    strip_shared_objects(objects, args.strip)
    after = tree_size(site)
    print(
        f"slim: kept botocore models {', '.join(sorted(keep))}; removed {len(models)} others, "
        f"{len(extras)} test directories and sources; stripped {len(objects)} shared objects; "
        f"{before / 1e6:.1f} MB -> {after / 1e6:.1f} MB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
