"""docs/architecture.md maps each concern to its one file: those files exist, and what it
says the knowledge base's content hash covers is what the code hashes."""

from __future__ import annotations

import re
from pathlib import Path

from service.kb_validation import RULES_MODULES

ROOT = Path(__file__).resolve().parent.parent
ARCHITECTURE = (ROOT / "docs" / "architecture.md").read_text()


def test_every_service_file_the_page_names_exists() -> None:
    named = set(re.findall(r"`(service/[\w/]+\.py)`", ARCHITECTURE))
    assert named, "the page names no service file"
    assert sorted(p for p in named if not (ROOT / p).is_file()) == []


def test_the_page_names_every_module_the_content_hash_covers() -> None:
    paragraph = ARCHITECTURE[ARCHITECTURE.index("The content hash covers") :].split("\n\n")[0]
    covered = set(re.findall(r"`(\w+)\.py`", paragraph))
    assert covered == {name.removeprefix("service.") for name in RULES_MODULES}
