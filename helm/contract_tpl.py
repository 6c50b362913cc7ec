"""templates/_contract.tpl: the service contract's numbers and names, for the chart.

A chart cannot import Python, so the values its templates take from service/contract.py
(the probe paths, the image's user, the RDS CA bundle's path, the exit codes a retry
cannot fix) are rendered into named templates here, once. tests/helm/test_contract.py
fails when the committed file differs from a fresh render.
"""

from __future__ import annotations

import json
from pathlib import Path

from service import contract

CHART_DIR = Path(__file__).resolve().parent / "cloud-optimizer"
CONTRACT_TPL = CHART_DIR / "templates" / "_contract.tpl"

# Exit codes of `python -m service migrate` that the same pod would meet again on a retry:
# the Job fails at once on them instead of spending its backoff (podFailurePolicy).
UNRETRYABLE_EXIT_CODES = (
    contract.EXIT_USAGE,
    contract.EXIT_DATA,
    contract.EXIT_NOPERM,
    contract.EXIT_CONFIG,
)

# template name (after "cloud-optimizer.contract.") -> value; strings are rendered bare.
CONSTANTS: dict[str, object] = {
    "version": contract.VERSION,
    "healthPath": contract.HEALTH_PATH,
    "readyPath": contract.READY_PATH,
    "uid": contract.CONTAINER_UID,
    "gid": contract.CONTAINER_GID,
    "rdsCaBundlePath": contract.RDS_CA_BUNDLE_PATH,
    "unretryableExitCodes": list(UNRETRYABLE_EXIT_CODES),
}

HEADER = """\
{{/*
Generated from service/contract.py by `python -m helm`: do not edit by hand.
The chart's templates take these values from here and nowhere else.
*/}}
"""


def render() -> str:
    """The file's text for the current contract."""
    blocks = [HEADER]
    for name, value in CONSTANTS.items():
        text = value if isinstance(value, str) else json.dumps(value)
        blocks.append(f'{{{{- define "cloud-optimizer.contract.{name}" -}}}}{text}{{{{- end }}}}\n')
    return "".join(blocks)
