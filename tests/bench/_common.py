"""Helpers shared by the benchmarks: timing, medians, memory, synthetic text."""

from __future__ import annotations

import random
import resource
import statistics
import sys
import time
from collections.abc import Callable

VOCAB_SEED = 1234


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values: list[float]) -> float:
    return statistics.median(values)


def vocabulary(size: int = 6000, seed: int = VOCAB_SEED) -> list[str]:
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = set()
    while len(words) < size:
        words.add("".join(rng.choice(letters) for _ in range(rng.randint(3, 10))))
    common = ["the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "with", "was", "on", "be", "by", "this", "are", "from", "at", "or", "an", "which", "have", "not", "has", "but", "were", "their", "been", "one", "all", "would", "there"]
    return common * 20 + sorted(words)


def prose(rng: random.Random, words: list[str], sentences: int) -> str:
    out = []
    for _ in range(sentences):
        n = rng.randint(6, 24)
        out.append(" ".join(rng.choice(words) for _ in range(n)).capitalize() + ".")
    return " ".join(out)
