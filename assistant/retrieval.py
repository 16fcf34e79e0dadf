"""Query -> ranked hits: vector KNN and FTS5 BM25 fused by reciprocal rank fusion."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class Hit:
    """One retrieved passage: where it is, what it says, and how it ranked."""

    chunk_id: int
    document_id: int
    path: str
    page: int | None  # 1-based; None for files without pages
    start: int  # character offsets of the passage within the page text (or file text)
    end: int
    text: str
    score: float  # fused score used for ranking (higher is better)
    similarity: float = 0.0  # cosine similarity of the passage to the query, 0..1
    keyword_rank: int | None = None
    vector_rank: int | None = None
    collection: str = "default"

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "page": self.page, "start": self.start, "end": self.end,
                "text": self.text, "score": round(self.score, 6)}

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
