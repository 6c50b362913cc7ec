"""Compare the vendored RDS CA bundle with the one Amazon RDS publishes, or refresh it.

    python docker/certs/check_rds_bundle.py            # compare with AWS's current bundle
    python docker/certs/check_rds_bundle.py --write    # replace the vendored file with it
    python docker/certs/check_rds_bundle.py --against FILE   # compare with a local copy

The image ships docker/certs/rds-global-bundle.pem at service.contract.RDS_CA_BUNDLE_PATH.
AWS adds a region's CAs to https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem
when the region opens, and a bundle without them cannot verify an RDS endpoint there; the
container workflow runs this script on a networked runner and fails when the two differ.
Certificates are compared by the SHA-256 of their DER encoding, so line endings or text
between the PEM blocks do not matter. Standard library only. Exit 0 when the two hold the
same certificates, 1 when they differ (each difference listed), 2 when AWS's bundle cannot
be read.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import ssl
import sys
import urllib.request
from collections.abc import Sequence
from pathlib import Path

RDS_GLOBAL_BUNDLE_URL = "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"
VENDORED = Path(__file__).resolve().parent / "rds-global-bundle.pem"
PEM_BLOCK = re.compile(
    rb"-----BEGIN CERTIFICATE-----\r?\n.+?\r?\n-----END CERTIFICATE-----", re.DOTALL
)


def fingerprints(pem: bytes) -> list[str]:
    """SHA-256 of each certificate's DER, in file order; raises ValueError on a bad block."""
    found = []
    for block in PEM_BLOCK.findall(pem):
        der = ssl.PEM_cert_to_DER_cert(block.decode("ascii"))
        found.append(hashlib.sha256(der).hexdigest())
    if not found:
        raise ValueError("no PEM certificate in the bundle")
    return found


def download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as resp:  # noqa: S310 - a fixed https URL
        body: bytes = resp.read()
    return body


def compare(ours: bytes, theirs: bytes) -> tuple[list[str], list[str]]:
    """(certificates only AWS's bundle has, certificates only ours has)."""
    mine, aws = set(fingerprints(ours)), set(fingerprints(theirs))
    return sorted(aws - mine), sorted(mine - aws)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--bundle", type=Path, default=VENDORED, help="the vendored bundle")
    parser.add_argument("--url", default=RDS_GLOBAL_BUNDLE_URL)
    parser.add_argument("--against", type=Path, help="compare with this file, not the URL")
    parser.add_argument("--write", action="store_true", help="replace --bundle with AWS's")
    args = parser.parse_args(argv)
    try:
        theirs = args.against.read_bytes() if args.against else download(args.url)
        fingerprints(theirs)
    except (OSError, ValueError) as exc:
        print(f"check_rds_bundle: cannot read AWS's bundle: {exc}", file=sys.stderr)
        return 2
    source = args.against or args.url
    print(f"{source}: sha256 {hashlib.sha256(theirs).hexdigest()}")
    if args.write:
        args.bundle.write_bytes(theirs)
        print(f"wrote {args.bundle}: record the sha256 above in docker/certs/README.md")
        return 0
    ours = args.bundle.read_bytes()
    print(f"{args.bundle}: sha256 {hashlib.sha256(ours).hexdigest()}")
    only_aws, only_ours = compare(ours, theirs)
    for fp in only_aws:
        print(f"missing from the vendored bundle: certificate sha256 {fp}")
    for fp in only_ours:
        print(f"no longer in AWS's bundle: certificate sha256 {fp}")
    if only_aws or only_ours:
        print(
            "check_rds_bundle: the bundles differ; refresh with "
            "`python docker/certs/check_rds_bundle.py --write`",
            file=sys.stderr,
        )
        return 1
    print(f"check_rds_bundle: the same {len(fingerprints(ours))} certificates")
    return 0


if __name__ == "__main__":
    sys.exit(main())
