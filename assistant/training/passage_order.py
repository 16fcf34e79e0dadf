"""The order in which training examples show their passages: the answer path's own.

The grounded adapter reads 3-5 numbered passages. At answer time they arrive in search
order (hybrid search; the reader reorders them only with `--rerank on`), so the passage that
holds the answer is usually first but not always. Training examples shown in the same order
teach the model the positions it will meet, rather than a uniform shuffle it never sees.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

ORDERS = ("retrieval", "reader", "shuffle")

Order = Callable[[str, list[str]], Sequence[float]]


def retrieval_order(embedder: Any) -> Order:
    """Scores by the embedder's cosine between question and passage (the vector half of
    hybrid search, which decides its order when keyword search agrees or is silent).
    Embeddings are cached: a passage recurs in many examples."""
    cache: dict[str, np.ndarray] = {}

    def vectors(texts: list[str]) -> np.ndarray:
        todo = [t for t in dict.fromkeys(texts) if t not in cache]
        if todo:
            for text, vec in zip(todo, embedder.embed_batch(todo), strict=True):
                cache[text] = np.asarray(vec, dtype=np.float32)
        return np.stack([cache[t] for t in texts])

    def score(question: str, texts: list[str]) -> list[float]:
        q = vectors([question])[0]
        p = vectors(texts)
        norms = np.linalg.norm(p, axis=1) * max(float(np.linalg.norm(q)), 1e-9)
        return [float(x) for x in (p @ q) / np.maximum(norms, 1e-9)]

    return score


def reader_order(reader: Any) -> Order:
    """Scores by the reader's answer probability (the order `--rerank on` gives). The shipped
    reader was trained on the same training articles, so on them it orders better than it
    will on a user's documents."""

    def score(question: str, texts: list[str]) -> list[float]:
        return [r.probability for r in reader.read(question, texts)]

    return score


def make_order(name: str) -> Order | None:
    """The named order with the shipped models (None for "shuffle")."""
    if name == "shuffle":
        return None
    if name == "reader":
        from assistant.answer.reader import Reader

        return reader_order(Reader())
    if name == "retrieval":
        from assistant.search import Embedder

        return retrieval_order(Embedder())
    raise ValueError(f"unknown order {name!r}; choose one of {', '.join(ORDERS)}")
