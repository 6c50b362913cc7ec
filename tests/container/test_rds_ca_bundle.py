"""Amazon RDS's CA bundle: vendored with its provenance, X.509 throughout, in the image at the
contract's path, and kept current by a CI step that compares it with AWS's."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509

from service import contract
from tests.container import docker_images, images
from tests.container.conftest import DockerImage
from tests.container.dockerfile import parse_dockerfile
from tests.container.engine import Engine

CERTS = images.REPO_ROOT / "docker" / "certs"
BUNDLE = CERTS / "rds-global-bundle.pem"
PROVENANCE = CERTS / "README.md"
CHECKER = CERTS / "check_rds_bundle.py"
WORKFLOW = images.REPO_ROOT / ".github" / "workflows" / "container.yml"


def bundle_certificates() -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(BUNDLE.read_bytes())


def test_every_block_of_the_bundle_is_an_amazon_rds_ca_certificate() -> None:
    certificates = bundle_certificates()
    assert len(certificates) == BUNDLE.read_bytes().count(b"-----BEGIN CERTIFICATE-----")
    assert len(certificates) > 100  # every region's roots, not one certificate
    for cert in certificates:
        subject = cert.subject.rfc4514_string()
        assert "OU=Amazon RDS" in subject, subject
        assert "O=Amazon Web Services\\, Inc." in subject, subject
        assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_bundle_has_current_roots_for_the_regions_it_claims() -> None:
    """The 2021 G1 roots (valid for decades), three key types per region, as AWS issues them."""
    names = [
        c.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)[0].value
        for c in bundle_certificates()
    ]
    regions = {
        m.group(1)
        for n in names
        if (m := re.fullmatch(r"Amazon RDS (\S+) Root CA (?:RSA2048|RSA4096|ECC384) G1", str(n)))
    }
    for region in ("us-east-1", "us-west-1", "eu-west-1", "ap-southeast-3", "sa-east-1"):
        for kind in ("RSA2048", "RSA4096", "ECC384"):
            assert f"Amazon RDS {region} Root CA {kind} G1" in names, (region, kind)
    documented = PROVENANCE.read_text(encoding="utf-8")
    assert "il-central-1" in documented  # the regions the snapshot lacks are named
    assert "il-central-1" not in regions


def test_bundle_sha256_is_the_one_its_provenance_records() -> None:
    digest = hashlib.sha256(BUNDLE.read_bytes()).hexdigest()
    recorded = re.search(r"File sha256 \| `([0-9a-f]{64})`", PROVENANCE.read_text())
    assert recorded, "docker/certs/README.md records no sha256"
    assert recorded.group(1) == digest


def test_dockerfile_puts_the_bundle_at_the_contract_path() -> None:
    copies = [
        i.args.split()
        for i in parse_dockerfile(images.DOCKERFILE)
        if i.keyword == "COPY" and "rds-global-bundle.pem" in i.args
    ]
    assert copies == [["docker/certs/rds-global-bundle.pem", contract.RDS_CA_BUNDLE_PATH]]


@pytest.mark.container
@pytest.mark.slow
def test_image_carries_the_bundle_at_the_contract_path_as_openssl_loads_it(
    docker_engine: Engine, docker_image: DockerImage
) -> None:
    found = docker_images.run_probe(docker_engine, docker_image.name, "rds_bundle")
    assert found["path"] == contract.RDS_CA_BUNDLE_PATH
    assert found["sha256"] == hashlib.sha256(BUNDLE.read_bytes()).hexdigest()
    assert found["x509_ca"] == found["pem_blocks"] == len(bundle_certificates())
    assert found["owner"] == 0  # root's, read-only to the service
    assert found["mode"] == "0o644"


def run_checker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHECKER), *args], capture_output=True, text=True, check=False
    )


def test_refresh_check_passes_on_the_same_certificates_with_other_line_endings(
    tmp_path: Path,
) -> None:
    copy = tmp_path / "aws.pem"
    copy.write_bytes(BUNDLE.read_bytes().replace(b"\n", b"\r\n"))
    result = run_checker("--against", str(copy))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"the same {len(bundle_certificates())} certificates" in result.stdout


def test_refresh_check_fails_naming_a_certificate_aws_added(tmp_path: Path) -> None:
    from tests.support.tls import CertificateAuthority

    new_ca = CertificateAuthority.create(tmp_path, "new-region-ca")
    aws = tmp_path / "aws.pem"
    aws.write_bytes(BUNDLE.read_bytes() + new_ca.cert_path.read_bytes())
    result = run_checker("--against", str(aws))
    assert result.returncode == 1
    assert result.stdout.count("missing from the vendored bundle") == 1
    assert "--write" in result.stderr


def test_refresh_check_fails_without_a_traceback_when_aws_cannot_be_read(
    tmp_path: Path,
) -> None:
    result = run_checker("--against", str(tmp_path / "absent.pem"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_ci_workflow_compares_the_bundle_with_aws_published_one() -> None:
    text = WORKFLOW.read_text(encoding="utf-8")
    assert "python3 docker/certs/check_rds_bundle.py" in text
    checker = CHECKER.read_text(encoding="utf-8")
    assert "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem" in checker
