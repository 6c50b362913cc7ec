"""service.kb_index answers every query as a scan of all controls does, in the same order."""

from __future__ import annotations

import itertools
import random

from service.kb_index import CACHED_QUERIES, ControlIndex

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
