"""service.kb_index answers every query as a scan of all controls does, in the same order."""

from __future__ import annotations

import itertools
import random
from array import array

import pytest

from service.kb_index import CACHED_QUERIES, ControlIndex, Matches

WORDS = ("encrypt", "bucket", "log", "iam", "root", "mfa", "key", "1.", "s3", "x")
FRAMEWORKS = ("alpha", "beta", "gamma")
SERVICES = ("iam", "s3", "ec2", "kms")


def catalogue(size: int, seed: int) -> tuple[list[str], list[frozenset[str]], list[str], list[str]]:
    rng = random.Random(seed)
    frameworks = [rng.choice(FRAMEWORKS) for _ in range(size)]
    services = [frozenset(rng.sample(SERVICES, rng.randint(1, 2))) for _ in range(size)]
    keys = [f"{f}:{rng.choice('ABC')}.{n}" for n, f in enumerate(frameworks)]
    titles = [
        " ".join(
            rng.choice(WORDS).upper() if rng.random() < 0.2 else rng.choice(WORDS)
            for _ in range(rng.randint(1, 6))
        )
        for _ in range(size)
    ]
    return frameworks, services, keys, titles


def scan(
    data: tuple[list[str], list[frozenset[str]], list[str], list[str]],
    framework: str | None,
    service: str | None,
    text: str | None,
) -> list[int]:
    frameworks, services, keys, titles = data
    needle = text.lower() if text else None
    return [
        p
        for p in range(len(keys))
        if (framework is None or frameworks[p] == framework)
        and (service is None or service in services[p])
        and (needle is None or needle in keys[p].lower() or needle in titles[p].lower())
    ]


def test_every_combination_of_filters_matches_the_scan() -> None:
    data = catalogue(500, seed=18)
    index = ControlIndex(*data)
    texts = (None, "", *WORDS, "ENCRYPT", "a:", ":a", "no such text", "\0", "log key")
    for framework, service, text in itertools.product(
        (None, *FRAMEWORKS, "missing"), (None, *SERVICES, "missing"), texts
    ):
        got = list(index.matching(framework, service, text))
        assert got == scan(data, framework, service, text), (framework, service, text)


def test_a_match_across_two_controls_is_not_a_match() -> None:
    index = ControlIndex(["a", "a"], [frozenset({"s3"})] * 2, ["a:1", "a:2"], ["ends in ab", "cd"])
    assert list(index.matching(None, None, "abcd")) == []
    assert list(index.matching(None, None, "b")) == [0]
    assert list(index.matching(None, None, "d")) == [0, 1]


@pytest.mark.parametrize("false_candidates", [1, 100])
def test_a_needle_whose_pieces_are_all_there_but_apart_is_not_a_match(
    false_candidates: int,
) -> None:
    # Every three-letter piece of "abcde" is in "abcx bcde", but "abcde" is not. Few and
    # many such controls take the index's two ways of dropping them.
    titles = ["abcx bcde"] * false_candidates + ["xabcdex"] * 50
    titles = [titles[(n * 7) % len(titles)] for n in range(len(titles))]
    no_services: frozenset[str] = frozenset()
    data = (
        ["f"] * len(titles),
        [no_services] * len(titles),
        [f"f:{n}" for n in range(len(titles))],
        titles,
    )
    index = ControlIndex(*data)
    for text in ("abcde", "ABCDE", "abcx", "bcde", "abc"):
        assert list(index.matching(None, None, text)) == scan(data, None, None, text), text


def test_false_candidates_are_dropped_from_an_answer_kept_as_positions() -> None:
    # 5 hits among 2,000 controls: kept as positions, without the 3 false candidates.
    titles = ["filler"] * 2000
    for position in (10, 700, 1999):
        titles[position] = "abcx bcde"
    for position in (5, 11, 800, 1500, 1998):
        titles[position] = "xabcdex"
    no_services: frozenset[str] = frozenset()
    data = (["f"] * 2000, [no_services] * 2000, [f"f:{n}" for n in range(2000)], titles)
    found = ControlIndex(*data).matching(None, None, "abcde")
    assert isinstance(found, array)
    assert list(found) == [5, 11, 800, 1500, 1998] == scan(data, None, None, "abcde")


