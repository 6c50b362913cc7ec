"""Indexes over the catalogue's controls, so that a query costs what it returns.

A scan of every control per request was fine for the shipped 242 controls and grew with
the knowledge base, and so did a ``str.find`` over one blob of all titles: a search that
differed from the last ones read every title once (0.27 ms a request at 10x, 2.44x
/health's p99 in bench/bench_kb_scale.py). Here, built once per catalogue:
- each framework's controls are a tuple of positions, and each framework, AWS service and
  short text is a bit set of positions (a Python ``int``: bit ``p`` is control ``p``);
- every distinct text of one to ``GRAM`` characters found in a control's lower-cased key
  or title maps to the bit set of the controls whose key or title holds it. A query of up
  to ``GRAM`` characters is that bit set exactly; a longer one is in a control only if
  each of its ``GRAM``-character pieces is, so the AND of their bit sets leaves the few
  candidates that are checked with ``in``, as the scan did. When few are left, the answer
  is those positions themselves (an ``array``), so that its pages need no second pass.
Filters combine with ``&``, a total is ``int.bit_count``, and a page reads the bits of its
own positions only: all in C but the page. Results are positions in publisher order, as
the scan gave them. An index belongs to one immutable catalogue, so the answers to the
last CACHED_QUERIES distinct queries are kept: a query repeated (a UI's default listing, a
popular search) costs one dictionary lookup. bench/bench_kb_scale.py measures a search
repeated and searches that all differ. The price is the build, one pass over every key
and title at startup (pin_catalogue): 0.02 s CPU at 10x, about 0.6 s at 100x.
"""

from __future__ import annotations

import re
from array import array
from collections import deque
from collections.abc import Iterator, Sequence
from itertools import compress, islice, repeat
from operator import contains, not_
from typing import overload

CACHED_QUERIES = 1024
# The longest text indexed exactly. Three keeps the index small (about 3,100 bit sets for
# the shipped titles at any scale, 8 MB at 100x) and leaves 0.2% false candidates among the
# bench's searches of four and five letters (bench/bench_kb_scale.py).
GRAM = 3
# Bytes of a bit set counted per step when a page is looked for in it (4,096 controls).
_CHUNK_BYTES = 512
# Below one set bit in this many, the set bits are found by a regular expression, skipping
# the zeros in C; above it, by one pass of itertools.compress, which costs every position.
_SPARSE = 3
_ONE = re.compile("1")
_START = re.Match.start
# Below one set bit in this many, the set bits are found byte by byte (_positions_by_byte):
# 20 of 2,420 bits in 3.8 us against 5.7 us from the binary digits, 200 of 24,200 in 36 us
# against 48 us; at about one in 64 the two take the same time (timeit, 2026-12-03).
_VERY_SPARSE = 64
_ONE_BYTE = re.compile(b"\x01")
_BYTE_TO_FLAG = bytes([0] + [1] * 255)  # a byte with any bit set -> 1
_BYTE_BITS = tuple(tuple(bit for bit in range(8) if value >> bit & 1) for value in range(256))
# Up to this many positions, a bit set is OR-ed together bit by bit; beyond, written out.
_FEW = 32
# A kept position's size in bits (array "I"): a search's answer of fewer hits than
# controls / _POSITION_BITS is kept as its positions, smaller than its bit set.
_POSITION_BITS = 32
# Joins a control's key and title into one text to search: a needle holding it is checked
# against each field alone, so that no match spans the two.
SEPARATOR = "\0"
_DIGIT_TO_FLAG = bytes.maketrans(b"01", b"\0\1")


def _bit_set(positions: Sequence[int]) -> int:
    """The bit set of ascending ``positions``."""
    if len(positions) <= _FEW:
        mask = 0
        for position in positions:
            mask |= 1 << position
        return mask
    # OR-ing thousands of bits into a growing int is quadratic: write the binary digits,
    # digits[position] = "1" iterated in C, and let int() read them in linear time.
    digits = bytearray(b"0") * (positions[-1] + 1)
    deque(map(digits.__setitem__, positions, repeat(0x31)), maxlen=0)
    digits.reverse()  # int() reads the highest bit first
    return int(digits, 2)


def _bits_low_first(mask: int) -> str:
    """``mask`` in binary, bit 0 first: character ``p`` is ``"1"`` when control ``p`` is in."""
    return bin(mask)[:1:-1]


