"""BEIR metric definitions on hand-worked examples."""

from __future__ import annotations

import math

import pytest

from assistant.evaluation.metrics import evaluate, mrr_at_k, ndcg_at_k, recall_at_k


def test_ndcg_graded_linear_gain():
    judged = {"a": 2, "b": 1, "c": 0}
    # ideal: a (2), b (1); ranking b, x, a
    dcg = 1 / math.log2(2) + 2 / math.log2(4)
    idcg = 2 / math.log2(2) + 1 / math.log2(3)
    assert ndcg_at_k(["b", "x", "a"], judged) == pytest.approx(dcg / idcg)
    assert ndcg_at_k(["a", "b"], judged) == pytest.approx(1.0)
    assert ndcg_at_k(["c", "x"], judged) == 0.0


def test_recall_and_mrr_cut_at_k():
    judged = {"a": 1, "b": 2, "z": 0}
    ranked = ["x"] * 3 + ["b"] + ["y"] * 10 + ["a"]
    assert recall_at_k(ranked, judged, 10) == pytest.approx(0.5)
    assert mrr_at_k(ranked, judged, 10) == pytest.approx(1 / 4)
    assert mrr_at_k(["x"] * 10 + ["a"], judged, 10) == 0.0


def test_evaluate_skips_queries_without_relevant_judgements():
    qrels = {"q1": {"a": 1}, "q2": {"b": 0}}
    scores = evaluate({"q1": ["a"], "q2": ["b"]}, qrels)
    assert scores["queries"] == 1
    assert scores["ndcg@10"] == pytest.approx(1.0)
    assert evaluate({}, qrels)["ndcg@10"] == 0.0