def test_no_match_spans_the_key_and_the_title() -> None:
    index = ControlIndex(["f"], [frozenset()], ["f:ab"], ["cd \0 e"])
    assert list(index.matching(None, None, "abcd")) == []
    assert list(index.matching(None, None, "ab\0cd")) == []
    assert list(index.matching(None, None, "b\0c")) == []
    assert list(index.matching(None, None, "d \0 e")) == [0]
    assert list(index.matching(None, None, "\0")) == [0]


def test_an_empty_catalogue_answers_nothing() -> None:
    index = ControlIndex([], [], [], [])
    assert list(index.matching(None, None, "x")) == []
    assert list(index.matching("a", None, None)) == []


def test_kept_answers_are_bounded_and_still_right() -> None:
    data = catalogue(200, seed=7)
    index = ControlIndex(*data)
    for n in range(CACHED_QUERIES + 50):
        index.matching(None, None, f"{n}")
    assert len(index._answers) == CACHED_QUERIES
    for text in ("1", "encrypt", "ENCRYPT", "12"):
        assert list(index.matching(None, None, text)) == scan(data, None, None, text)
        assert list(index.matching(None, None, text)) == scan(data, None, None, text)


# Titles that lower-case in surprising ways (İ becomes two characters, the Kelvin sign a
# Latin k, ẞ a ß), metacharacters of regular expressions and LIKE, a NUL and a lone
# surrogate: the index must treat every one as plain text, exactly as ``in`` does.
UNUSUAL_TITLES = (
    "İSTANBUL Straße STRASSE ẞ",
    "\u03a3\u038a\u03a3\u03a5\u03a6\u039f\u03a3 \u03c3\u03af\u03c3\u03c5\u03c6\u03bf\u03c2 \u03c2",
    "Kelvin \u212a and Ohm \u2126",
    "ﬃ ligature, \uff21\uff37\uff33 full width",
    "café cafe\u0301 🔒 lock",
    "100% of a_b [x] (y) .* ^$ | \\d+ ? {2}",
    "NUL \0 inside",
    "lone \ud800 surrogate",
    "ab",
    "",
)
UNUSUAL_NEEDLES = (
    "i̇",
    "İ",
    "I",
    "ß",
    "ẞ",
    "ss",
    "\u03c3",
    "ς",
    "Σ",
    "\u212a",
    "k",
    "K",
    "ﬃ",
    "ffi",
    "\uff41\uff57\uff53",
    "é",
    "e\u0301",
    "🔒",
    "%",
    "_",
    "a_b",
    "[x]",
    ".*",
    "^$",
    "\\d+",
    "{2}",
    "\0",
    "\ud800",
    "b\0",
    "ab",
    "b",
    "x" * 200,
)


def test_unusual_text_matches_the_scan() -> None:
    size = len(UNUSUAL_TITLES) * 6
    keys = [f"z{n % 7}:{'AB'[n % 2]}.{n}" for n in range(size)]
    titles = [UNUSUAL_TITLES[n % len(UNUSUAL_TITLES)] for n in range(size)]
    data = (["z"] * size, [frozenset({"s3"})] * size, keys, titles)
    index = ControlIndex(*data)
    pieces = {t[i : i + n] for t in UNUSUAL_TITLES for n in range(1, 7) for i in range(len(t))}
    for text in (*UNUSUAL_NEEDLES, *sorted(pieces), *(p.upper() for p in sorted(pieces))):
        assert list(index.matching(None, None, text)) == scan(data, None, None, text), text
        assert list(index.matching("z", "s3", text)) == scan(data, "z", "s3", text), text


