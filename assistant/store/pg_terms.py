"""Keyword scoring on PostgreSQL: each query word's ts_rank weighted by its IDF, as BM25 does.

Why: PostgreSQL's own `ts_rank` over an OR query weighs every word alike, so a word found in
half the library counts as much as the one rare word that matters. On NFCorpus (323 test
queries, same chunks and vectors) keyword nDCG@10 was 0.2996 with plain `ts_rank`, 0.2545
with `ts_rank_cd`, and 0.3196 with the IDF-weighted sum used here (SQLite's BM25: 0.3168).

Document frequencies come from the GIN index (a count per word) and are kept for
`CACHE_SECONDS`: on a shared server the library changes all the time, and a frequency a few
minutes old ranks the same (a word not found is counted again each time, so one that has
just been written is never missed). As in `terms.py`, in a library of `MIN_CHUNKS` or more, words in
more than `COMMON_SHARE` of the chunks are left out (they cost a rank per matching chunk and
weigh almost nothing).

Even then, each word under that share can be in thousands of chunks of a big library: at
300,000 synthetic chunks a query's words matched 25,106 of them, and reading and ranking
every one took 270 ms (`tests/bench/bench_postgres.py`). So when the words' counts add up to
more than `CANDIDATE_BUDGET`, the chunks ranked are those holding one of the rarest words
(as many as the budget holds) or two of the others (GIN intersects those lists without
reading a row); a chunk with a single common word would rank near the bottom anyway. Every
chunk picked is still scored on all the words, and when fewer than asked are picked the
plain query runs (`PgStore.keyword`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

from assistant.store.terms import COMMON_SHARE, MIN_CHUNKS

CACHE_SECONDS = 300.0
CANDIDATE_BUDGET = 5_000  # about how many chunks one keyword search reads and ranks, at most
MAX_PAIRED = 8  # the commoner words paired with each other: 28 pairs at most
RANK_NORMALISATION = 0  # ts_rank's length normalisation: none measured best (0.3196 vs 0.3157)


def plain_query(weights: Sequence[tuple[str, float]]) -> str:
    """The tsquery matching every chunk that holds any of the words."""
    return " | ".join(f"'{w}'" for w, _ in weights)


class PgTermStats:
    """Chunk counts and per-word document frequencies, cached for a few minutes."""

    def __init__(self, text_config: str) -> None:
        self.config = text_config
        self._freq: dict[str, tuple[int, float]] = {}
        self._total: tuple[int, float] = (0, -math.inf)

    def weights(self, words: Sequence[str],
                rows: Callable[[str, Sequence[Any]], list[Any]]) -> list[tuple[str, float]]:
        """[(word, idf)] for the words worth scoring, with BM25's IDF,
        ln(1 + (N - n + 0.5) / (n + 0.5)). The words not in the cache are counted in one
        statement."""
        now = time.monotonic()
        if now - self._total[1] > CACHE_SECONDS:
            self._total = (int(rows("SELECT count(*) FROM chunks", ())[0][0]), now)
        total = self._total[0]
        stale = [w for w in words if (c := self._freq.get(w)) is None or c[0] == 0
                 or now - c[1] > CACHE_SECONDS]
        if stale:
            for word, n in rows(f"SELECT w, (SELECT count(*) FROM chunks WHERE tsv @@ "
                                f"to_tsquery('{self.config}', quote_literal(w))) "
                                "FROM unnest(%s::text[]) AS w", (stale,)):
                self._freq[str(word)] = (int(n), now)
        out = []
        for word in words:
            n = self._freq[word][0]
            if n == 0 or (total >= MIN_CHUNKS and n > COMMON_SHARE * total):
                continue
            out.append((word, math.log(1 + (max(total, n) - n + 0.5) / (n + 0.5))))
        return out

    def match_query(self, weights: Sequence[tuple[str, float]]) -> tuple[str, bool]:
        """The tsquery that picks the chunks to rank (call `weights` first: it fills the
        counts), and whether it was narrowed (see the module's docstring)."""
        words = [w for w, _ in weights]
        plain = plain_query(weights)
        count = {w: self._freq[w][0] for w in words}
        if self._total[0] < MIN_CHUNKS or sum(count.values()) <= CANDIDATE_BUDGET:
            return plain, False
        rarest_first = sorted(words, key=lambda w: (count[w], w))
        alone: list[str] = []
        spent = 0
        for word in rarest_first:
            if spent + count[word] > CANDIDATE_BUDGET:
                break
            alone.append(word)
            spent += count[word]
        rest = rarest_first[len(alone):][:MAX_PAIRED]
        parts = [f"'{w}'" for w in alone]
        parts += [f"('{a}' & '{b}')" for i, a in enumerate(rest) for b in rest[i + 1:]]
        if not parts:  # one word, too common to read alone: the plain query decides
            return plain, False
        return " | ".join(parts), True

    def rank_sql(self, weights: Sequence[tuple[str, float]]) -> tuple[str, list[Any]]:
        """The score expression and its parameters: sum of idf * ts_rank(word)."""
        parts, args = [], []
        for word, idf in weights:
            parts.append(f"%s * ts_rank(tsv, to_tsquery('{self.config}', %s), "
                         f"{RANK_NORMALISATION})")
            args.extend([idf, f"'{word}'"])
        return " + ".join(parts), args
