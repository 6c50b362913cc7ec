"""A knowledge base N times the shipped one, valid under its schema and the loader's checks.

    .venv/bin/python -m bench.synthetic_kb SCALE TARGET_DIR

Each shipped framework keeps its id and gains N-1 copies of every control, with ids
suffixed ``-sK`` (K = 2..N, allowed by the schema's control id pattern) and titles marked
``(copy K)``. A copy's mappings point at the same copy of the mapped controls, so controls
and mappings both grow N times and every mapping still resolves. The schema is the shipped
one, copied unchanged. ``python -m service.kb validate TARGET_DIR`` accepts the result.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "compliance"


def _copy_of(control: dict[str, Any], k: int) -> dict[str, Any]:
    if k == 1:
        return control
    return {
        **control,
        "id": f"{control['id']}-s{k}",
        "title": f"{control['title']} (copy {k})",
        "mappings": [f"{m}-s{k}" for m in control["mappings"]],
    }


def write_kb(scale: int, target: Path, source: Path = SHIPPED) -> int:
    """Write the scaled knowledge base into ``target``; return its number of controls."""
    if scale < 1:
        raise ValueError("scale must be at least 1")
    shutil.copytree(source / "schema", target / "schema")
    (target / "frameworks").mkdir(parents=True)
    controls = 0
    for path in sorted((source / "frameworks").glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        document["controls"] = [
            _copy_of(c, k) for k in range(1, scale + 1) for c in document["controls"]
        ]
        controls += len(document["controls"])
        (target / "frameworks" / path.name).write_text(
            json.dumps(document, ensure_ascii=False), encoding="utf-8"
        )
    return controls


if __name__ == "__main__":
    if len(sys.argv) != 3 or not sys.argv[1].isdigit():
        print("usage: synthetic_kb.py SCALE TARGET_DIR", file=sys.stderr)
        raise SystemExit(64)
    print(write_kb(int(sys.argv[1]), Path(sys.argv[2])), "controls")