def _bytes_low_first(mask: int) -> bytes:
    """``mask``'s bytes, byte 0 first: bit ``b`` of byte ``i`` is control ``8 * i + b``."""
    return mask.to_bytes((mask.bit_length() + 7) // 8, "little")


def _positions(mask: int, count: int) -> list[int]:
    """Every set bit of ``mask`` (``count`` of them), in ascending order."""
    if count * _VERY_SPARSE < mask.bit_length():
        return _positions_by_byte(mask)
    bits = _bits_low_first(mask)
    if count * _SPARSE >= len(bits):
        flags = bits.encode("ascii").translate(_DIGIT_TO_FLAG)
        return list(compress(range(len(flags)), flags))
    return [found.start() for found in _ONE.finditer(bits)]


def _positions_by_byte(mask: int) -> list[int]:
    """The set bits of a very sparse ``mask``: its bytes, not its binary digits, are
    searched for the non-zero ones (an eighth of the text to write out and scan), and
    only those bytes' bits are read."""
    data = _bytes_low_first(mask)
    found: list[int] = []
    for byte in _ONE_BYTE.finditer(data.translate(_BYTE_TO_FLAG)):
        at = byte.start()
        first = at * 8
        for bit in _BYTE_BITS[data[at]]:
            found.append(first + bit)
    return found


class Matches(Sequence[int]):
    """The positions of the bits of ``mask``, in ascending order, read only as far as asked.

    ``len`` counts the bits in C; a slice finds its first position by counting whole
    chunks, so a page costs its own length and not the number of matches before it. Kept
    answers of many matches are these: one bit per control, where a tuple of positions
    would hold 8 bytes per match (1024 answers of 24,200 matches, 200 MB at 100x).
    """

    __slots__ = ("_count", "_mask", "_page", "_page_bounds")

    def __init__(self, mask: int) -> None:
        self._mask = mask
        self._count = mask.bit_count()
        # The last page read: a kept answer asked again (a UI's first page) is not re-read.
        self._page_bounds = (0, 0)
        self._page: tuple[int, ...] = ()

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[int]:
        return iter(_positions(self._mask, self._count))

    @overload
    def __getitem__(self, item: int) -> int: ...

    @overload
    def __getitem__(self, item: slice) -> Sequence[int]: ...

    def __getitem__(self, item: int | slice) -> int | Sequence[int]:
        if isinstance(item, slice):
            start, stop, step = item.indices(self._count)
            if step != 1:
                return list(self)[item]
            if (start, stop) != self._page_bounds:
                self._page, self._page_bounds = tuple(self._select(start, stop)), (start, stop)
            return self._page
        position = range(self._count)[item]  # IndexError, negative indexes, as a list does
        return self._select(position, position + 1)[0]

    def _select(self, start: int, stop: int) -> list[int]:
        """The positions of the ``start``-th to the ``stop - 1``-th set bits.

        Chunk by chunk from bit 0: whole chunks before the first wanted bit are only
        counted, and only the chunks holding wanted bits are written out in binary, so a
        first page costs a chunk and not the whole bit set (at 100x, 4,096 of 24,200 bits
        written out and reversed instead of all of them).
        """
        found: list[int] = []
        if start >= stop:
            return found
        data = _bytes_low_first(self._mask)
        seen = 0
        for at in range(0, len(data), _CHUNK_BYTES):
            chunk = int.from_bytes(data[at : at + _CHUNK_BYTES], "little")
            in_chunk = chunk.bit_count()
            if seen + in_chunk > start:
                wanted = islice(_ONE.finditer(_bits_low_first(chunk)), start - seen, stop - seen)
                found.extend(map((at * 8).__add__, map(_START, wanted)))
                if seen + in_chunk >= stop:
                    break
                start = seen + in_chunk  # the next chunk's bits are wanted from its first
            seen += in_chunk
        return found


class ControlIndex:
    """Positions of the controls matching a framework, a service and a text, in order.

    ``text`` matches a control when, lower-cased, it is a substring of the control's key or
    title lower-cased; an empty or missing filter is no filter.
    """

    def __init__(
        self,
        frameworks: Sequence[str],
        services: Sequence[frozenset[str]],
        keys: Sequence[str],
        titles: Sequence[str],
    ) -> None:
        self.count = len(keys)
        self._all = (1 << self.count) - 1
        by_framework: dict[str, list[int]] = {}
        by_service: dict[str, list[int]] = {}
        self._keys = [key.lower() for key in keys]
        self._titles = [title.lower() for title in titles]
        self._texts = [k + SEPARATOR + t for k, t in zip(self._keys, self._titles, strict=True)]
        for position, (framework, names) in enumerate(zip(frameworks, services, strict=True)):
            by_framework.setdefault(framework, []).append(position)
            for name in names:
                by_service.setdefault(name, []).append(position)
        self._by_framework = {k: tuple(v) for k, v in by_framework.items()}
        self._framework_bits = {k: _bit_set(v) for k, v in by_framework.items()}
        self._service_bits = {k: _bit_set(v) for k, v in by_service.items()}
        self._text_bits = _text_bit_sets(self._keys, self._titles)
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

    def _match(
        self, framework: str | None, service: str | None, needle: str | None
    ) -> Sequence[int]:
        if service is None and not needle:
            if framework is None:
                return range(self.count)
            return self._by_framework.get(framework, ())
        mask = self._all if framework is None else self._framework_bits.get(framework, 0)
        if service is not None:
            mask &= self._service_bits.get(service, 0)
        if not needle:
            return Matches(mask)
        return self._containing(needle, mask)

    def _containing(self, needle: str, mask: int) -> Sequence[int]:
        """The controls of ``mask`` whose key or title holds ``needle`` (lower-cased)."""
        if len(needle) <= GRAM:
            return Matches(mask & self._text_bits.get(needle, 0))
        for start in range(len(needle) - GRAM + 1):
            mask &= self._text_bits.get(needle[start : start + GRAM], 0)
            if not mask:
                return ()
        candidates = _positions(mask, mask.bit_count())
        if SEPARATOR in needle:
            hits = [p for p in candidates if needle in self._keys[p] or needle in self._titles[p]]
            return array("I", hits) if self._few(len(hits)) else Matches(_bit_set(hits))
        # The candidates whose text does not hold the needle after all (few: 0.2% of the
        # bench's). [p for p in candidates if needle not in texts[p]], iterated in C: a few
        # times faster.
        texts = map(self._texts.__getitem__, candidates)
        misses = list(compress(candidates, map(not_, map(contains, texts, repeat(needle)))))
        if self._few(len(candidates) - len(misses)):
            # Kept as the positions just found, so that a page is a slice of them and not a
            # second pass over a bit set.
            missed = frozenset(misses)
            return array("I", [p for p in candidates if p not in missed] if misses else candidates)
        if len(misses) > _FEW:
            return Matches(_bit_set(sorted(set(candidates).difference(misses))))
        for position in misses:
            mask ^= 1 << position
        return Matches(mask)

    def _few(self, hits: int) -> bool:
        """Whether an answer of ``hits`` controls is kept as its positions: 4 bytes each
        then take less room than its bit set's one bit per control."""
        return hits * _POSITION_BITS < self.count


def _text_bit_sets(keys: Sequence[str], titles: Sequence[str]) -> dict[str, int]:
    """Every text of one to GRAM characters in a key or title: the controls holding it.

    Only the GRAM-character pieces are collected per control (the one loop over every
    control, the cost of the build); a shorter text is in a field exactly when a piece of
    it is, or when the field itself is shorter than GRAM, so its bit set is the OR of
    those pieces' bit sets.
    """
    by_piece: dict[str, list[int]] = {}
    short: dict[str, list[int]] = {}
    for position, (key, title) in enumerate(zip(keys, titles, strict=True)):
        pieces: set[str] = set()
        for field in (key, title):
            if len(field) < GRAM:
                for text in _substrings(field):
                    short.setdefault(text, []).append(position)
            else:
                pieces.update(field[i : i + GRAM] for i in range(len(field) - GRAM + 1))
        for piece in pieces:
            try:
                by_piece[piece].append(position)
            except KeyError:
                by_piece[piece] = [position]
    found = {piece: _bit_set(positions) for piece, positions in by_piece.items()}
    shorter: dict[str, int] = {}
    for piece, bits in found.items():
        for text in _substrings(piece[:-1]) | _substrings(piece[1:]):
            shorter[text] = shorter.get(text, 0) | bits
    for text, positions in short.items():
        # A short field's positions may repeat (a key and a title both short): _bit_set
        # sets a bit twice harmlessly; ascending order holds.
        shorter[text] = shorter.get(text, 0) | _bit_set(positions)
    return found | shorter


def _substrings(text: str) -> set[str]:
    """Every non-empty substring of ``text`` (a text of at most GRAM characters)."""
    return {text[i:j] for i in range(len(text)) for j in range(i + 1, len(text) + 1)}
