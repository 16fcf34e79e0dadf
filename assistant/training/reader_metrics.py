"""The reader's figures: AUC of "this passage holds the answer", span exact match and F1,
and the shares accepted and rejected (the training report's and `eval qa`'s numbers).

Apart from the training loop so that evaluation and the benches can use them without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from assistant.training.reader_data import ReaderPair


def auc(labels: Sequence[bool], scores: Sequence[float]) -> float | None:
    """Area under the ROC curve (the Mann-Whitney statistic, ties counted half)."""
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    if not pos or not neg:
        return None
    order = np.argsort(np.array(list(scores), dtype=np.float64), kind="mergesort")
    ranks = np.empty(len(order), dtype=np.float64)
    values = np.array(list(scores), dtype=np.float64)[order]
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[j + 1] == values[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    pos_ranks = sum(r for r, y in zip(ranks, labels, strict=True) if y)
    return float((pos_ranks - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def reader_metrics(pairs: Sequence[ReaderPair], probabilities: Sequence[float],
                   spans: Sequence[str], threshold: float = 0.5) -> dict[str, Any]:
    """AUC of "holds the answer", exact match and F1 of the span on passages that hold it
    (SQuAD's normalisation), and the share of unanswerable pairs judged so (NoAns)."""
    from assistant.training.squad import exact_match, token_f1

    labels = [p.positive for p in pairs]
    pos = [(p, s, pr) for p, s, pr in zip(pairs, spans, probabilities, strict=True)
           if p.positive]
    out: dict[str, Any] = {"pairs": len(pairs), "positives": len(pos),
                           "auc": _round(auc(labels, probabilities))}
    if pos:
        out["has_answer_exact_match"] = round(
            sum(max(exact_match(s, g) for g in p.answers) for p, s, _ in pos) / len(pos), 4)
        out["has_answer_f1"] = round(
            sum(max(token_f1(s, g) for g in p.answers) for p, s, _ in pos) / len(pos), 4)
        out["has_answer_accepted"] = round(sum(pr >= threshold for *_, pr in pos) / len(pos), 4)
    for kind in ("unanswerable", "hard", "easy"):
        probs = [pr for p, pr in zip(pairs, probabilities, strict=True) if p.kind == kind]
        if probs:
            out[f"{kind}_rejected"] = round(sum(pr < threshold for pr in probs) / len(probs), 4)
    if "unanswerable_rejected" in out:
        out["no_answer_accuracy"] = out["unanswerable_rejected"]
    return out


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
