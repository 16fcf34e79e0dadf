"""Query -> ranked hits: vector KNN and FTS5 BM25, fused, near-duplicates collapsed.

Fusion: reciprocal rank fusion by default (measured best so far, README); `convex`: each side's scores are min-max normalised over its own
candidates and combined as `w * dense + (1 - w) * keyword` (Bruch et al., "An Analysis of
Fusion Functions for Hybrid Retrieval", 2023: a convex combination of normalised scores beats
reciprocal rank fusion and needs little tuning). Reciprocal rank fusion stays available.
Every candidate gets its exact cosine similarity (keyword-only ones too), so the dense side
is complete over the candidate set.

Near-duplicates (the same passage in several files) would fill the top k with copies; they
are collapsed into the best-ranked one, whose `also_in` lists the other places.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from assistant.paths import is_under
from assistant.search.vector_index import VectorIndex

if TYPE_CHECKING:
    from assistant.store.store import Store


class QueryEncoder(Protocol):
    def embed(self, text: str) -> np.ndarray: ...


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
    also_in: list[dict[str, Any]] = field(default_factory=list)  # collapsed duplicates
    place: str | None = None  # "slide 3: Results", "Sales!A2:D14": where, beyond a page

    def to_json(self) -> dict[str, Any]:
        """The `--json` shape of a hit (fields after `score` are extensions)."""
        return {"path": self.path, "page": self.page, "start": self.start, "end": self.end,
                "text": self.text, "score": round(self.score, 6),
                "similarity": round(self.similarity, 4), "collection": self.collection,
                "also_in": list(self.also_in), "place": self.place}

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


RRF_K = 60  # the usual constant of reciprocal rank fusion
DUPLICATE_COSINE = 0.985  # passages at least this similar (and alike in text) are one passage


@dataclass(frozen=True)
class SearchConfig:
    """How the two halves are combined. The defaults are the measured choice (README)."""

    # Measured on NFCorpus (int8 embedder): RRF 0.3482 nDCG@10, convex w=0.3 0.3407.
    fusion: str = "rrf"  # "rrf" (reciprocal ranks) or "convex" (normalised scores)
    vector_weight: float = 0.5  # weight of the dense side in the convex combination
    rrf_k: int = RRF_K
    depth: int = 60  # candidates taken from each side, at least (more when k is larger)
    collapse_duplicates: bool = True


_WORDS = re.compile(r"\w+")


def text_key(text: str) -> str:
    """Passages with the same words in the same order share a key (case, spacing ignored)."""
    return hashlib.blake2b(" ".join(_WORDS.findall(text.lower())).encode(),
                           digest_size=12).hexdigest()


def _minmax(values: dict[int, float]) -> dict[int, float]:
    if not values:
        return {}
    lo, hi = min(values.values()), max(values.values())
    span = hi - lo
    if span <= 1e-12:
        return dict.fromkeys(values, 1.0)
    return {i: (v - lo) / span for i, v in values.items()}


class Retriever:
    """Hybrid search over a store: vector KNN and BM25, fused.

    `embedders` maps an embedder identity (as the store records it per collection) to an
    encoder, so a collection still on another embedder (mid re-embedding) is searched with
    query vectors of its own kind; never are two embedders' vectors compared.
    """

    def __init__(self, store: Store, embedder: QueryEncoder, *, in_memory: bool = True,
                 config: SearchConfig | None = None,
                 embedders: Callable[[str], QueryEncoder | None] | None = None,
                 background_load: bool = False) -> None:
        self.store = store
        self.embedder = embedder
        self.config = config or SearchConfig()
        self.embedders = embedders
        # A server store (PostgreSQL) answers KNN with its own HNSW index: no memory mirror.
        mirror = in_memory and getattr(store, "memory_vectors", True)
        self.vectors = VectorIndex(store, background=background_load) if mirror else None

    def _collection_ids(self, collections: Sequence[str] | None) -> list[int]:
        if not collections:
            ids = [self.store.collection_id(name, create=False)
                   for name in self.store.collections()]
            return [i for i in ids if i is not None]
        return [self.store.require_collection(name) for name in collections]

    def _groups(self, cids: list[int]) -> list[tuple[QueryEncoder, list[int]]]:
        """Collections grouped by the encoder their vectors need."""
        own = getattr(self.embedder, "identity", None)
        recorded = self.store.collection_embedders(cids)
        groups: dict[str, list[int]] = {}
        for cid in cids:
            identity = recorded.get(cid)
            groups.setdefault(identity if identity and identity != own else "", []).append(cid)
        out: list[tuple[QueryEncoder, list[int]]] = []
        for identity, members in groups.items():
            encoder: QueryEncoder | None = self.embedder
            if identity:
                encoder = self.embedders(identity) if self.embedders is not None else None
                if encoder is None:
                    from assistant.search.embedding import embedder_for_identity

                    encoder = embedder_for_identity(identity)
            if encoder is not None:
                out.append((encoder, members))
        return out

    def search(self, query: str, k: int = 5, *, collections: Sequence[str] | None = None,
               path_prefix: str | None = None, kind: str | None = None,
               mode: str = "hybrid") -> list[Hit]:
        """The `k` best passages for `query`, best first, each with its cosine similarity.

        `mode` is "hybrid" (the default), "keyword" (BM25 alone) or "vector" (dense alone).
        """
        query = query.strip()
        if not query or k <= 0:
            return []
        cids = self._collection_ids(collections)
        if not cids:
            return []
        prefix = str(Path(path_prefix).expanduser().resolve()) if path_prefix else None
        cfg = self.config
        fetch = max(cfg.depth, 2 * k)
        groups = self._groups(cids)
        vec_hits: list[tuple[int, float]] = []
        query_vectors: dict[int, np.ndarray] = {}
        for encoder, members in groups:
            vector = np.asarray(encoder.embed(query), dtype=np.float32)
            for cid in members:
                query_vectors[cid] = vector
            if mode != "keyword":
                knn = self.vectors.search if self.vectors is not None else self.store.knn
                vec_hits.extend(knn(vector, fetch * (10 if prefix else 1), members, kind=kind))
        vec_hits.sort(key=lambda item: item[1])
        kw_hits = [] if mode == "vector" else \
            self.store.keyword(query, fetch, cids, kind=kind, path_prefix=prefix)
        rows = self.store.chunks_by_id(list({i for i, _ in vec_hits} | {i for i, _ in kw_hits}))
        if prefix:
            vec_hits = [(i, d) for i, d in vec_hits
                        if i in rows and is_under(rows[i]["path"], prefix)]
        vec_hits = vec_hits[:fetch]
        vec_rank = {chunk_id: rank for rank, (chunk_id, _) in enumerate(vec_hits, start=1)}
        kw_rank = {chunk_id: rank for rank, (chunk_id, _) in enumerate(kw_hits, start=1)}
        similarity = {chunk_id: 1.0 - distance for chunk_id, distance in vec_hits}
        self._fill_similarities(similarity, [i for i in kw_rank if i not in similarity],
                                rows, query_vectors)
        fused = self._fuse(vec_hits, kw_hits, similarity, mode)
        order = sorted(fused, key=lambda i: (-fused[i], -similarity.get(i, 0.0)))
        hits = []
        for chunk_id in order:
            row = rows.get(chunk_id)
            if row is None:  # removed between the two queries
                continue
            hits.append(Hit(chunk_id=chunk_id, document_id=row["document_id"], path=row["path"],
                            page=row["page"], start=row["start"], end=row["end"],
                            text=row["text"], score=fused[chunk_id],
                            similarity=max(0.0, similarity.get(chunk_id, 0.0)),
                            keyword_rank=kw_rank.get(chunk_id),
                            vector_rank=vec_rank.get(chunk_id), collection=row["collection"],
                            place=row.get("place")))
        if cfg.collapse_duplicates:
            return collapse_duplicates(hits, k, self._vectors_of)
        return hits[:k]

    def _fill_similarities(self, similarity: dict[int, float], missing: list[int],
                           rows: dict[int, dict[str, Any]],
                           query_vectors: dict[int, np.ndarray]) -> None:
        if not missing:
            return
        by_vector: dict[int, list[int]] = {}
        for i in missing:
            if i in rows and rows[i]["collection_id"] in query_vectors:
                by_vector.setdefault(rows[i]["collection_id"], []).append(i)
        for cid, ids in by_vector.items():
            vector = query_vectors[cid]
            found: dict[int, float] = {}
            if self.vectors is not None:
                found = self.vectors.similarities(ids, vector)
            rest = [i for i in ids if i not in found]
            for chunk_id, emb in self.store.embeddings(rest).items():
                found[chunk_id] = float(np.dot(emb, vector))
            similarity.update(found)

    def _fuse(self, vec_hits: list[tuple[int, float]], kw_hits: list[tuple[int, float]],
              similarity: dict[int, float], mode: str) -> dict[int, float]:
        cfg = self.config
        if mode == "vector":
            return {i: 1.0 - d for i, d in vec_hits}
        if mode == "keyword":
            return {i: -bm25 for i, bm25 in kw_hits}
        if cfg.fusion == "rrf":
            fused: dict[int, float] = {}
            for rank, (chunk_id, _) in enumerate(vec_hits, start=1):
                fused[chunk_id] = fused.get(chunk_id, 0.0) + 1.0 / (cfg.rrf_k + rank)
            for rank, (chunk_id, _) in enumerate(kw_hits, start=1):
                fused[chunk_id] = fused.get(chunk_id, 0.0) + 1.0 / (cfg.rrf_k + rank)
            return fused
        # convex: the dense side is known for every candidate (exact similarities); a
        # candidate the keyword side did not return scores as its weakest keyword match.
        candidates = {i for i, _ in vec_hits} | {i for i, _ in kw_hits}
        dense = _minmax({i: similarity.get(i, 0.0) for i in candidates})
        keyword = _minmax({i: -bm25 for i, bm25 in kw_hits})
        w = cfg.vector_weight
        return {i: w * dense.get(i, 0.0) + (1.0 - w) * keyword.get(i, 0.0) for i in candidates}

    def _vectors_of(self, ids: list[int]) -> dict[int, np.ndarray]:
        if self.vectors is not None:
            held = self.vectors.vectors(ids)
            rest = [i for i in ids if i not in held]
        else:
            held, rest = {}, ids
        held.update(self.store.embeddings(rest))
        return held


def collapse_duplicates(hits: list[Hit], k: int,
                        vectors_of: Callable[[list[int]], dict[int, np.ndarray]] | None = None,
                        ) -> list[Hit]:
    """The first `k` distinct passages; a duplicate's place goes into the kept hit's `also_in`.

    Two passages are duplicates when their words are the same, or when their vectors are
    nearly identical (cosine >= DUPLICATE_COSINE) and they are similar in length.
    """
    kept: list[Hit] = []
    keys: dict[str, Hit] = {}
    vecs = vectors_of([h.chunk_id for h in hits[:4 * k]]) if vectors_of is not None else {}
    for hit in hits:
        key = text_key(hit.text)
        twin = keys.get(key)
        if twin is None and hit.chunk_id in vecs:
            v = vecs[hit.chunk_id]
            for other in kept:
                ov = vecs.get(other.chunk_id)
                if ov is not None and float(np.dot(v, ov)) >= DUPLICATE_COSINE and \
                        0.8 <= (len(hit.text) + 1) / (len(other.text) + 1) <= 1.25:
                    twin = other
                    break
        if twin is not None:
            if twin.path != hit.path or twin.page != hit.page:
                place = {"path": hit.path, "page": hit.page, "collection": hit.collection}
                if place not in twin.also_in:
                    twin.also_in.append(place)
            continue
        if len(kept) >= k:
            if len(kept) >= k and hit.chunk_id not in vecs:
                break
            continue
        kept.append(hit)
        keys[key] = hit
    return kept