def test_short_keys_and_titles_are_found_by_every_piece() -> None:
    # Fields shorter than the indexed pieces, and empty ones, are indexed whole.
    keys = ["a", "ab", "", "abc", "b"]
    titles = ["", "c", "bc", "x", "ab"]
    empty: frozenset[str] = frozenset()
    data = (["f"] * 5, [empty] * 5, keys, titles)
    index = ControlIndex(*data)
    for text in ("a", "b", "c", "ab", "bc", "abc", "x", "ba", "abcd", "A", "AB"):
        assert list(index.matching(None, None, text)) == scan(data, None, None, text), text


def test_every_length_of_needle_matches_the_scan_on_a_large_catalogue() -> None:
    # Large enough that a bit set spans several of the chunks that pages skip.
    data = catalogue(5000, seed=3)
    index = ControlIndex(*data)
    rng = random.Random(3)
    _, _, keys, titles = data
    for _ in range(100):
        field = rng.choice((keys, titles))[rng.randrange(5000)]
        start = rng.randrange(len(field))
        text = field[start : start + rng.randint(1, 9)]
        text = text.upper() if rng.random() < 0.3 else text
        framework = rng.choice((None, *FRAMEWORKS))
        assert list(index.matching(framework, None, text)) == scan(data, framework, None, text)


def test_pages_of_matches_slice_as_a_list_does() -> None:
    data = catalogue(5000, seed=4)
    index = ControlIndex(*data)
    for text, service in (("e", None), ("log", "s3"), ("encrypt", None), ("1", None)):
        found = index.matching(None, service, text)
        expected = scan(data, None, service, text)
        assert len(found) == len(expected)
        for start, stop in ((0, 20), (20, 40), (len(expected) - 3, len(expected) + 50)):
            assert list(found[start:stop]) == expected[start:stop], (text, start)
        for offset in range(0, len(expected) + 200, 1499):
            assert list(found[offset : offset + 200]) == expected[offset : offset + 200]
        assert list(found[::7]) == expected[::7]
        assert list(found[-5:]) == expected[-5:]
        assert found[0] == expected[0]
        assert found[-1] == expected[-1]
        with pytest.raises(IndexError):
            found[len(expected)]


def test_a_rare_search_is_kept_as_its_positions_and_pages_as_a_list_does() -> None:
    # 5,000 controls, 40 of which hold "zebra": fewer than 5,000 / 32, so the answer is
    # the 40 positions found while checking the candidates, not a bit set read again.
    data = catalogue(5000, seed=5)
    titles = data[3]
    rare = list(range(3, 5000, 125))
    for position in rare:
        titles[position] += " zebra"
    index = ControlIndex(*data)
    found = index.matching(None, None, "ZEBRA")
    assert isinstance(found, array)
    assert found.itemsize * len(found) < (5000 + 7) // 8  # smaller than the bit set
    assert list(found) == rare == scan(data, None, None, "zebra")
    assert list(found[0:20]) == rare[0:20]
    assert list(found[35:60]) == rare[35:60]
    assert list(index.matching("alpha", None, "zebr")) == scan(data, "alpha", None, "zebr")
    common = index.matching(None, None, "encrypt")  # a quarter of the controls or more
    assert isinstance(common, Matches)
    assert list(common) == scan(data, None, None, "encrypt")


# Each density takes one way of finding the set bits: every position, the binary digits,
# and (below one bit in 64) the non-zero bytes.
@pytest.mark.parametrize("density", [1.0, 0.5, 0.1, 0.01, 0.001])
def test_a_bit_set_reads_any_page_as_the_sorted_positions_do(density: float) -> None:
    rng = random.Random(int(density * 100))
    positions = sorted(p for p in range(20_000) if rng.random() < density)
    mask = 0
    for position in positions:
        mask |= 1 << position
    found = Matches(mask)
    assert len(found) == len(positions)
    assert list(found) == positions
    for offset in (0, 1, 4095, 4096, 4097, 8191, len(positions) // 2, len(positions) - 1):
        assert list(found[offset : offset + 50]) == positions[offset : offset + 50], offset
    assert list(found[len(positions) :]) == []
    assert list(Matches(0)) == []
    assert len(Matches(0)) == 0
