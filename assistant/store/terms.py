"""Which query words are worth a BM25 scan, from the document frequencies in the FTS5 index.

Why: FTS5 computes BM25 for every chunk that holds any query word. A word found in a large
share of a big store's chunks (a common word the stop list does not know, or the name of the
topic every document is about) made one keyword search take about 4 s at 250,000 chunks and
most of a minute at 1,000,000, yet it weighs little in the ranking: its IDF,
log((N - n + 0.5) / (n + 0.5)), is under log 9 once it is in a tenth of the chunks (a word in
one chunk in a thousand weighs about 6.9), and FTS5 clamps it to zero past half. So in a
store of at least `MIN_CHUNKS` chunks, words in more than `COMMON_SHARE` of them are left out
of the keyword query; the vector half of hybrid search still sees the whole question.

Words are looked up as the index holds them (porter stems), by running them through a
temporary FTS5 table with the same tokenizer, so "passages" finds the count of "passag".
"""

from __future__ import annotations

from collections.abc import Sequence

import apsw

COMMON_SHARE = 0.1
MIN_CHUNKS = 20_000
TOKENIZER = "porter unicode61 remove_diacritics 2"  # the same as chunks_fts (migrations.py)


class TermStats:
    """Document frequencies of words in `chunks_fts`, cached until the store changes."""

    def __init__(self, conn: apsw.Connection) -> None:
        self.conn = conn
        self._ready = False
        self._generation: int | None = None
        self._total = 0
        self._freq: dict[str, int] = {}

    def _ensure_tables(self) -> None:
        if self._ready:
            return
        self.conn.execute(
            "CREATE VIRTUAL TABLE IF NOT EXISTS temp.terms_vocab "
            "USING fts5vocab(main, chunks_fts, 'row');"
            "CREATE VIRTUAL TABLE IF NOT EXISTS temp.query_words "
            f"USING fts5(word, tokenize='{TOKENIZER}');"
            "CREATE VIRTUAL TABLE IF NOT EXISTS temp.query_words_vocab "
            "USING fts5vocab(temp, query_words, 'instance');")
        self._ready = True

    def _sync(self, generation: int) -> None:
        if generation != self._generation:
            self._generation = generation
            row = self.conn.execute("SELECT count(*) FROM chunks").fetchone()
            self._total = int(row[0]) if row else 0
            self._freq.clear()

    def total(self, generation: int) -> int:
        self._sync(generation)
        return self._total

    def stems(self, words: Sequence[str]) -> list[str | None]:
        """Each word as the index holds it (None: the tokenizer keeps nothing of it)."""
        self._ensure_tables()
        with self.conn:
            self.conn.execute("DELETE FROM temp.query_words")
            self.conn.executemany("INSERT INTO temp.query_words(rowid, word) VALUES (?, ?)",
                                  list(enumerate(words)))
        out: list[str | None] = [None] * len(words)
        for row, term in self.conn.execute("SELECT doc, term FROM temp.query_words_vocab"):
            if out[int(row)] is None:
                out[int(row)] = str(term)
        return out

    def frequency(self, stem: str) -> int:
        """How many chunks hold `stem` (call `total` first: it resets the cache on a write)."""
        if stem not in self._freq:
            row = self.conn.execute("SELECT doc FROM temp.terms_vocab WHERE term = ?",
                                    (stem,)).fetchone()
            self._freq[stem] = int(row[0]) if row else 0
        return self._freq[stem]

    def discriminating(self, words: Sequence[str], generation: int) -> list[str]:
        """`words` without those too common in this store to be worth scoring."""
        total = self.total(generation)
        if total < MIN_CHUNKS or not words:
            return list(words)
        limit = COMMON_SHARE * total
        return [word for word, stem in zip(words, self.stems(words), strict=True)
                if stem is not None and self.frequency(stem) <= limit]
