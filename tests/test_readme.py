"""The README is part of the product: its Quick start and its configuration table."""

from __future__ import annotations

import re
from pathlib import Path

from service import contract

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", README, re.S | re.M)
    assert match, f"README has no '## {title}' section"
    return match.group(1)


def _quick_start_commands() -> list[str]:
    block = re.search(r"```sh\n(.*?)```", _section("Quick start"), re.S)
    assert block, "the Quick start has no sh block"
    return [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_quick_start_has_exactly_a_build_and_a_test_command() -> None:
    commands = _quick_start_commands()
    assert commands == ["bash scripts/dev.sh build", "bash scripts/dev.sh test"]


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    test_command = _quick_start_commands()[1]
    assert re.search(rf"^(exec )?{re.escape(test_command)}$", ci, re.M), ci


def test_every_environment_variable_of_the_contract_is_in_the_readme_table() -> None:
    table = _section("Configuration")
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", table, re.M))
    names = {
        value
        for key, value in vars(contract).items()
        if key.startswith("ENV_") and isinstance(value, str)
    }
    assert names, "the contract names no environment variables"
    missing = names - documented
    assert not missing, f"README's configuration table misses {sorted(missing)}"
