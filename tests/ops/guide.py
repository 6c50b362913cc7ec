"""Reading docs/operations.md: its fenced blocks, their markers, and the commands in them.

Each fenced block must be preceded by a marker comment that says what the test does with
it: ``<!-- ops: run -->``, ``<!-- ops: check (why it cannot run here) -->`` or
``<!-- ops: text -->``. Shell is parsed just far enough to find every command a reader
would type: continuation lines are joined, ``$(...)`` substitutions become commands of
their own, and pipelines and lists are split.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
GUIDE = REPO_ROOT / "docs" / "operations.md"

MARKER = re.compile(r"^<!--\s*ops:\s*(run|check|text)\b(.*?)-->\s*$")
FENCE = re.compile(r"^```(\S*)\s*$")
SHELL_LANGUAGES = ("sh", "bash", "shell")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_OPERATORS = {"|", "||", "&&", ";", "&"}


@dataclass(frozen=True)
class Block:
    line: int  # where the opening fence is, 1-based
    marker: str | None  # run, check, text, or None when unmarked
    language: str
    code: str
    reason: str = ""  # the marker's note, e.g. why a check block cannot run here

    def where(self) -> str:
        return f"{GUIDE.name}:{self.line}"


def read_blocks(text: str) -> list[Block]:
    blocks: list[Block] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        fence = FENCE.match(lines[index])
        if not fence:
            index += 1
            continue
        previous = next((lines[i] for i in range(index - 1, -1, -1) if lines[i].strip()), "")
        marker = MARKER.match(previous.strip())
        end = index + 1
        while end < len(lines) and not lines[end].startswith("```"):
            end += 1
        blocks.append(
            Block(
                line=index + 1,
                marker=marker.group(1) if marker else None,
                language=fence.group(1),
                code="\n".join(lines[index + 1 : end]) + "\n",
                reason=marker.group(2).strip() if marker else "",
            )
        )
        index = end + 1
    return blocks


def _balanced(text: str) -> bool:
    """No open quote and no unclosed $( ... ) in this much of a command."""
    try:
        shlex.split(text, comments=True)
    except ValueError:
        return False
    depth = 0
    quote: str | None = None
    for position, char in enumerate(text):
        if quote:
            if char == quote:
                quote = None
            continue
        if char in "'\"":
            quote = char
        elif (char == "(" and text[position - 1 : position] == "$") or (char == "(" and depth):
            depth += 1
        elif char == ")" and depth:
            depth -= 1
    return depth == 0


def logical_lines(code: str) -> list[str]:
    """Lines as the shell reads them: continuations joined, open $( ... ) carried on."""
    joined = re.sub(r"\\\n\s*", " ", code)
    result: list[str] = []
    pending = ""
    for line in joined.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        pending = f"{pending} {stripped}".strip()
        if _balanced(pending):
            result.append(pending)
            pending = ""
    if pending:
        result.append(pending)
    return result


def _substitutions(line: str) -> tuple[str, list[str]]:
    """The line with each $( ... ) replaced by a word, and the inner commands."""
    inner: list[str] = []
    out: list[str] = []
    position = 0
    quote: str | None = None
    while position < len(line):
        char = line[position]
        if quote == "'":
            out.append(char)
            quote = None if char == "'" else quote
            position += 1
            continue
        if char == "'" and quote is None:
            quote = "'"
        elif char == '"':
            quote = None if quote == '"' else '"'
        if line.startswith("$((", position):  # arithmetic, not a command
            end = line.index("))", position) + 2
            inner_text = line[position + 3 : end - 2]
            out.append("0")
            inner.extend(_substitutions(inner_text)[1])
            position = end
            continue
        if line.startswith("$(", position):
            depth, end = 1, position + 2
            while end < len(line) and depth:
                depth += {"(": 1, ")": -1}.get(line[end], 0)
                end += 1
            inner.append(line[position + 2 : end - 1])
            out.append("SUBSTITUTED")
            position = end
            continue
        out.append(char)
        position += 1
    return "".join(out), inner


def simple_commands(line: str) -> list[list[str]]:
    """Every simple command in one logical line, substitutions included, as words."""
    outer, inner = _substitutions(line)
    commands: list[list[str]] = []
    for text in inner:
        for logical in logical_lines(text):
            commands.extend(simple_commands(logical))
    lexer = shlex.shlex(outer, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    current: list[str] = []
    for token in lexer:
        if token in _OPERATORS:
            if current:
                commands.append(current)
            current = []
        else:
            current.append(token)
    if current:
        commands.append(current)
    return commands


def commands_in(code: str) -> list[list[str]]:
    """Each command with leading VAR=value assignments removed; bare assignments dropped."""
    found: list[list[str]] = []
    for line in logical_lines(code):
        for words in simple_commands(line):
            first = 0
            while first < len(words) and _ASSIGNMENT.match(words[first]):
                first += 1
            if words[first:]:
                found.append(words[first:])
    return found
