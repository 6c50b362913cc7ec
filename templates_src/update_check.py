"""--check-update: what updating a stack from an earlier build to this one would replace.

Reads the earlier build (a folder such as an earlier out/, or a git ref whose out/ is
used), pairs each parent with its children, and prints every resource the update would
replace or delete (:mod:`templates_src.update_safety` decides which hold data).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from templates_src import reports, update_safety
from templates_src.artifacts import Artifact, UsageError
from templates_src.profile import PROFILES, Profile

#: What an earlier build's templates and parameter files are named (not its diagrams).
TEMPLATE_SUFFIXES = frozenset({".yaml", ".json"})


def _git_root() -> Path:
    return Path(__file__).resolve().parent.parent


def read_earlier_build(source: str) -> dict[str, str]:
    """The files of an earlier build: a folder (an out/), or a git ref's out/."""
    folder = Path(source)
    if folder.is_dir():
        found = {
            str(p.relative_to(folder)): p.read_text(encoding="utf-8")
            for p in folder.rglob("*")
            if p.is_file() and p.suffix in TEMPLATE_SUFFIXES
        }
        if not found:
            raise UsageError(f"--check-update: {source} holds no templates")
        return found
    import subprocess  # noqa: PLC0415 - only --check-update with a git ref needs it

    def git(*words: str) -> str:
        try:
            done = subprocess.run(
                ["git", "-C", str(_git_root()), *words],
                capture_output=True,
                text=True,
                check=True,
                timeout=60,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise UsageError(
                f"--check-update: {source!r} is neither a folder nor a git ref of this "
                f"repository ({exc.__class__.__name__})"
            ) from None
        return done.stdout

    # Templates and parameter files only, as from a folder: out/ also holds the diagrams.
    names = [
        name
        for name in git("ls-tree", "-r", "--name-only", f"{source}:out").split()
        if Path(name).suffix in TEMPLATE_SUFFIXES
    ]
    return {name: git("show", f"{source}:out/{name}") for name in names}


def template_set(name: str, files: Mapping[str, str], where: str) -> update_safety.TemplateSet:
    from cfnlint.decode import cfn_json, cfn_yaml  # noqa: PLC0415 - reads short and long form

    def load(path: str) -> dict[str, Any]:
        if path not in files:
            raise UsageError(f"--check-update: {where} has no {path}")
        loader = cfn_json.loads if path.endswith(".json") else cfn_yaml.loads
        document: dict[str, Any] = json.loads(json.dumps(loader(files[path])))
        return document

    ext = "yaml" if f"{name}.yaml" in files else "json"
    parent = load(f"{name}.{ext}")
    # A TemplateURL is nested/NAME.EXT, relative or under an https base URL.
    children = {
        logical_id: load(
            "nested/" + str(resource["Properties"]["TemplateURL"]).split("nested/")[-1]
        )
        for logical_id, resource in parent.get("Resources", {}).items()
        if resource.get("Type") == update_safety.STACK_TYPE
    }
    return update_safety.TemplateSet(name, parent, children)


def _parameter_values(files: Mapping[str, str], parameters_name: str) -> dict[str, str]:
    text = files.get(f"parameters/{parameters_name}.json")
    values = {p["ParameterKey"]: p["ParameterValue"] for p in json.loads(text)} if text else {}
    for key, sample in reports.SAMPLE_VALUES.items():
        if key in values and "REPLACE" in values[key]:
            values[key] = sample
    return values


def check_update(
    artifacts: Sequence[Artifact],
    *,
    source: str,
    region: str,
    parameters: Path | None = None,
    from_parent: str | None = None,
    to_parent: str | None = None,
) -> bool:
    """--check-update: print what updating from ``source`` to this build replaces or deletes.

    True when no stateful resource is replaced or deleted.
    """
    earlier = read_earlier_build(source)
    current = {a.path: a.text for a in artifacts}
    given = reports.stack_parameters(parameters) if parameters else {}
    by_name: dict[str, Profile] = {p.name: p for p in PROFILES}
    pairs = (
        [(by_name[from_parent], by_name[to_parent or from_parent])]
        if from_parent
        else [(p, p) for p in PROFILES]
    )
    unsafe = 0
    for old_profile, new_profile in pairs:
        old = template_set(old_profile.template_name, earlier, source)
        new = template_set(new_profile.template_name, current, "this build")
        old_values = _parameter_values(earlier, old_profile.parameters_name) | given
        new_values = _parameter_values(current, new_profile.parameters_name) | {
            k: v for k, v in old_values.items() if old_profile is new_profile or k in given
        }
        changes = update_safety.compare_sets(old, new, old_values, new_values, region)
        title = f"{old_profile.template_name} -> {new_profile.template_name}"
        print(f"{title}: {len(changes)} resource(s) replaced or deleted")
        for change in changes:
            print(f"  {'UNSAFE ' if change.unsafe else ''}{change.describe()}")
        unsafe += sum(c.unsafe for c in changes)
    if unsafe:
        print(
            f"build_templates.py: the update would replace or delete {unsafe} stateful "
            "resource(s) (see above): do not apply it as it stands",
            file=sys.stderr,
        )
        return False
    print("no stateful resource is replaced or deleted")
    return True
