"""Ranking metrics with the BEIR (pytrec_eval) definitions, graded relevance included.

- nDCG@k: gain is the judged relevance itself (linear, as pytrec_eval's `ndcg_cut`), discount
  1/log2(rank + 1); the ideal ranking is every judged document sorted by relevance.
- recall@k: relevant documents (relevance > 0) in the top k over all relevant documents.
- MRR@k: 1 / rank of the first relevant document within the top k, else 0.
Queries without any relevant judgement are left out of the means (as BEIR does).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

Qrels = Mapping[str, Mapping[str, int]]  # query id -> {document id: relevance}


def ndcg_at_k(ranked: Sequence[str], judged: Mapping[str, int], k: int = 10) -> float:
    dcg = sum(judged.get(doc, 0) / math.log2(rank + 2) for rank, doc in enumerate(ranked[:k]))
    ideal = sorted((rel for rel in judged.values() if rel > 0), reverse=True)[:k]
    idcg = sum(rel / math.log2(rank + 2) for rank, rel in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(ranked: Sequence[str], judged: Mapping[str, int], k: int = 10) -> float:
    relevant = {doc for doc, rel in judged.items() if rel > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranked[:k])) / len(relevant)


def mrr_at_k(ranked: Sequence[str], judged: Mapping[str, int], k: int = 10) -> float:
    for rank, doc in enumerate(ranked[:k], start=1):
        if judged.get(doc, 0) > 0:
            return 1.0 / rank
    return 0.0


def evaluate(run: Mapping[str, Sequence[str]], qrels: Qrels, k: int = 10) -> dict[str, float]:
    """Mean nDCG@k, recall@k and MRR@k of `run` (query id -> ranked document ids)."""
    scored = [q for q, judged in qrels.items() if any(rel > 0 for rel in judged.values())]
    if not scored:
        return {f"ndcg@{k}": 0.0, f"recall@{k}": 0.0, f"mrr@{k}": 0.0, "queries": 0}
    totals = {"ndcg": 0.0, "recall": 0.0, "mrr": 0.0}
    for q in scored:
        ranked = list(run.get(q, ()))
        totals["ndcg"] += ndcg_at_k(ranked, qrels[q], k)
        totals["recall"] += recall_at_k(ranked, qrels[q], k)
        totals["mrr"] += mrr_at_k(ranked, qrels[q], k)
    n = len(scored)
    return {f"ndcg@{k}": totals["ndcg"] / n, f"recall@{k}": totals["recall"] / n,
            f"mrr@{k}": totals["mrr"] / n, "queries": n}
