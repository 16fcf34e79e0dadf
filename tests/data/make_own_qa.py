"""Write qa/own_documents.jsonl: questions about the documents in docs/, for `eval qa`.

Why: the decision and the adapter are tuned on SQuAD's Wikipedia paragraphs, and a change that
helps there has twice made our own kind of documents (a manual, a contract, notes, a trail
guide) worse. This set lets `assistant eval qa` and `tests/bench/calibrate_strictness.py`
judge every candidate on them too. It is a check, never fitted on.

The passages are the chunks the app's own indexer makes of docs/ (so a PDF's line breaks and a
table's cells are as the app sees them). Each answerable question lists the chunks holding its
answer as its contexts; the chunks no answerable question needs go with the unanswerable
questions, so that indexing the file's contexts builds the whole library again. 36 answerable
questions (the 12 of questions.json and 24 more, 4 of them asked yes or no) and 14 whose
answer no document gives (2 asked yes or no).

    .venv/bin/python tests/data/make_own_qa.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

MORE = [
    ("What is the power rating of the Zephyr X200 heating element?", ["2150 watts"]),
    ("How many litres does the Zephyr X200 hold?", ["1.6 litres"]),
    ("For how long does the keep-warm function keep the water hot?", ["40 minutes"]),
    ("What should I do before using the kettle for the first time?",
     ["fill the kettle to the maximum mark", "boil the water and pour it away"]),
    ("Where is the serial number printed?", ["under the power base"]),
    ("What should I use to descale the kettle?", ["citric acid"]),
    ("Why should I not use vinegar on the lid seal?", ["hardens the rubber"]),
    ("How long should the kettle cool after a dry-boil cut-out?", ["ten minutes"]),
    ("When did the Harbor Analytics agreement start?", ["1 April 2024"]),
    ("What is the monthly fee in the service agreement?", ["4,250"]),
    ("What is the minimum term of the Harbor Analytics contract?", ["24 months"]),
    ("Which law governs the service agreement?", ["Hamburg"]),
    ("Within how many days are invoices due?", ["thirty days"]),
    ("How long does confidentiality last after the agreement ends?", ["three years"]),
    ("Who is the provider in the service agreement?", ["Harbor Analytics"]),
    ("What voltage is the Zephyr X200 designed for?", ["220 to 240 volts"]),
    ("What does a replacement kettle do to the warranty period?",
     ["continues the original warranty", "does not start a new period"]),
    ("How long is the first day's stage of the Oakridge Trail?", ["14 km"]),
    ("On which floor is the Riverside Library reading room?", ["third floor"]),
    ("What is the emergency number on the Oakridge Trail?", ["112"]),
    # asked yes or no: answered by the sentence that says so (assistant.answer.yes_no)
    ("Can I put the kettle in the dishwasher?",
     ["Do not put the kettle or the power base in a dishwasher"]),
    ("Do I need a library card to read in the Riverside Library?",
     ["only to borrow books, not to read in the building"]),
    ("Can we book a bunk in the Marten Ridge shelter?", ["they cannot be booked"]),
    ("Does the warranty cover damage caused by limescale?",
     ["does not cover damage caused by limescale"]),
]
# other right answers to questions.json's questions ("How many beds...?" "14" is right)
ALSO = {"How many beds are there in the Marten Ridge hut?": ["14"]}
NOT_IN_DOCUMENTS = [
    "How much does the Zephyr X200 kettle cost?",
    "What does the Zephyr X200 weigh?",
    "How long is the power cord of the Zephyr X200?",
    "Who is the managing director of Brightwater Appliances?",
    "What is the phone number of the Brightwater support hotline?",
    "When does the Brightwater hotline open on Saturdays?",
    "What interest is charged on late invoices under the service agreement?",
    "How many analysts does Harbor Analytics assign to the customer?",
    "How much does a night in the Fernhollow hut cost?",
    "When does the Riverside Library open on Sundays?",
    "Who won the 1966 football world cup final?",
    "What is the boiling point of water on Mount Everest?",
    "Can I bring my dog on the Oakridge Trail?",
    "Is there free wifi in the Riverside Library?",
]


def chunks_of_docs(embedder: Any = None) -> list[str]:
    """The texts of the chunks the app's indexer makes of docs/, in file and page order."""
    from assistant.ingest import Indexer
    from assistant.search import Embedder
    from assistant.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "own.sqlite3")
        Indexer(store, embedder or Embedder()).index([HERE / "docs"], "own")
        rows = store.conn.execute(
            "SELECT ch.text FROM chunks ch JOIN documents d ON d.id = ch.document_id "
            "ORDER BY d.path, ch.page, ch.start").fetchall()
        store.close()
    return [str(r[0]) for r in rows]


def main() -> None:
    from assistant.evaluation.qa import holds_answer

    chunks = chunks_of_docs()
    facts = [(q["question"], [q["answer_contains"], *ALSO.get(q["question"], [])])
             for q in json.loads((HERE / "questions.json").read_text(encoding="utf-8"))]
    lines, used = [], set()
    for i, (question, answers) in enumerate(facts + MORE, 1):
        holding = [c for c in chunks if holds_answer(c, answers)]
        if not holding:
            raise SystemExit(f"no chunk holds the answer to {question!r}")
        used.update(holding)
        lines.append({"id": f"own{i:02d}", "article": "own", "question": question,
                      "answers": answers, "contexts": holding})
    rest = [c for c in chunks if c not in used]
    for i, question in enumerate(NOT_IN_DOCUMENTS, 1):
        lines.append({"id": f"none{i:02d}", "article": "own", "question": question,
                      "answers": [], "answerable": False,
                      "contexts": rest if i == 1 else []})
    out = HERE / "qa" / "own_documents.jsonl"
    out.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines),
                   encoding="utf-8")
    print(f"{out}: {len(lines)} questions, {len(chunks)} passages")


if __name__ == "__main__":
    main()
