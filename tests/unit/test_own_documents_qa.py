"""tests/data/qa/own_documents.jsonl stays true to the documents it asks about."""

from __future__ import annotations

import json
import sys
from pathlib import Path

DATA = Path(__file__).parents[1] / "data"
sys.path.insert(0, str(DATA))
import make_own_qa  # noqa: E402


def test_the_own_documents_questions_match_the_documents_as_the_app_chunks_them(embedder) -> None:
    """Every passage of the file is a chunk the indexer makes of tests/data/docs today, the
    chunks together are the whole library, and each answerable question's gold answer is in
    the passages it lists (remake the file with make_own_qa.py when the documents change)."""
    from assistant.evaluation.qa import holds_answer
    from assistant.training.squad import load_qa

    chunks = make_own_qa.chunks_of_docs(embedder)
    lines = [json.loads(line) for line in
             (DATA / "qa" / "own_documents.jsonl").read_text(encoding="utf-8").splitlines()]
    listed = {c for line in lines for c in line["contexts"]}
    assert listed == set(chunks)
    qa = load_qa(DATA / "qa" / "own_documents.jsonl")
    assert sum(q.answerable for q in qa.questions) == 36
    assert sum(not q.answerable for q in qa.questions) == 14
    for q in qa.questions:
        if q.answerable:
            assert any(holds_answer(qa.paragraphs[p].text, q.answers) for p in q.paragraph_ids)
