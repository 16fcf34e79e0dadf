"""`assistant train-reader` end to end on a tiny SQuAD-format file: pairs, a few real steps,
a stop and a resume from the checkpoint, the int8 export that `Reader` loads, the report."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assistant.answer.reader import Reader
from assistant.cli import main
from assistant.ingest.chunking import Chunker
from assistant.training.reader_data import (
    build_reader_pairs,
    find_answer,
    reader_split,
    swapped_question,
    term_pool,
    terms,
)
from assistant.training.reader_metrics import auc
from assistant.training.squad import Paragraph, QASet, Question, load_qa, passages_of
from assistant.training.windows import sentence_spans

pytestmark = pytest.mark.slow

FACTS = {
    "Lighthouses": [("The Brannock lighthouse was lit in 1871 and stands 41 metres tall.",
                     "When was the Brannock lighthouse lit?", "1871",
                     "Who painted the Brannock lighthouse?"),
                    ("Its keeper, Ada Voss, logged every passing ship for 30 years.",
                     "Who was the keeper of the lighthouse?", "Ada Voss",
                     "When did Ada Voss retire?")],
    "Orchards": [("The Kestle orchard grows 14 varieties of pear on chalk soil.",
                  "How many varieties of pear does the Kestle orchard grow?", "14",
                  "How many apple trees grow in the Kestle orchard?"),
                 ("Harvest starts in late September and ends before the first frost.",
                  "When does the harvest start?", "late September",
                  "When does the pruning start?")],
    "Ferries": [("The night ferry to Osterholm leaves at 22:40 from pier 6.",
                 "When does the night ferry leave?", "22:40",
                 "How much does the night ferry cost?"),
                ("Bicycles travel free on the ferry between May and August.",
                 "When do bicycles travel free?", "between May and August",
                 "When do dogs travel free?")],
}


def _squad(path: Path) -> Path:
    data: dict[str, Any] = {"version": "v2.0", "data": []}
    qid = 0
    for title, paragraphs in FACTS.items():
        article: dict[str, Any] = {"title": title, "paragraphs": []}
        for context, question, answer, impossible in paragraphs:
            qid += 1
            article["paragraphs"].append({"context": context, "qas": [
                {"id": f"q{qid}", "question": question, "is_impossible": False,
                 "answers": [{"text": answer, "answer_start": context.index(answer)}]},
                {"id": f"u{qid}", "question": impossible, "is_impossible": True,
                 "answers": []}]})
        data["data"].append(article)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_pairs_hold_every_kind_and_negatives_never_hold_the_answer(tmp_path: Path) -> None:
    qa = load_qa(_squad(tmp_path / "tiny.json"))
    chunker = Chunker()
    passages = passages_of(qa, lambda text: [c.text for c in chunker.chunk_page(text)])
    pairs = build_reader_pairs(qa, passages, seed=0, easy_share=1.0, short_share=0.0)
    kinds = {p.kind for p in pairs}
    assert kinds == {"answer", "unanswerable", "hard", "easy"}
    for p in pairs:
        if p.positive:
            assert p.passage[p.start:p.end].lower() in {a.lower() for a in p.answers}
        else:
            assert p.start == -1 and not p.answers
    # hard negatives come from the same article, easy ones from another
    assert all(p.article in FACTS for p in pairs)
    split = reader_split(qa.articles)
    assert not set(split.train) & set(split.validation) and not set(split.train) & set(
        split.held_out)
    assert find_answer("Leaves at 22:40.", ["22:40"]) == (10, 15)
    assert find_answer("no such thing", ["22:40"]) is None


def test_auc_counts_ties_as_half() -> None:
    assert auc([True, False], [0.9, 0.1]) == 1.0
    assert auc([True, False], [0.1, 0.9]) == 0.0
    assert auc([True, False, True, False], [0.5, 0.5, 0.5, 0.5]) == 0.5
    assert auc([True, True], [0.1, 0.2]) is None


def test_train_reader_stops_resumes_and_exports(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    data = _squad(tmp_path / "tiny.json")
    out = tmp_path / "reader"
    args = ["train-reader", str(data), "--out", str(out), "--epochs", "2", "--batch-size", "2",
            "--lr", "1e-4", "--threads", "1", "--json"]
    assert main([*args, "--stop-after", "2"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["finished"] is False and first["steps"] == 2
    assert (out / "checkpoint" / "state.pt").is_file()
    assert not (out / "reader.onnx").exists()

    assert main([*args, "--resume"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert done["finished"] is True and done["steps"] > 2
    assert not (out / "checkpoint").exists()
    report = json.loads((out / "training_report.json").read_text(encoding="utf-8"))
    assert report["steps"] == done["steps"]
    assert report["validation"]["pairs"] > 0 and report["held_out"]["pairs"] > 0
    assert "CC BY-SA 4.0" in report["license"]
    assert report["data"]["held_out_articles"] and report["data"]["train_articles"]

    reader = Reader(out)
    readings = reader.read("When does the night ferry leave?",
                           ["The night ferry to Osterholm leaves at 22:40 from pier 6.",
                            "The Kestle orchard grows 14 varieties of pear on chalk soil."])
    assert len(readings) == 2
    for r, passage in zip(readings, ["x" * 57, "y" * 61], strict=True):
        assert 0.0 <= r.probability <= 1.0
        assert 0 <= r.start <= r.end <= len(passage)
        # no judge head: the decision reads the one probability there is
        assert r.judge is None and r.judged == r.probability
    assert json.loads((out / "reader.json").read_text(encoding="utf-8"))["judge"] is False


def test_resume_refuses_a_checkpoint_of_other_settings(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    data = _squad(tmp_path / "tiny.json")
    out = tmp_path / "reader"
    base = ["train-reader", str(data), "--out", str(out), "--batch-size", "2", "--threads", "1"]
    assert main([*base, "--stop-after", "1"]) == 0
    capsys.readouterr()
    assert main([*base, "--lr", "3e-4", "--resume"]) == 1
    err = capsys.readouterr().err
    assert "other data or settings" in err and "Traceback" not in err


def test_finish_exports_a_run_stopped_early(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    data = _squad(tmp_path / "tiny.json")
    out = tmp_path / "reader"
    base = ["train-reader", str(data), "--out", str(out), "--batch-size", "2", "--threads", "1",
            "--json"]
    assert main([*base, "--finish"]) == 1  # nothing to finish yet: a sentence, no export
    assert "no checkpoint" in capsys.readouterr().err
    assert main([*base, "--stop-after", "3"]) == 0
    capsys.readouterr()
    assert main([*base, "--finish"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert done["finished"] is True and done["steps"] == 3
    report = json.loads((out / "training_report.json").read_text(encoding="utf-8"))
    assert report["steps"] == 3 and report["steps_planned"] > 3
    Reader(out).read("When does the harvest start?", ["Harvest starts in late September."])


def test_short_pairs_are_sentences_of_the_own_paragraph_with_and_without_the_answer() -> None:
    text = ("The Zephyr X200 kettle was designed in Bergen in 2019. Its guarantee runs for "
            "27 months from the date of purchase. Limescale should be removed every 45 days. "
            "Dr. Ines Alvarez wrote the manual for the second edition.")
    qa = QASet("t", {"k-001": Paragraph("k-001", "k", text)},
               [Question("q1", "How long is the guarantee?", ("27 months",), ("k-001",), "k"),
                Question("u1", "Who repaired the kettle?", (), ("k-001",), "k")])
    passages = passages_of(qa, lambda t: [t])
    pairs = build_reader_pairs(qa, passages, seed=3, short_share=1.0)
    short = [p for p in pairs if p.kind.startswith("short")]
    assert {p.kind for p in short} == {"short_answer", "short_negative"}
    for p in short:
        assert p.passage in text and len(p.passage) < len(text)
        if p.kind == "short_answer":
            assert p.passage[p.start:p.end] == "27 months"
        else:
            assert p.start == -1 and "27 months" not in p.passage
    assert sentence_spans("Ask Dr. Alvarez about the kettle. It is red.") == [(0, 44)]


def test_swapped_questions_name_what_the_passage_lacks() -> None:
    """A swapped question replaces one name or number its passage holds with one of the same
    shape from the article that the passage lacks, so the passage cannot answer it."""
    lit = "The Brannock lighthouse was lit in 1871 and stands 41 metres tall."
    other = ("In 1903 the Osterholm light, kept by Ada Voss, was moved; later, in 1911, "
             "the Kestle light followed it to Osterholm.")
    pool = term_pool([lit, other])
    assert pool["number4"] == ["1871", "1903", "1911"]
    assert "Ada Voss" in pool["nameN"] and "Osterholm" in pool["name1"]
    # a sentence's first word is no name; a possessive and one letter are not swapped
    assert [lit[a:b] for a, b, _ in terms(lit)] == ["Brannock", "1871", "41"]
    assert [shape for *_, shape in terms("Was the T of Voss's boat 12 m?")] == ["number2"]
    seen = set()
    for seed in range(20):
        new = swapped_question("When was the Brannock lighthouse lit?", lit, pool,
                               random.Random(seed))
        assert new is not None
        seen.add(new)
    assert seen == {"When was the Osterholm lighthouse lit?",
                    "When was the Kestle lighthouse lit?"}
    # nothing of the question is in the passage, or nothing of that shape is missing from it
    assert swapped_question("When did Ada Voss retire?", lit, pool, random.Random(0)) is None
    assert swapped_question("How tall is it in 1871?", lit + " " + other, pool,
                            random.Random(0)) is None


def test_swapped_pairs_are_negatives_against_the_answers_own_passage(tmp_path: Path) -> None:
    qa = load_qa(_squad(tmp_path / "tiny.json"))
    passages = passages_of(qa, lambda text: [text])
    plain = build_reader_pairs(qa, passages, seed=0)
    pairs = build_reader_pairs(qa, passages, seed=0, swapped_share=1.0)
    swapped = [p for p in pairs if p.kind == "swapped"]
    assert swapped and not [p for p in plain if p.kind == "swapped"]
    answers = {p.passage: p.question for p in pairs if p.kind == "answer"}
    for p in swapped:
        assert not p.positive and not p.answers
        assert p.passage in answers and p.question != answers[p.passage]


def test_ctrl_c_stops_training_between_steps_and_saves(capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    """A real SIGINT mid-step lets the step finish and the checkpoint be written (a raised
    KeyboardInterrupt would abandon the step and leave only the older checkpoint)."""
    import os
    import signal

    from assistant.cli.output import ProgressBar
    from assistant.cli.training import _stoppable
    from assistant.errors import Cancelled

    done: list[str] = []

    def run(cancel: Any) -> str:
        for step in range(1, 100):
            if step == 3:
                os.kill(os.getpid(), signal.SIGINT)  # arrives in the middle of step 3
            done.append(f"step {step}")
            if cancel.is_set():
                done.append(f"checkpoint at {step}")
                raise Cancelled("stopped")
        return "finished"

    before = signal.getsignal(signal.SIGINT)
    assert _stoppable(run, ProgressBar()) is None
    assert done[-2:] == ["step 3", "checkpoint at 3"]
    assert "Stopped. Run the same command with --resume" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGINT) is before  # the usual Ctrl+C is back


def test_retrieved_negatives_are_the_nearest_passages_without_the_answer(tmp_path: Path) -> None:
    """With the real embedder, a question's `retrieved` negative is a passage search ranks
    near it that lacks its answer: for "Who was the keeper of the lighthouse?", the other
    lighthouse paragraph, never an orchard or a ferry."""
    from assistant.search import Embedder
    from assistant.training.reader_data import nearest_passages

    qa = load_qa(_squad(tmp_path / "tiny.json"))
    chunker = Chunker()
    passages = passages_of(qa, lambda text: [c.text for c in chunker.chunk_page(text)])
    nearest = nearest_passages(qa.questions, passages, Embedder().embed_batch, depth=3)
    pairs = build_reader_pairs(qa, passages, seed=0, hard_per_question=0, easy_share=0.0,
                               short_share=0.0, neighbours=lambda q: nearest[q.id])
    retrieved = [p for p in pairs if p.kind == "retrieved"]
    assert len(retrieved) == len(qa.questions)  # one each
    for p in retrieved:
        q = next(q for q in qa.questions if q.question == p.question)
        assert not any(a.lower() in p.passage.lower() for a in q.answers)
        assert not p.positive
    keeper = next(p for p in retrieved if p.question == "Who was the keeper of the lighthouse?")
    assert "Brannock lighthouse" in keeper.passage
    # an unanswerable question's own paragraph is its `unanswerable` pair, not a retrieved one
    q = next(q for q in qa.questions if q.question == "Who painted the Brannock lighthouse?")
    painted = next(p for p in retrieved if p.question == q.question)
    assert nearest[q.id][0].paragraph.id in q.paragraph_ids  # search finds its own first
    assert painted.passage == next(p.text for p in nearest[q.id]
                                   if p.paragraph.id not in q.paragraph_ids)


def test_negative_counts_are_refused_in_a_sentence(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    data = _squad(tmp_path / "tiny.json")
    assert main(["train-reader", str(data), "--out", str(tmp_path / "r"),
                 "--retrieved", "-1"]) == 1
    assert main(["eval", "qa", str(data), "--missing", "-2"]) == 1
    assert main(["train-reader", str(data), "--out", str(tmp_path / "r"),
                 "--swapped-share", "1.5"]) == 1
    err = capsys.readouterr().err
    assert err.count("--retrieved takes a number of passages") == 2
    assert "--swapped-share a share between 0 and 1" in err
    assert "--missing takes a number of questions" in err and "Traceback" not in err


def test_plain_documents_give_the_answers_section_and_the_other_sections_as_negatives() -> None:
    """tests/data/qa/plain_training.jsonl lists every section of a question's document: the
    section holding the answer is the positive, other sections of that document are `hard`
    negatives that never hold the answer, and a question the document cannot answer is a
    negative against its sections."""
    from assistant.training.reader_data import document_questions

    path = Path(__file__).parents[1] / "data" / "qa" / "plain_training.jsonl"
    raw = load_qa(path)
    docs = document_questions(raw)
    chunker = Chunker()
    passages = passages_of(docs, lambda text: [c.text for c in chunker.chunk_page(text)])
    pairs = build_reader_pairs(docs, passages, seed=0, hard_per_question=2,
                               unanswerable_chunks=2, short_share=0.0)
    kinds = {k: [p for p in pairs if p.kind == k] for k in ("answer", "hard", "unanswerable")}
    assert len(kinds["answer"]) == sum(q.answerable for q in raw.questions)
    assert len(kinds["hard"]) >= len(kinds["answer"])
    assert len(kinds["unanswerable"]) == 2 * sum(not q.answerable for q in raw.questions)
    by_question = {q.question: q for q in raw.questions}
    for p in kinds["answer"]:
        assert p.passage[p.start:p.end].lower() in {a.lower() for a in p.answers}
    for p in kinds["hard"]:
        q = by_question[p.question]
        assert not any(a.lower() in p.passage.lower() for a in q.answers)
        assert p.article == q.article  # the same document, another section
    narrowed = {q.id: q for q in docs.questions}
    for q in raw.questions:
        if q.answerable:
            assert len(narrowed[q.id].paragraph_ids) < len(q.paragraph_ids)


def test_train_reader_adds_plain_documents_to_training_only(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]
                                                            ) -> None:
    data = _squad(tmp_path / "tiny.json")
    docs = Path(__file__).parents[1] / "data" / "qa" / "plain_training.jsonl"
    base = ["train-reader", str(data), "--out", str(tmp_path / "reader"), "--batch-size", "2",
            "--threads", "1", "--stop-after", "1"]
    assert main(base) == 0
    alone = capsys.readouterr().err
    assert main([*base, "--documents", str(docs)]) == 0
    both = capsys.readouterr().err

    def counts(err: str) -> list[int]:
        line = err.split("Reader pairs: ")[1].split("\n")[0]
        return [int(w) for w in line.replace(",", " ").replace("(", " ").split() if w.isdigit()]

    # training gains the documents' pairs; validation and held-out stay the SQuAD file's
    assert counts(both)[0] > counts(alone)[0] + 500
    assert counts(both)[2:] == counts(alone)[2:]
    # a checkpoint of a run with the documents does not resume without them
    assert main([*base, "--resume"]) == 1
    assert "other data or settings" in capsys.readouterr().err


def _two_documents_searched() -> tuple[QASet, dict[str, Any], dict[str, Any]]:
    """Two plain training documents (the car's service booklet, the allotment rules) as
    `document_questions`, their chunks, and what the app's search ranks for each question."""
    from assistant.search import Embedder
    from assistant.training.reader_data import document_questions, searched_passages

    path = Path(__file__).parents[1] / "data" / "qa" / "plain_training.jsonl"
    docs = document_questions(load_qa(path))
    docs = docs.only_articles(["velden_corvana_service_booklet", "fenwick_lane_allotment_rules"])
    chunker = Chunker()
    passages = passages_of(docs, lambda text: [c.text for c in chunker.chunk_page(text)])
    return docs, passages, searched_passages(docs, passages, Embedder())


def test_tempting_pairs_a_near_miss_with_the_section_search_would_give_it() -> None:
    """With `tempting` (the app's own index and hybrid search), a near miss meets the chunks
    of its document search ranks first for it, not random ones: "How much oil goes into the
    automatic gearbox?" meets the fluids list that gives the manual gearbox's oil (search
    ranks it second). Answerable questions' `hard` negatives come from the same ranking and
    still never hold the answer."""
    docs, passages, ranked = _two_documents_searched()
    assert all(len(v) >= 4 for v in ranked.values())
    common = dict(seed=0, hard_per_question=2, unanswerable_chunks=2, short_share=0.0,
                  easy_share=0.0)
    tempting = build_reader_pairs(docs, passages, tempting=lambda q: ranked[q.id], **common)
    plain = build_reader_pairs(docs, passages, **common)
    assert len(tempting) == len(plain)  # the same pairs in number, other passages

    def passages_for(pairs: list[Any], question: str, kind: str) -> list[str]:
        return [p.passage for p in pairs if p.question == question and p.kind == kind]

    gearbox = "How much oil goes into the automatic gearbox?"
    near = passages_for(tempting, gearbox, "unanswerable")
    assert len(near) == 2 and any("Gearbox oil (manual)" in n for n in near)
    by_id = {q.id: q for q in docs.questions}
    for q in docs.questions:  # each near miss meets its own document's two nearest chunks
        if not q.answerable:
            own = [p.text for p in ranked[q.id] if p.paragraph.id in q.paragraph_ids]
            assert sorted(passages_for(tempting, q.question, "unanswerable")) == sorted(own[:2])
    for p in tempting:
        if p.kind == "hard":
            q = next(q for q in by_id.values() if q.question == p.question)
            assert not any(a.lower() in p.passage.lower() for a in q.answers)
    # near misses only (`--tempting near-misses`): the same near-miss pairs, the other
    # sections of an answerable question drawn at random again
    only = build_reader_pairs(docs, passages, tempting=lambda q: ranked[q.id],
                              tempting_hard=False, **common)
    assert sorted(p.passage for p in only if p.kind == "unanswerable") == \
        sorted(p.passage for p in tempting if p.kind == "unanswerable")

    def first_ranked(pairs: list[Any]) -> int:  # hard pairs that are search's first pick
        count = 0
        for q in answerable:
            hard = passages_for(pairs, q.question, "hard")
            lacking = [p.text for p in ranked[q.id] if p.paragraph.article == q.article
                       and p.paragraph.id not in q.paragraph_ids
                       and not any(a.lower() in p.text.lower() for a in q.answers)]
            count += lacking[0] in hard
        return count

    answerable = [q for q in docs.questions if q.answerable]
    assert first_ranked(tempting) == len(answerable)
    assert first_ranked(only) < len(answerable) * 0.8
    # at random, the near misses met other chunks
    assert sorted(p.passage for p in tempting if p.kind == "unanswerable") != \
        sorted(p.passage for p in plain if p.kind == "unanswerable")


def test_siblings_give_a_near_miss_section_to_a_question_it_answers() -> None:
    """With `siblings`, the section a near miss meets also comes as a positive, with its span,
    for a question of the same document that it answers ("How much oil goes into the
    automatic gearbox?" meets the fluids list; a question about the manual gearbox's oil
    gets that list as its answer); every other pair stays as it was."""
    docs, passages, ranked = _two_documents_searched()
    common = dict(seed=0, hard_per_question=2, unanswerable_chunks=2, short_share=0.0,
                  easy_share=0.0, tempting=lambda q: ranked[q.id], tempting_hard=False)
    without = build_reader_pairs(docs, passages, **common)
    pairs = build_reader_pairs(docs, passages, siblings=True, **common)
    sib = [p for p in pairs if p.kind == "sibling"]
    assert sib and not any(p.kind == "sibling" for p in without)
    assert sorted(map(repr, (p for p in pairs if p.kind != "sibling"))) == \
        sorted(map(repr, without))
    by_question = {q.question: q for q in docs.questions}
    near = {p.passage for p in pairs if p.kind == "unanswerable"}
    for p in sib:
        q = by_question[p.question]
        assert q.answerable and p.passage in near and p.article == q.article
        assert p.passage[p.start:p.end].lower() in {a.lower() for a in q.answers}
    # the fluids list of the gearbox near miss is answered by a sibling
    gearbox = [p.passage for p in pairs if p.kind == "unanswerable"
               and p.question == "How much oil goes into the automatic gearbox?"]
    assert any(p.passage in gearbox for p in sib)


def test_train_reader_says_what_tempting_and_siblings_need(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _squad(tmp_path / "tiny.json")
    base = ["train-reader", str(data), "--out", str(tmp_path / "reader")]
    assert main([*base, "--tempting"]) == 1
    err = capsys.readouterr().err
    assert "give at least one --documents file" in err and "Traceback" not in err
    docs = Path(__file__).parents[1] / "data" / "qa" / "plain_training.jsonl"
    assert main([*base, "--documents", str(docs), "--siblings"]) == 1
    assert "use it with --tempting" in capsys.readouterr().err
    assert not (tmp_path / "reader").exists()


def test_a_checkpoint_resumes_only_with_the_same_training_pairs(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--tempting` changes which passages the pairs hold, not how many: the checkpoint's
    fingerprint covers the pairs themselves, so a run resumed without it is refused."""
    data = _squad(tmp_path / "tiny.json")
    docs = Path(__file__).parents[1] / "data" / "qa" / "plain_training.jsonl"
    base = ["train-reader", str(data), "--out", str(tmp_path / "reader"), "--batch-size", "2",
            "--threads", "1", "--stop-after", "1", "--documents", str(docs)]
    assert main([*base, "--tempting"]) == 0
    with_tempting = capsys.readouterr().err.split("Reader pairs: ")[1].split("\n")[0]
    assert main([*base, "--resume"]) == 1
    assert "other data or settings" in capsys.readouterr().err
    assert main([*base, "--tempting", "--resume"]) == 0
    capsys.readouterr()
    # SQuAD's own pairs are untouched by --tempting: the same validation and held-out pairs
    # (training's easy pairs are drawn after the documents' own, so their count may move)
    assert main([*base[:3], str(tmp_path / "other"), *base[4:]]) == 0
    without = capsys.readouterr().err.split("Reader pairs: ")[1].split("\n")[0]
    assert without.split("), ")[1:] == with_tempting.split("), ")[1:]
    assert abs(int(without.split()[0]) - int(with_tempting.split()[0])) < 20


def _kettle_batch(judge_head: bool = False) -> tuple[list[Any], Any, dict[str, Any]]:
    """Two encoded pairs over one passage (one holding the answer, one not), the untrained
    reader model (seeded) and their batch."""
    import torch

    from assistant.search import default_model_path
    from assistant.training.reader_train import (
        build_model,
        collate,
        encode_pair,
        load_tokenizer,
    )

    tok = load_tokenizer(default_model_path())
    passage = "The kettle should be descaled every 45 days with citric acid."
    enc = [encode_pair(tok, "How often should the kettle be descaled?", passage,
                       span=(passage.index("every"), passage.index(" with"))),
           encode_pair(tok, "What colour is the kettle?", passage)]
    torch.manual_seed(0)
    model = build_model(default_model_path(), judge_head=judge_head).eval()
    batch = collate(enc)
    return enc, model, batch


def test_the_teacher_term_holds_the_answer_logit_only_where_a_teacher_speaks() -> None:
    """`reader_loss` with `distill`: a teacher's logit far from the student's adds to the loss
    by its weight; NaN (no teacher for that pair) adds nothing."""
    import math

    import torch

    from assistant.training.reader_train import reader_loss

    _, model, batch = _kettle_batch()
    with torch.no_grad():
        model.answerable.weight.zero_()  # the student says "holds it" with logit 4
        model.answerable.bias.fill_(4.0)
        plain = float(reader_loss(model, batch))
        logits = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])[0]
        batch["teacher"] = torch.tensor([math.nan, math.nan])
        assert float(reader_loss(model, batch, 1.0)) == pytest.approx(plain)
        batch["teacher"] = logits.float().clone()  # the student already agrees: a small term
        agreeing = float(reader_loss(model, batch, 1.0)) - plain
        batch["teacher"] = torch.tensor([-8.0, -8.0])  # the teacher says "does not"
        against = float(reader_loss(model, batch, 1.0)) - plain
        half = float(reader_loss(model, batch, 0.5)) - plain
    assert agreeing < 0.2 and against > 3.5
    assert half == pytest.approx(against / 2, rel=1e-4)


def test_train_reader_distill_leaves_the_near_misses_without_a_teacher(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--distill`: the shipped reader reads every training pair but the documents' near
    misses (the report counts them), and a checkpoint resumes only with the same weight."""
    data = _squad(tmp_path / "tiny.json")
    docs = Path(__file__).parents[1] / "data" / "qa" / "plain_training.jsonl"
    out = tmp_path / "reader"
    base = ["train-reader", str(data), "--out", str(out), "--batch-size", "4",
            "--threads", "1", "--documents", str(docs), "--tempting", "near-misses",
            "--epochs", "1", "--limit", "40"]
    assert main([*base, "--distill", "1.0", "--stop-after", "1"]) == 0
    err = capsys.readouterr().err
    total = int(err.split("Reader pairs: ")[1].split(" ")[0])
    read = int(err.split("Reading ")[1].split(" ")[0])
    near = sum(1 for line in docs.read_text(encoding="utf-8").splitlines()
               if json.loads(line)["answers"] == []) * 2  # two sections per near miss
    assert read == total
    assert main([*base, "--distill", "0.5", "--resume", "--stop-after", "2"]) == 1
    assert "other data or settings" in capsys.readouterr().err
    assert main([*base, "--distill", "1.0", "--finish"]) == 0
    report = json.loads((out / "training_report.json").read_text(encoding="utf-8"))
    assert report["config"]["distill"] == 1.0
    assert report["data"]["teacher"]["pairs"] == total - near
    assert report["data"]["teacher"]["span_pairs"] == 0


def test_the_span_term_holds_the_start_and_end_to_the_teachers() -> None:
    """`reader_loss` with `distill_spans`: the student's own start and end logits as the
    teacher's add (almost) nothing; a teacher pointing elsewhere in the passage adds by the
    weight; rows without a teacher add nothing."""
    import torch

    from assistant.training.reader_train import _teacher_span_batch, reader_loss

    enc, model, batch = _kettle_batch()
    width = batch["input_ids"].shape[1]
    with torch.no_grad():
        plain = float(reader_loss(model, batch))
        _, start, end = model(batch["input_ids"], batch["attention_mask"],
                              batch["token_type_ids"])
        own = [(start[i, e.passage_from:e.passage_to].float().numpy(),
                end[i, e.passage_from:e.passage_to].float().numpy()) for i, e in enumerate(enc)]
        batch.update(_teacher_span_batch(enc, [None, None], width))
        assert float(reader_loss(model, batch, 0.0, 1.0)) == pytest.approx(plain)
        batch.update(_teacher_span_batch(enc, own, width))
        agreeing = float(reader_loss(model, batch, 0.0, 1.0)) - plain
        n = enc[1].passage_to - enc[1].passage_from  # the teacher sure of the last token
        far = np.full(n, -10.0, dtype=np.float32)
        far[-1] = 10.0
        batch.update(_teacher_span_batch(enc, [None, (far, far)], width))
        against = float(reader_loss(model, batch, 0.0, 1.0)) - plain
        half = float(reader_loss(model, batch, 0.0, 0.5)) - plain
    assert abs(agreeing) < 1e-3 and against > 1.0
    assert half == pytest.approx(against / 2, rel=1e-3)


def test_train_reader_distill_spans_reads_every_pairs_span_logits(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--distill-spans`: the shipped reader's start and end logits for every training pair,
    one per passage token of the pair as training encodes it (the report counts them)."""
    from assistant.answer.reader import Reader
    from assistant.search import default_model_path
    from assistant.training.reader_train import encode_pair, load_tokenizer

    passage = ("The Harbor Analytics agreement runs for a minimum term of 24 months. Either "
               "party may terminate it in writing at the end of the minimum term.")
    question = "How long is the minimum term?"
    reader = Reader()
    (answer, start, end), = reader.logits(question, [passage])
    assert 1 / (1 + np.exp(-answer)) == pytest.approx(
        reader.read(question, [passage])[0].probability)
    e = encode_pair(load_tokenizer(default_model_path()), question, passage)
    assert len(start) == len(end) == e.passage_to - e.passage_from
    assert passage[e.offsets[int(np.argmax(start))][0]:
                   e.offsets[int(np.argmax(end))][1]].startswith("24 months")
    data = _squad(tmp_path / "tiny.json")
    out = tmp_path / "reader"
    base = ["train-reader", str(data), "--out", str(out), "--batch-size", "4",
            "--threads", "1", "--epochs", "1", "--limit", "24"]
    assert main([*base, "--distill-spans", "1.0", "--stop-after", "1"]) == 0
    total = int(capsys.readouterr().err.split("Reader pairs: ")[1].split(" ")[0])
    assert main([*base, "--distill-spans", "1.0", "--finish"]) == 0
    report = json.loads((out / "training_report.json").read_text(encoding="utf-8"))
    assert report["config"]["distill_spans"] == 1.0
    assert report["data"]["teacher"]["span_pairs"] == total
    assert report["data"]["teacher"]["pairs"] == 0


def test_a_judge_head_takes_the_labels_and_the_ranking_head_only_the_teacher() -> None:
    """`reader_loss` with a judge head: where a teacher speaks, the pair's label pulls on
    the judge head alone (the ranking head, already where the teacher is, is not moved by
    it); without a judge head the same label pulls on the ranking head."""
    import torch

    from assistant.training.reader_train import reader_loss

    def pulls(model: Any, batch: dict[str, Any]) -> dict[str, float]:
        model.zero_grad()
        reader_loss(model, batch, 1.0).backward()
        heads = {"ranking": model.answerable.bias.grad}
        if model.judge is not None:
            heads["judge"] = model.judge.bias.grad
        return {k: abs(float(v)) for k, v in heads.items()}

    for judge_head in (True, False):
        _, model, batch = _kettle_batch(judge_head)
        with torch.no_grad():  # the teacher: the ranking head's own logits, both "holds it"
            for head in (model.answerable, model.judge):
                if head is not None:
                    head.weight.zero_()
                    head.bias.fill_(4.0)
            batch["teacher"] = torch.tensor([4.0, 4.0])
        grad = pulls(model, batch)
        if judge_head:
            assert grad["ranking"] < 1e-6 and grad["judge"] > 0.1
            with torch.no_grad():
                batch["teacher"] = torch.tensor([float("nan"), 4.0])  # no teacher for one
            assert pulls(model, batch)["ranking"] > 1e-3
        else:
            assert grad["ranking"] > 0.1  # the negative's label against the teacher


def test_train_reader_judge_head_gives_the_decision_its_own_probability(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--judge-head`: refused in a sentence without a teacher; with one, the shipped reader
    reads every training pair, near misses included (the ranking head keeps its view of
    them), the report has the judge's own validation figures, and the exported reader gives
    each passage the judge's probability beside the ranking one, which the decision reads
    (as the shipped reader does; one without a judge head: the test above)."""
    data = _squad(tmp_path / "tiny.json")
    docs = Path(__file__).parents[1] / "data" / "qa" / "plain_training.jsonl"
    out = tmp_path / "reader"
    base = ["train-reader", str(data), "--out", str(out), "--batch-size", "4",
            "--threads", "1", "--documents", str(docs), "--tempting", "near-misses",
            "--epochs", "1", "--limit", "40", "--judge-head"]
    assert main([*base, "--stop-after", "1"]) == 1
    err = capsys.readouterr().err
    assert "judge head needs a teacher" in err and "Traceback" not in err
    assert main([*base, "--distill", "1.0", "--stop-after", "1"]) == 0
    total = int(capsys.readouterr().err.split("Reader pairs: ")[1].split(" ")[0])
    assert main([*base, "--distill", "1.0", "--finish"]) == 0
    report = json.loads((out / "training_report.json").read_text(encoding="utf-8"))
    assert report["config"]["judge_head"] is True
    assert report["data"]["teacher"]["pairs"] == total
    assert report["judge_validation"]["pairs"] == report["validation"]["pairs"] > 0
    assert json.loads((out / "reader.json").read_text(encoding="utf-8"))["judge"] is True

    passages = ["The night ferry to Osterholm leaves at 22:40 from pier 6.",
                "The Kestle orchard grows 14 varieties of pear on chalk soil."]
    for r in Reader(out).read("When does the night ferry leave?", passages):
        assert r.judge is not None and 0.0 <= r.judge <= 1.0 and r.judged == r.judge
    for r in Reader().read("When does the night ferry leave?", passages):  # the shipped one
        assert r.judge is not None and r.judged == r.judge
