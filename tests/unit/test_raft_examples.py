"""RAFT training examples: answers that occur everywhere, passage order, running out of questions."""

from __future__ import annotations

from assistant.training.squad import (
    REFUSAL,
    Paragraph,
    QASet,
    Question,
    _holds,
    build_raft_examples,
    passages_of,
)


def _qa() -> QASet:
    qa = QASet("test")
    topics = ["steam engines", "the Normans", "packet switching", "Warsaw", "the immune system",
              "Harvard", "complexity classes", "the Yuan dynasty"]
    for i, topic in enumerate(topics):
        pid = f"art{i % 2}-{i:03d}"
        text = (f"This paragraph is about {topic}. It was written in {1900 + i} by author {i}. "
                f"A class P problem is named here, and so is a period.")
        qa.paragraphs[pid] = Paragraph(pid, f"art{i % 2}", text)
        qa.questions.append(Question(f"q{i}", f"When was the text on {topic} written?",
                                     (str(1900 + i),), (pid,), f"art{i % 2}"))
        qa.questions.append(Question(f"u{i}", f"Who translated the text on {topic}?", (),
                                     (pid,), f"art{i % 2}"))
    # SQuAD has answers like "P" and "." that a substring test finds in every passage
    qa.questions.append(Question("short", "Which class is named?", ("P", "."),
                                 ("art0-000",), "art0"))
    return qa


def test_holds_is_whole_words_and_ignores_punctuation_answers() -> None:
    assert _holds("A class P problem.", ["P"])
    assert not _holds("A problem of steam.", ["P"])
    assert not _holds("Anything at all.", ["."])
    assert _holds("It was in 1903, sadly.", ["1903"])
    assert not _holds("It was in 19031.", ["1903"])


def test_examples_end_even_when_answers_are_everywhere_and_reuse_questions() -> None:
    qa = _qa()
    passages = passages_of(qa, lambda text: [text])
    examples = build_raft_examples(qa, passages, count=40, seed=1)
    # 9 answerable and 8 unanswerable questions for 22 + 9 + 9 asked: every answerable
    # question is an answer example, and comes again without its oracle
    kinds = [e.origin.split()[1] for e in examples]
    assert (kinds.count("answer"), kinds.count("unanswerable"), kinds.count("no_oracle")) \
        == (9, 8, 9)
    ids = {kind: {e.origin.split()[2] for e in examples if e.origin.split()[1] == kind}
           for kind in ("answer", "no_oracle")}
    assert ids["no_oracle"] == ids["answer"]
    for e in examples:
        if e.origin.split()[1] == "answer":
            n = int(e.response.rsplit("[", 1)[1].rstrip("]"))
            q = next(q for q in qa.questions if q.id == e.origin.split()[2])
            assert _holds(e.sources[n - 1], q.answers)
            assert e.response.split(" [")[0] != "."
        else:
            assert e.response == REFUSAL


def test_order_puts_passages_as_scored_and_the_citation_follows() -> None:
    qa = _qa()
    passages = passages_of(qa, lambda text: [text])

    def by_year(question: str, texts: list[str]) -> list[float]:
        # the oracle holds the year the question is about: score it first
        if "text on " not in question:
            return [0.0] * len(texts)
        topic = question.split("text on ")[1].removesuffix(" written?")
        return [1.0 if topic in t else 0.0 for t in texts]

    examples = build_raft_examples(qa, passages, count=30, seed=2, order=by_year)
    answers = [e for e in examples if e.origin.split()[1] == "answer"]
    assert answers
    for e in answers:
        if e.origin.split()[2] == "short":
            continue
        assert e.response.endswith("[1]"), e.response
    shuffled = build_raft_examples(qa, passages, count=30, seed=2)
    positions = {e.response.rsplit("[", 1)[1] for e in shuffled
                 if e.origin.split()[1] == "answer"}
    assert len(positions) > 1  # without an order the oracle moves around


def test_the_answerable_share_sets_how_many_examples_answer() -> None:
    """`grounded-data --answerable-share`: fewer refusal examples, the rest split as before
    between SQuAD's unanswerable questions and questions shown without their oracle."""
    qa = _qa()
    passages = passages_of(qa, lambda text: [text])
    mostly = build_raft_examples(qa, passages, count=10, seed=1, answerable_share=0.8)
    kinds = [e.origin.split()[1] for e in mostly]
    assert (kinds.count("answer"), kinds.count("unanswerable"), kinds.count("no_oracle")) \
        == (8, 1, 1)
    assert sum(e.response == REFUSAL for e in mostly) == 2
    default = [e.origin.split()[1] for e in build_raft_examples(qa, passages, count=10, seed=1)]
    assert default.count("answer") == 6  # 0.55 of 10, rounded


def test_the_short_share_cuts_passages_to_a_window_that_keeps_the_answer() -> None:
    """`grounded-data --short-share`: some examples show one or two sentences of each passage,
    as a user's notes are; the cited passage's window still holds the answer, and with no
    short share the examples are exactly those made before the option existed."""
    qa = _qa()
    passages = passages_of(qa, lambda text: [text])
    plain = build_raft_examples(qa, passages, count=30, seed=3)
    assert build_raft_examples(qa, passages, count=30, seed=3, short_share=0.0) == plain
    cut = build_raft_examples(qa, passages, count=30, seed=3, short_share=1.0)
    kinds = [e.origin.split()[1] for e in cut]
    assert {"short_answer", "short_unanswerable", "short_no_oracle"} <= set(kinds)
    whole = {p.text for plist in passages.values() for p in plist}
    for e in cut:
        if not e.origin.split()[1].startswith("short_"):
            continue
        assert all(s not in whole and any(s in w for w in whole) for s in e.sources)
        if e.origin.split()[1] == "short_answer":
            n = int(e.response.rsplit("[", 1)[1].rstrip("]"))
            assert _holds(e.sources[n - 1], [e.response.split(" [")[0]])
        else:
            assert e.response == REFUSAL
