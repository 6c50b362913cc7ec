"""`python -m helm [--check]`: regenerate (or check) what the chart derives."""

from __future__ import annotations

import sys

from helm import contract_tpl, values_table


def main(argv: list[str]) -> int:
    check = argv[1:] == ["--check"]
    if argv[1:] not in ([], ["--check"]):
        sys.stderr.write("usage: python -m helm [--check]\n")
        return 64
    wanted = {
        contract_tpl.CONTRACT_TPL: contract_tpl.render(),
        values_table.README: values_table.render_readme(
            values_table.README.read_text(encoding="utf-8"),
            values_table.VALUES.read_text(encoding="utf-8"),
        ),
    }
    stale = [p for p, text in wanted.items() if not p.exists() or p.read_text() != text]
    if check:
        for path in stale:
            sys.stderr.write(f"{path} is out of date: run python -m helm\n")
        return 1 if stale else 0
    for path in stale:
        path.write_text(wanted[path], encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
