"""docs/operations.md: every command exists, and the ones that can run here do run.

Checked for every shell block: each command names a real executable, and
- ``python -m service ...`` parses with the service's own argument parser;
- ``aws SERVICE OPERATION --option ...`` exists in the installed AWS CLI's command table,
  options included;
- ``helm`` and ``kubectl`` subcommands are real ones, chart paths and values files exist,
  and every ``--set`` key is a value the chart has;
- CloudFormation parameter and output names are the parent templates' own.
Run, for every block marked ``ops: run``, in document order: against a fresh PostgreSQL
database, a running service, and the AWS CLI pointed at the moto server
(``--endpoint-url``) where the test created what a deployment would have.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from awscli.clidriver import create_clidriver  # type: ignore[import-untyped]

from service import contract
from service.config import DEFAULT_MIGRATIONS_DIR
from service.entrypoint import build_parser
from service.migrate import expected_migration_ids
from service.secrets import SECRET_CACHE_TTL
from tests.ops.guide import GUIDE, SHELL_LANGUAGES, Block, commands_in, read_blocks
from tests.support.aws import emulator_session
from tests.support.pg import create_database, drop_database
from tests.support.process import StartService, service_environment

REPO_ROOT = GUIDE.parents[1]
CHART_DIR = REPO_ROOT / "helm" / "cloud-optimizer"
VENV_BIN = Path(sys.executable).parent
CONTRACT_ENV_NAMES = frozenset(
    v for k, v in vars(contract).items() if k.startswith("ENV_") and isinstance(v, str)
)

# Helm 3 and kubectl subcommands (neither binary can be installed here; these are the
# commands of their reference pages).
HELM_COMMANDS = frozenset({
    "completion", "create", "dependency", "env", "get", "help", "history", "install",
    "lint", "list", "package", "plugin", "pull", "push", "registry", "repo", "rollback",
    "search", "show", "status", "template", "test", "uninstall", "upgrade", "verify",
    "version",
})  # fmt: skip
KUBECTL_COMMANDS = frozenset({
    "annotate", "api-resources", "api-versions", "apply", "attach", "auth", "autoscale",
    "certificate", "cluster-info", "completion", "config", "cordon", "cp", "create",
    "debug", "delete", "describe", "diff", "drain", "edit", "events", "exec", "explain",
    "expose", "get", "kustomize", "label", "logs", "patch", "port-forward", "proxy",
    "replace", "rollout", "run", "scale", "set", "taint", "top", "uncordon", "version",
    "wait",
})  # fmt: skip
KUBECTL_ROLLOUT = frozenset({"history", "pause", "restart", "resume", "status", "undo"})
# Shell builtins and keywords a block may use without an executable.
BUILTINS = frozenset({
    "export", "cd", "echo", "test", "[", "true", "false", "set", "unset", "read", "printf",
    "local", "}",
})  # fmt: skip
# CamelCase names in the guide that are not the stack's parameters or outputs.
NOT_STACK_NAMES = frozenset({"RegisterUsage", "ClusterSecretStore"})
# Words that end a function definition's header (`name() {`).
_FUNCTION = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\(\)$")


def guide_text() -> str:
    return GUIDE.read_text(encoding="utf-8")


def shell_blocks() -> list[Block]:
    return [b for b in read_blocks(guide_text()) if b.marker in ("run", "check")]


# --- The blocks and their markers ----------------------------------------------------------


def test_every_fenced_block_says_whether_it_runs() -> None:
    blocks = read_blocks(guide_text())
    unmarked = [b.where() for b in blocks if b.marker is None]
    assert unmarked == [], (
        f"fenced blocks without an <!-- ops: run|check|text --> marker: {unmarked}"
    )
    for block in blocks:
        if block.marker in ("run", "check"):
            assert block.language in SHELL_LANGUAGES, f"{block.where()}: not a shell block"
        if block.marker == "check":
            assert block.reason, f"{block.where()}: say why this block cannot run here"
    assert any(b.marker == "run" for b in blocks)


def test_the_guide_covers_what_the_marketplace_listing_needs() -> None:
    headings = {
        line.lstrip("#").strip().lower()
        for line in guide_text().splitlines()
        if line.startswith("#")
    }
    for needed in (
        "deploying",
        "where sensitive data is stored, and how it is encrypted",
        "rotating credentials and keys",
        "checking health",
        "upgrading with data preserved",
        "rolling back",
        "backup and restore",
        "troubleshooting by exit code",
    ):
        assert needed in headings, f"no section '{needed}'"
    assert 'on ecs with cloudformation ("launch stack")' in headings
    assert "on eks with helm" in headings


def test_every_documented_exit_code_is_the_contracts() -> None:
    codes = {
        value
        for name, value in vars(contract).items()
        if name.startswith("EXIT_") and isinstance(value, int)
    }
    section = guide_text().split("## Troubleshooting by exit code", 1)[1]
    service_table = section.split("`python build_templates.py`", 1)[0]
    documented = {int(m) for m in re.findall(r"^\| (\d+) \|", service_table, re.M)}
    assert documented == codes


def test_every_build_templates_exit_code_is_documented() -> None:
    import build_templates

    codes = {
        value
        for name, value in vars(build_templates).items()
        if name.startswith("EXIT_") and isinstance(value, int)
    }
    table = guide_text().split("`python build_templates.py` (building", 1)[1]
    assert {int(m) for m in re.findall(r"^\| (\d+) \|", table, re.M)} == codes


def test_numbers_in_the_prose_are_the_contracts() -> None:
    text = " ".join(guide_text().split())
    for name, seconds in (
        (contract.ENV_SHUTDOWN_DELAY, contract.SHUTDOWN_DELAY),
        (contract.ENV_GRACEFUL_TIMEOUT, contract.GRACEFUL_TIMEOUT),
        (contract.ENV_DB_WAIT_TIMEOUT, contract.DB_WAIT_TIMEOUT_DEFAULT),
    ):
        assert f"`{name}` ({seconds} s)" in text, name
    assert f"caches it for {SECRET_CACHE_TTL / 60:g} min" in text
    assert f"longer than the start may wait ({contract.MIGRATION_LOCK_TIMEOUT / 60:g} min)" in text


def test_container_and_deployment_names_are_the_artefacts() -> None:
    text = guide_text()
    # The ECS one-off task overrides the container by name; the chart names its
    # Deployment "<release>-<chart>" and the guide's release is "co".
    assert f'"name": "{contract.APP_NAME}"' in text
    assert f"deployment/co-{contract.APP_NAME}" in text


def test_stack_parameter_and_output_names_are_the_templates() -> None:
    from templates_src import parents
    from templates_src.profile import PROFILES

    names = {
        value
        for key, value in vars(parents).items()
        if key.startswith(("P_", "O_")) and isinstance(value, str)
    }
    # And every parameter, output and resource (the nested stacks) the parents declare
    # (the options' come from their own modules: templates_src/options.py, alarms.py, sso.py).
    for profile in PROFILES:
        parent = parents.build_parent(profile, lambda name: f"nested/{name}.yaml")
        names |= set(parent.parameters) | set(parent.outputs) | set(parent.resources)
    text = guide_text()
    used = set(re.findall(r"OutputKey=='(\w+)'", text))
    used |= set(re.findall(r"ParameterKey=(\w+)", text))
    used |= set(re.findall(r"\$\(output (\w+)\)", text))
    # Backticked CamelCase words in the prose are parameter or output names, but for
    # these names of other things.
    used |= set(re.findall(r"`([A-Z][a-z]+(?:[A-Z][a-z0-9]*)+)`", text)) - NOT_STACK_NAMES
    assert used, "the guide names no parameter or output"
    assert used - names == set()


# --- Every command exists ------------------------------------------------------------------


def _aws_table() -> Any:
    return create_clidriver()._get_command_table()


def _subcommands(command: Any) -> dict[str, Any]:
    if hasattr(command, "subcommand_table"):
        return dict(command.subcommand_table)
    return dict(command._get_command_table())


def check_aws(words: list[str], table: Any, global_options: set[str]) -> None:
    rest = words[1:]
    positional = [w for w in rest if not w.startswith("-")]
    assert positional, f"aws without a service: {words}"
    service = positional[0]
    assert service in table, f"no AWS CLI service {service!r}"
    operations = _subcommands(table[service])
    operation_name = rest[rest.index(service) + 1]
    assert operation_name in operations, f"no command 'aws {service} {operation_name}'"
    operation = operations[operation_name]
    tail = rest[rest.index(operation_name) + 1 :]
    if hasattr(operation, "subcommand_table"):  # `aws rds wait <waiter>`
        waiter = tail[0]
        assert waiter in operation.subcommand_table, f"no 'aws {service} wait {waiter}'"
        operation = operation.subcommand_table[waiter]
        tail = tail[1:]
    known = set(operation.arg_table) | global_options
    for word in tail:
        if word.startswith("--"):
            option = word[2:].split("=", 1)[0]
            assert option in known, f"'aws {service} {operation_name}' has no --{option}"


def _values_keys(tree: Any, prefix: str = "") -> Iterator[str]:
    if isinstance(tree, dict):
        for key, value in tree.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            yield path
            yield from _values_keys(value, path)


def check_helm(words: list[str]) -> None:
    positional = [w for w in words[1:] if not w.startswith("-")]
    assert positional[0] in HELM_COMMANDS, f"no helm command {positional[0]!r}"
    values = yaml.safe_load((CHART_DIR / "values.yaml").read_text(encoding="utf-8"))
    keys = set(_values_keys(values))
    for index, word in enumerate(words):
        if word.startswith(("./helm/", "helm/")):
            assert (REPO_ROOT / word).exists(), f"no {word} in the repository"
        if word in ("-f", "--values"):
            assert (REPO_ROOT / words[index + 1]).is_file(), words[index + 1]
        if word == "--set":
            key = words[index + 1].split("=", 1)[0]
            assert key in keys, f"the chart has no value {key!r}"


def check_kubectl(words: list[str]) -> None:
    positional: list[str] = []
    skip = False
    for word in words[1:]:
        if skip:
            skip = False
        elif word in ("-n", "--namespace", "-l", "-c"):
            skip = True
        elif not word.startswith("-"):
            positional.append(word)
    assert positional[0] in KUBECTL_COMMANDS, f"no kubectl command {positional[0]!r}"
    if positional[0] == "rollout":
        assert positional[1] in KUBECTL_ROLLOUT, f"no 'kubectl rollout {positional[1]}'"
    if positional[0] == "exec" and "--" in words:
        check_command(words[words.index("--") + 1 :], functions=set())


def check_python(words: list[str]) -> None:
    if words[1:3] == ["-m", "service"]:
        try:
            build_parser().parse_args(words[3:])
        except SystemExit as exc:
            if words[3:] != ["--help"]:
                raise AssertionError(f"'{' '.join(words)}' is refused: exit {exc.code}") from None
        return
    if words[1] == "-c":
        compile(words[2], "<guide>", "exec")
        return
    script = REPO_ROOT / words[1]
    assert script.is_file(), f"no script {words[1]} in the repository"
    if words[1] == "build_templates.py":
        import build_templates
        from templates_src.artifacts import UsageError

        try:
            build_templates.parse_args(words[2:])
        except UsageError as exc:
            raise AssertionError(f"'{' '.join(words)}' is refused: {exc}") from None
        except SystemExit:  # --help
            pass


_AWS: dict[str, Any] = {}


def check_command(words: list[str], functions: set[str]) -> None:
    executable = words[0]
    if executable in BUILTINS or executable in functions:
        return
    if executable == "aws":
        if not _AWS:
            driver = create_clidriver()
            _AWS["table"] = driver._get_command_table()
            _AWS["globals"] = set(driver._get_argument_table())
        check_aws(words, _AWS["table"], _AWS["globals"])
    elif executable == "helm":
        check_helm(words)
    elif executable == "kubectl":
        check_kubectl(words)
    elif executable == "python":
        check_python(words)
    else:
        assert shutil.which(executable), f"{executable} is not installed here"


@pytest.mark.parametrize("block", shell_blocks(), ids=lambda b: f"line{b.line}")
def test_every_command_exists(block: Block) -> None:
    functions: set[str] = set()
    commands = commands_in(block.code)
    assert commands, f"{block.where()}: no command"
    for words in commands:
        header = _FUNCTION.match(words[0])
        if header:
            functions.add(header.group(1))
            continue
        try:
            check_command(words, functions)
        except AssertionError as exc:
            raise AssertionError(f"{block.where()}: {exc}") from None


# --- The runnable blocks run ---------------------------------------------------------------

# Every `aws` in a run block goes to the emulator.
PREAMBLE = 'aws() { command aws --endpoint-url "$AWS_ENDPOINT_URL" "$@"; }\n'


def seed_account(endpoint: str) -> dict[str, str]:
    """What a deployment leaves in an account, for the commands that inspect it."""
    kms = emulator_session(endpoint).client("kms")
    key = kms.create_key(Description="cloud-optimizer data key")["KeyMetadata"]["Arn"]
    kms.enable_key_rotation(KeyId=key)
    secret = (
        emulator_session(endpoint)
        .client("secretsmanager")
        .create_secret(
            Name="rds!db-guide",
            KmsKeyId=key,
            SecretString=json.dumps({"username": "co", "password": "emulated-only"}),
        )["ARN"]
    )
    emulator_session(endpoint).client("rds").create_db_instance(
        DBInstanceIdentifier="co-guide-db",
        Engine="postgres",
        DBInstanceClass="db.t4g.micro",
        MasterUsername="co",
        MasterUserPassword="emulated-only",
        AllocatedStorage=20,
        StorageEncrypted=True,
        KmsKeyId=key,
    )
    emulator_session(endpoint).client("logs").create_log_group(
        logGroupName="/cloud-optimizer/guide", kmsKeyId=key
    )
    return {
        "KMS_KEY_ID": key,
        "DATABASE_SECRET_ARN": secret,
        "DB_INSTANCE_ID": "co-guide-db",
        "DB_ENDPOINT": "co-guide-db.emulated.internal",
        "LOG_GROUP": "/cloud-optimizer/guide",
    }


@pytest.fixture
def restore_database_url(pg_admin_url: str) -> Iterator[str]:
    url = create_database(pg_admin_url, prefix="co_restore")
    try:
        yield url
    finally:
        drop_database(pg_admin_url, url)


@pytest.mark.slow
def test_runnable_blocks_run(
    *,
    aws: str,
    ops_env: dict[str, str],
    database_url: str,
    restore_database_url: str,
    start_service: StartService,
    tmp_path: Path,
) -> None:
    runnable = [b for b in read_blocks(guide_text()) if b.marker == "run"]
    assert runnable
    service = start_service(ops_env)
    service.wait_until_ready(90)
    env = service_environment(
        **{
            contract.ENV_DATABASE_URL: database_url,
            "RESTORE_DATABASE_URL": restore_database_url,
            "SERVICE_URL": service.url,
            "AWS_ENDPOINT_URL": aws,
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": str(REPO_ROOT),
        }
    )
    account = seed_account(aws)
    # The guide's shell variables must not be the service's own: exported, they would
    # configure `python -m service` behind the reader's back.
    assert set(account).isdisjoint(CONTRACT_ENV_NAMES)
    env |= account
    # The guide's example id must be a migration this release knows (rollback refuses
    # an unknown one with exit 64, which the run below would also show).
    example = re.search(r"^PREVIOUS_HEAD=(\S+)$", guide_text(), re.M)
    assert example is not None
    assert example.group(1) in expected_migration_ids(DEFAULT_MIGRATIONS_DIR)
    # The guide's commands run from a checkout's root; the build writes to ./out, so give
    # it a root of its own whose script is the checkout's.
    (tmp_path / "build_templates.py").symlink_to(REPO_ROOT / "build_templates.py")
    for block in runnable:
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", PREAMBLE + block.code],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, (
            f"{block.where()} exited {result.returncode}:\n{block.code}\n"
            f"stdout: {result.stdout[-2000:]}\nstderr: {result.stderr[-3000:]}"
        )
