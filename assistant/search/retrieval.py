"""Query -> ranked hits: vector KNN and FTS5 BM25 fused by reciprocal rank fusion."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from assistant.paths import is_under
from assistant.search.vector_index import VectorIndex

if TYPE_CHECKING:
    from assistant.search.embedding import Embedder
    from assistant.store.store import Store


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
        """The `--json` shape of a hit (fields after `score` are extensions)."""
        return {"path": self.path, "page": self.page, "start": self.start, "end": self.end,
                "text": self.text, "score": round(self.score, 6),
                "similarity": round(self.similarity, 4), "collection": self.collection}

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


RRF_K = 60  # the usual constant of reciprocal rank fusion


class Retriever:
    """Hybrid search over a store: vector KNN and BM25, fused by reciprocal rank."""

    def __init__(self, store: Store, embedder: Embedder, *, in_memory: bool = True) -> None:
        self.store = store
        self.embedder = embedder
        self.vectors = VectorIndex(store) if in_memory else None

    def _collection_ids(self, collections: Sequence[str] | None) -> list[int]:
        if not collections:
            ids = [self.store.collection_id(name, create=False)
                   for name in self.store.collections()]
            return [i for i in ids if i is not None]
        return [self.store.require_collection(name) for name in collections]

    def search(self, query: str, k: int = 5, *, collections: Sequence[str] | None = None,
               path_prefix: str | None = None, kind: str | None = None) -> list[Hit]:
        """The `k` best passages for `query`, best first, each with its cosine similarity."""
        query = query.strip()
        if not query or k <= 0:
            return []
        cids = self._collection_ids(collections)
        if not cids:
            return []
        prefix = str(Path(path_prefix).expanduser().resolve()) if path_prefix else None
        vector = self.embedder.embed(query)
        fetch = max(4 * k, 20)
        knn = self.vectors.search if self.vectors is not None else self.store.knn
        vec_hits = knn(vector, fetch * (10 if prefix else 1), cids, kind=kind)
        kw_hits = self.store.keyword(query, fetch, cids, kind=kind, path_prefix=prefix)
        rows = self.store.chunks_by_id(list({i for i, _ in vec_hits} | {i for i, _ in kw_hits}))
        if prefix:
            vec_hits = [(i, d) for i, d in vec_hits
                        if i in rows and is_under(rows[i]["path"], prefix)][:fetch]
        fused: dict[int, float] = {}
        vec_rank: dict[int, int] = {}
        kw_rank: dict[int, int] = {}
        similarity: dict[int, float] = {}
        for rank, (chunk_id, distance) in enumerate(vec_hits, start=1):
            vec_rank[chunk_id] = rank
            similarity[chunk_id] = 1.0 - distance
            fused[chunk_id] = fused.get(chunk_id, 0.0) + 1.0 / (RRF_K + rank)
        for rank, (chunk_id, _bm25) in enumerate(kw_hits, start=1):
            kw_rank[chunk_id] = rank
            fused[chunk_id] = fused.get(chunk_id, 0.0) + 1.0 / (RRF_K + rank)
        missing = [i for i in fused if i not in similarity]
        if self.vectors is not None:
            similarity.update(self.vectors.similarities(missing, vector))
        else:
            for chunk_id, emb in self.store.embeddings(missing).items():
                similarity[chunk_id] = float(np.dot(emb, vector))
        best = sorted(fused, key=lambda i: (-fused[i], -similarity.get(i, 0.0)))[:k]
        hits = []
        for chunk_id in best:
            row = rows.get(chunk_id)
            if row is None:  # removed between the two queries
                continue
            hits.append(Hit(chunk_id=chunk_id, document_id=row["document_id"], path=row["path"],
                            page=row["page"], start=row["start"], end=row["end"],
                            text=row["text"], score=fused[chunk_id],
                            similarity=max(0.0, similarity.get(chunk_id, 0.0)),
                            keyword_rank=kw_rank.get(chunk_id),
                            vector_rank=vec_rank.get(chunk_id), collection=row["collection"]))
        return hits


def relevant(hits: Sequence[Hit], floor: float) -> list[Hit]:
    """The hits similar enough to the question to count as covering it."""
    return [hit for hit in hits if hit.similarity >= floor]
