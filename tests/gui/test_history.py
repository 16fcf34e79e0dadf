"""The conversation store (Qt-free): turns, ratings, corrections, search, export, training."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.errors import UserError
from assistant.gui.history import UNTITLED, History, title_from_question


def _hit(path: str, page: int | None, text: str) -> dict:
    return {"path": path, "page": page, "start": 0, "end": len(text), "text": text,
            "similarity": 0.7}


def test_conversation_lifecycle_and_export(tmp_path: Path) -> None:
    history = History(tmp_path / "c.sqlite3")
    conv = history.create()
    assert conv.title == UNTITLED
    turn = history.add_turn(conv.id, "How long is the guarantee on the kettle?")
    # the first question names the conversation
    assert history.conversation(conv.id).title == "How long is the guarantee on the kettle?"
    cited = _hit("/docs/handbook.pdf", 2, "The warranty period is 27 months.")
    other = _hit("/docs/guide.md", None, "Fernhollow hut is staffed from May.")
    history.save_answer(turn.id, "It is 27 months [1].", citations=[{"n": 1, "hit": cited}],
                        consulted=[cited, other], citation_source="model")
    stored = history.turns(conv.id)[0]
    assert stored.answer == "It is 27 months [1]."
    assert stored.citations[0]["hit"]["page"] == 2 and len(stored.consulted) == 2
    assert stored.citation_source == "model"

    history.rename(conv.id, "Kettle")
    with pytest.raises(UserError):
        history.rename(conv.id, "   ")
    second = history.create("Hiking")
    assert [c.title for c in history.conversations("ket")] == ["Kettle"]
    assert {c.title for c in history.conversations()} == {"Kettle", "Hiking"}
    assert history.conversations("100%") == []  # LIKE wildcards are literal

    md = history.export_markdown(conv.id)
    assert md.startswith("# Kettle")
    assert "## How long is the guarantee on the kettle?" in md
    assert "It is 27 months [1]." in md
    assert "[1] handbook.pdf, page 2: “The warranty period is 27 months.”" in md

    history.delete(second.id)
    assert [c.title for c in history.conversations()] == ["Kettle"]
    history.close()
    # persisted
    again = History(tmp_path / "c.sqlite3")
    assert again.turns(conv.id)[0].answer == "It is 27 months [1]."
    again.close()


def test_ratings_corrections_and_training_examples(tmp_path: Path) -> None:
    history = History(tmp_path / "c.sqlite3")
    conv = history.create()
    hit = _hit("/d/a.txt", None, "The café seats 38 people.")
    good = history.add_turn(conv.id, "How many seats?")
    history.save_answer(good.id, "38 [1].", citations=[{"n": 1, "hit": hit}], consulted=[hit])
    wrong = history.add_turn(conv.id, "Where is it?")
    history.save_answer(wrong.id, "In Paris.", citations=[], consulted=[hit])
    plain = history.add_turn(conv.id, "Unrated?")
    history.save_answer(plain.id, "Yes.", citations=[], consulted=[])

    history.set_rating(good.id, "good")
    history.set_correction(wrong.id, "  In Jönköping.  ")
    with pytest.raises(ValueError):
        history.set_rating(plain.id, "meh")
    turns = {t.id: t for t in history.turns(conv.id)}
    assert turns[good.id].rating == "good"
    assert turns[wrong.id].correction == "In Jönköping." and turns[wrong.id].rating == "bad"
    assert turns[wrong.id].best_answer == "In Jönköping."

    examples = history.training_examples()
    assert [(e["question"], e["answer"], e["rating"], e["correction"]) for e in examples] == [
        ("How many seats?", "38 [1].", "good", None),
        ("Where is it?", "In Paris.", "bad", "In Jönköping."),
    ]
    assert examples[0]["sources"] == ["The café seats 38 people."]
    # they feed the fine-tuning feature directly
    from assistant.training.data import examples_from_conversations

    built = examples_from_conversations(examples)
    assert [(b.prompt, b.response) for b in built] == [
        ("How many seats?", "38 [1]."), ("Where is it?", "In Jönköping.")]
    assert built[0].sources == ("The café seats 38 people.",)
    # a regenerated answer starts unjudged
    history.save_answer(good.id, "Thirty-eight.", citations=[], consulted=[])
    assert history.turn(good.id).rating is None
    history.set_correction(wrong.id, "")
    assert history.turn(wrong.id).correction is None
    history.close()


def test_title_from_question() -> None:
    assert title_from_question("  short   question ") == "short question"
    long = "word " * 40
    title = title_from_question(long)
    assert len(title) <= 61 and title.endswith("…")


def test_a_damaged_history_file_is_a_sentence(tmp_path: Path) -> None:
    bad = tmp_path / "c.sqlite3"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(UserError, match="cannot be opened"):
        History(bad)


def test_the_conversation_store_and_text_helpers_are_qt_free() -> None:
    """history.py and passages.py can move to the core: importing them loads no Qt."""
    import subprocess
    import sys

    code = ("import sys, assistant.gui.history, assistant.gui.passages; "
            "sys.exit(any(m.startswith('PySide6') for m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


def test_a_history_of_the_version_before_gains_the_refusal_reason_and_keeps_its_turns(
        tmp_path: Path) -> None:
    """Version 1 had no not_found_reason column: opening it adds the column, keeps every
    turn, and the reason of a new refusal is saved and read back."""
    import sqlite3

    from assistant.gui import history as module

    path = tmp_path / "c.sqlite3"
    conn = sqlite3.connect(path)
    for statement in module.SCHEMA:
        conn.execute(statement.replace("not_found_reason TEXT,", ""))
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO conversations (title, created, updated) VALUES ('Old', 1, 1)")
    conn.execute("INSERT INTO turns (conversation_id, seq, question, answer, not_found, created,"
                 " updated) VALUES (1, 1, 'Old question?', 'Old answer.', 0, 1, 1)")
    conn.commit()
    assert "not_found_reason" not in {r[1] for r in conn.execute("PRAGMA table_info(turns)")}
    conn.close()

    history = History(path)
    old = history.turns(1)
    assert [(t.question, t.answer, t.not_found_reason) for t in old] == [
        ("Old question?", "Old answer.", None)]
    turn = history.add_turn(1, "Which drinks does it not suit?")
    history.save_answer(turn.id, "I couldn't find this in your documents.", citations=[],
                        consulted=[], not_found=True, not_found_reason="negation")
    history.close()
    again = History(path)
    assert again.turn(turn.id).not_found_reason == "negation"
    assert again.conn.execute("PRAGMA user_version").fetchone()[0] == module.SCHEMA_VERSION
    # an upgrade stopped after adding the column, before recording the version, is redone
    again.conn.execute("PRAGMA user_version = 1")
    again.close()
    third = History(path)
    assert third.turn(turn.id).not_found_reason == "negation"
    third.close()
