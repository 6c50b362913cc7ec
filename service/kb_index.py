"""Indexes over the catalogue's controls, so that a query costs what it returns.

A scan of every control per request was fine for the shipped 242 controls and grew with
the knowledge base: 3.5 ms a listing or search at 100x (24,200 controls,
bench/bench_kb_scale.py), where /health takes a tenth of that. Here:
- each framework's and each AWS service's controls are a tuple of positions, made once;
- a text search runs ``str.find`` over one lower-cased blob per field (all keys, all
  titles, joined by NUL, which no query holds: the API refuses NUL), in C, and maps each
  hit back to its control, so it costs the number of hits rather than of controls.
Results are positions in publisher order, as the scan gave them. An index belongs to one
immutable catalogue, so the answers to the last CACHED_QUERIES distinct queries are kept:
a query repeated (a UI's default listing, a popular search) costs one dictionary lookup.
bench/bench_kb_scale.py measures a search repeated and searches that all differ.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence

SEPARATOR = "\0"
CACHED_QUERIES = 1024


class _Blob:
    """One field of every control, lower-cased and joined, with each one's start offset."""

    def __init__(self, values: Sequence[str]) -> None:
        self.text = SEPARATOR.join(v.lower() for v in values)
        self.starts: list[int] = []
        offset = 0
        for value in values:
            self.starts.append(offset)
            offset += len(value) + len(SEPARATOR)

    def positions(self, needle: str) -> set[int]:
        found: set[int] = set()
        at = self.text.find(needle)
        while at != -1:
            position = bisect_right(self.starts, at) - 1
            found.add(position)
            # Go on after this value: one hit per control is enough.
            following = position + 1
            if following >= len(self.starts):
                break
            at = self.text.find(needle, self.starts[following])
        return found


class ControlIndex:
    """Positions of the controls matching a framework, a service and a text, in order."""

    def __init__(
        self,
        frameworks: Sequence[str],
        services: Sequence[frozenset[str]],
        keys: Sequence[str],
        titles: Sequence[str],
    ) -> None:
        self.count = len(keys)
        by_framework: dict[str, list[int]] = {}
        by_service: dict[str, list[int]] = {}
        for position, (framework, names) in enumerate(zip(frameworks, services, strict=True)):
            by_framework.setdefault(framework, []).append(position)
            for name in names:
                by_service.setdefault(name, []).append(position)
        self._by_framework = {k: tuple(v) for k, v in by_framework.items()}
        self._by_service = {k: frozenset(v) for k, v in by_service.items()}
        self._keys = _Blob(keys)
        self._titles = _Blob(titles)
        self._answers: dict[tuple[str | None, str | None, str | None], Sequence[int]] = {}

    def matching(
        self, framework: str | None, service: str | None, text: str | None
    ) -> Sequence[int]:
        query = (framework, service, text.lower() if text else None)
        found = self._answers.get(query)
        if found is None:
            found = self._match(*query)
            if len(self._answers) >= CACHED_QUERIES:
                del self._answers[next(iter(self._answers))]  # the oldest
            self._answers[query] = found
        return found

    def _match(self, framework: str | None, service: str | None, text: str | None) -> Sequence[int]:
        if framework is not None:
            found: Sequence[int] = self._by_framework.get(framework, ())
        else:
            found = range(self.count)
        if service is not None:
            in_service = self._by_service.get(service, frozenset())
            found = tuple(p for p in found if p in in_service)
        if text:
            needle = text.lower()
            if SEPARATOR in needle:
                return ()
            hits = self._keys.positions(needle) | self._titles.positions(needle)
            if framework is None and service is None:
                return tuple(sorted(hits))
            found = tuple(p for p in found if p in hits)
        return found
