"""The AWS services the code calls are the ones whose SDK models the image keeps.

docker/slim_site_packages.py removes botocore's model of every service not in
``contract.AWS_SDK_SERVICES``; a call to any other service would fail in the image only
(``UnknownServiceError``). This reads every ``.client("NAME", ...)`` in service/.
"""

from __future__ import annotations

import ast
from pathlib import Path

from service import contract

SERVICE_DIR = Path(__file__).resolve().parents[2] / "service"


def clients_created() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted(SERVICE_DIR.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("client", "resource", "create_client")
            ):
                first = node.args[0] if node.args else None
                where = f"{path.name}:{node.lineno}: an SDK client's service must be a literal"
                assert isinstance(first, ast.Constant), where
                assert isinstance(first.value, str), where
                found.setdefault(first.value, []).append(f"{path.name}:{node.lineno}")
    return found


def test_every_client_the_code_creates_is_kept_in_the_image() -> None:
    used = clients_created()
    assert set(used) == {"secretsmanager", "meteringmarketplace"}, used
    assert set(used) <= set(contract.AWS_SDK_SERVICES)


def test_sts_is_kept_for_the_sdks_own_web_identity_credentials() -> None:
    # botocore's AssumeRoleWithWebIdentityProvider creates an STS client itself.
    import inspect

    from aiobotocore import credentials

    source = inspect.getsource(credentials.AioAssumeRoleWithWebIdentityCredentialFetcher)
    assert "'sts'" in source or '"sts"' in source
    assert "sts" in contract.AWS_SDK_SERVICES
