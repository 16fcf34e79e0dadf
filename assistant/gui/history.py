"""Conversations and their answers, persisted in SQLite (no Qt here: it can move to the core).

Each answer keeps the question, the answer text, the passages it cited and the ones it
consulted (as JSON, so a conversation can be shown again exactly as it was), and the user's
judgement: a rating ("good" or "bad") and an optional corrected answer. The fine-tuning feature
builds training examples from answers marked good or corrected (`training_examples`).

One `History` belongs to one thread (the GUI thread); writes are small and quick.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant import paths
from assistant.errors import UserError
from assistant.ingest import places

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS conversations (
        id INTEGER PRIMARY KEY,
        title TEXT NOT NULL,
        created REAL NOT NULL,
        updated REAL NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS turns (
        id INTEGER PRIMARY KEY,
        conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        question TEXT NOT NULL,
        answer TEXT NOT NULL DEFAULT '',
        citations TEXT NOT NULL DEFAULT '[]',
        consulted TEXT NOT NULL DEFAULT '[]',
        not_found INTEGER NOT NULL DEFAULT 0,
        stopped INTEGER NOT NULL DEFAULT 0,
        citation_source TEXT,
        not_found_reason TEXT,
        rating TEXT CHECK (rating IN ('good', 'bad')),
        correction TEXT,
        collection TEXT,
        model TEXT,
        adapter TEXT,
        created REAL NOT NULL,
        updated REAL NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS turns_by_conversation ON turns(conversation_id, seq)",
)
SCHEMA_VERSION = 2
# the columns each version added to a history written by the one before: (table, column, type)
MIGRATIONS = {2: (("turns", "not_found_reason", "TEXT"),)}
UNTITLED = "New conversation"


@dataclass
class Conversation:
    id: int
    title: str
    created: float
    updated: float
    turns: int = 0


@dataclass
class StoredTurn:
    """One question and its answer, with what it was based on and how it was judged."""

    id: int
    conversation_id: int
    seq: int
    question: str
    answer: str
    citations: list[dict[str, Any]] = field(default_factory=list)  # [{"n": 1, "hit": {...}}]
    consulted: list[dict[str, Any]] = field(default_factory=list)  # [hit dict, ...]
    not_found: bool = False
    stopped: bool = False
    rating: str | None = None
    correction: str | None = None
    citation_source: str | None = None  # "model", "inferred" or "none"
    not_found_reason: str | None = None  # why a refusal refused (`Answer.not_found_reason`)
    collection: str | None = None
    model: str | None = None
    adapter: str | None = None
    created: float = 0.0
    updated: float = 0.0

    @property
    def best_answer(self) -> str:
        """The corrected answer when there is one, else the model's."""
        return self.correction if self.correction else self.answer


def title_from_question(question: str, limit: int = 60) -> str:
    text = " ".join(question.split())
    if len(text) <= limit:
        return text or UNTITLED
    cut = text[:limit].rsplit(" ", 1)[0]
    return (cut or text[:limit]) + "…"


class History:
    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else paths.conversations_path()
        try:
            self.conn = sqlite3.connect(str(self.path), timeout=10)
            self.conn.execute("PRAGMA foreign_keys = ON")
            self.conn.execute("PRAGMA journal_mode = WAL")
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise UserError(f"The conversation history {self.path} was written by a newer "
                                "version of the app. Update the app or move the file away.")
            with self.conn:
                existed = self.conn.execute(
                    "SELECT 1 FROM sqlite_master WHERE name = 'turns'").fetchone() is not None
                for statement in SCHEMA:
                    self.conn.execute(statement)
                if existed:  # a history from before: add what later versions added
                    for step in range(max(version, 1) + 1, SCHEMA_VERSION + 1):
                        for table, column, kind in MIGRATIONS[step]:
                            self._add_column(table, column, kind)
                self.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            raise UserError(f"The conversation history {self.path} cannot be opened ({exc}). "
                            "Move it away to start a fresh history.") from exc

    def _add_column(self, table: str, column: str, kind: str) -> None:
        """Add a column a later version added, unless it is there (an upgrade stopped between
        adding it and recording the version is done again without an error)."""
        have = {row[1] for row in self.conn.execute(f"PRAGMA table_info({table})")}
        if column not in have:
            self.conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    def close(self) -> None:
        self.conn.close()

    # --- conversations ---------------------------------------------------------------
    def create(self, title: str = UNTITLED) -> Conversation:
        now = time.time()
        with self.conn:
            cur = self.conn.execute(
                "INSERT INTO conversations(title, created, updated) VALUES (?, ?, ?)",
                (title, now, now))
        return Conversation(int(cur.lastrowid or 0), title, now, now)

    def conversations(self, search: str = "") -> list[Conversation]:
        """Most recently updated first; `search` filters by words in the title."""
        sql = ("SELECT c.id, c.title, c.created, c.updated, "
               "(SELECT count(*) FROM turns t WHERE t.conversation_id = c.id) "
               "FROM conversations c")
        args: list[Any] = []
        words = search.split()
        if words:
            sql += " WHERE " + " AND ".join("c.title LIKE ? ESCAPE '\\'" for _ in words)
            args = [f"%{_like_escape(w)}%" for w in words]
        sql += " ORDER BY c.updated DESC, c.id DESC"
        return [Conversation(int(r[0]), r[1], r[2], r[3], int(r[4]))
                for r in self.conn.execute(sql, args)]

    def conversation(self, conversation_id: int) -> Conversation | None:
        row = self.conn.execute(
            "SELECT c.id, c.title, c.created, c.updated, "
            "(SELECT count(*) FROM turns t WHERE t.conversation_id = c.id) "
            "FROM conversations c WHERE c.id = ?", (conversation_id,)).fetchone()
        return Conversation(int(row[0]), row[1], row[2], row[3], int(row[4])) if row else None

    def rename(self, conversation_id: int, title: str) -> None:
        title = " ".join(title.split())
        if not title:
            raise UserError("A conversation needs a title.")
        with self.conn:
            self.conn.execute("UPDATE conversations SET title = ? WHERE id = ?",
                              (title, conversation_id))

    def delete(self, conversation_id: int) -> None:
        with self.conn:
            self.conn.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))

    # --- turns -----------------------------------------------------------------------
    def turns(self, conversation_id: int) -> list[StoredTurn]:
        rows = self.conn.execute(
            f"SELECT {_TURN_COLUMNS} FROM turns WHERE conversation_id = ? ORDER BY seq",
            (conversation_id,))
        return [_turn(r) for r in rows]

    def turn(self, turn_id: int) -> StoredTurn | None:
        row = self.conn.execute(f"SELECT {_TURN_COLUMNS} FROM turns WHERE id = ?",
                                (turn_id,)).fetchone()
        return _turn(row) if row else None

    def add_turn(self, conversation_id: int, question: str, *, collection: str | None = None,
                 model: str | None = None, adapter: str | None = None) -> StoredTurn:
        """Record a question before its answer exists (the answer is filled in later)."""
        now = time.time()
        with self.conn:
            seq = self.conn.execute(
                "SELECT coalesce(max(seq), 0) + 1 FROM turns WHERE conversation_id = ?",
                (conversation_id,)).fetchone()[0]
            cur = self.conn.execute(
                "INSERT INTO turns(conversation_id, seq, question, collection, model, adapter, "
                "created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (conversation_id, seq, question, collection, model, adapter, now, now))
            row = self.conn.execute("SELECT title, (SELECT count(*) FROM turns WHERE "
                                    "conversation_id = ?) FROM conversations WHERE id = ?",
                                    (conversation_id, conversation_id)).fetchone()
            if row and row[0] == UNTITLED and row[1] == 1:
                self.conn.execute("UPDATE conversations SET title = ? WHERE id = ?",
                                  (title_from_question(question), conversation_id))
            self.conn.execute("UPDATE conversations SET updated = ? WHERE id = ?",
                              (now, conversation_id))
        turn = self.turn(int(cur.lastrowid or 0))
        assert turn is not None
        return turn

    def save_answer(self, turn_id: int, answer: str, *, citations: Sequence[dict[str, Any]],
                    consulted: Sequence[dict[str, Any]], not_found: bool = False,
                    stopped: bool = False, citation_source: str | None = None,
                    not_found_reason: str | None = None,
                    model: str | None = None, adapter: str | None = None) -> None:
        """Store (or replace, when regenerated) a turn's answer; a new answer clears its rating."""
        now = time.time()
        with self.conn:
            self.conn.execute(
                "UPDATE turns SET answer = ?, citations = ?, consulted = ?, not_found = ?, "
                "stopped = ?, citation_source = ?, not_found_reason = ?, rating = NULL, "
                "correction = NULL, updated = ?, model = coalesce(?, model), adapter = ? "
                "WHERE id = ?",
                (answer, json.dumps(list(citations), ensure_ascii=False),
                 json.dumps(list(consulted), ensure_ascii=False), int(not_found), int(stopped),
                 citation_source, not_found_reason or None, now, model, adapter, turn_id))
            self.conn.execute("UPDATE conversations SET updated = ? WHERE id = "
                              "(SELECT conversation_id FROM turns WHERE id = ?)", (now, turn_id))

    def delete_turn(self, turn_id: int) -> None:
        with self.conn:
            self.conn.execute("DELETE FROM turns WHERE id = ?", (turn_id,))

    def set_rating(self, turn_id: int, rating: str | None) -> None:
        if rating not in (None, "good", "bad"):
            raise ValueError(f"rating must be 'good', 'bad' or None, not {rating!r}")
        with self.conn:
            self.conn.execute("UPDATE turns SET rating = ?, updated = ? WHERE id = ?",
                              (rating, time.time(), turn_id))

    def set_correction(self, turn_id: int, correction: str | None) -> None:
        """A corrected answer; it also marks the original as not good. Empty clears it."""
        text = correction.strip() if correction else ""
        with self.conn:
            if text:
                self.conn.execute("UPDATE turns SET correction = ?, rating = 'bad', updated = ? "
                                  "WHERE id = ?", (text, time.time(), turn_id))
            else:
                self.conn.execute("UPDATE turns SET correction = NULL, updated = ? WHERE id = ?",
                                  (time.time(), turn_id))

    # --- uses ------------------------------------------------------------------------
    def training_examples(self) -> list[dict[str, Any]]:
        """Answers marked good or corrected, in the shape `assistant.training.data.
        examples_from_conversations` takes: {question, answer, sources, rating, correction}.

        `sources` are the passage texts the answer was given with (in the order the model saw
        them), so a training example keeps the retrieval context.
        """
        rows = self.conn.execute(
            f"SELECT {_TURN_COLUMNS} FROM turns WHERE rating = 'good' OR "
            "(correction IS NOT NULL AND correction != '') ORDER BY conversation_id, seq")
        examples = []
        for turn in (_turn(r) for r in rows):
            passages = list(turn.consulted) or [c["hit"] for c in turn.citations
                                                if isinstance(c.get("hit"), dict)]
            examples.append({
                "question": turn.question,
                "answer": turn.answer,
                "sources": [str(p.get("text", "")) for p in passages if p.get("text")],
                "rating": turn.rating,
                "correction": turn.correction,
                "turn_id": turn.id,
            })
        return examples

    def export_markdown(self, conversation_id: int) -> str:
        """The conversation as Markdown: each question, its answer and its numbered sources."""
        conv = self.conversation(conversation_id)
        if conv is None:
            raise UserError("That conversation no longer exists.")
        lines = [f"# {conv.title}", "",
                 f"*Exported from Knowledge Assistant on {time.strftime('%Y-%m-%d %H:%M')}.*", ""]
        for turn in self.turns(conversation_id):
            lines += [f"## {turn.question.strip()}", ""]
            lines += [turn.best_answer.strip() or "*(no answer)*", ""]
            if turn.correction:
                lines += ["*(corrected by the user)*", ""]
            if turn.citations:
                lines += ["**Sources**", ""]
                for c in turn.citations:
                    lines.append(_markdown_source(f"[{c.get('n')}]", c.get("hit") or {}))
                lines.append("")
            elif turn.consulted:
                label = "Nearest passages" if turn.not_found else "Passages consulted"
                lines += [f"**{label}**", ""]
                for i, hit in enumerate(turn.consulted, 1):
                    lines.append(_markdown_source(f"({i})", hit))
                lines.append("")
        return "\n".join(lines).rstrip() + "\n"


_TURN_COLUMNS = ("id, conversation_id, seq, question, answer, citations, consulted, not_found, "
                 "stopped, rating, correction, citation_source, not_found_reason, collection, "
                 "model, adapter, created, updated")


def _turn(row: Sequence[Any]) -> StoredTurn:
    return StoredTurn(int(row[0]), int(row[1]), int(row[2]), row[3], row[4],
                      _loads(row[5]), _loads(row[6]), bool(row[7]), bool(row[8]), row[9],
                      row[10], row[11], row[12], row[13], row[14], row[15], float(row[16]),
                      float(row[17]))


def _loads(text: str | None) -> list[Any]:
    try:
        value = json.loads(text or "[]")
    except ValueError:
        return []
    return value if isinstance(value, list) else []


def _like_escape(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _markdown_source(label: str, hit: dict[str, Any]) -> str:
    where = Path(str(hit.get("path", "?"))).name
    place = places.where(hit.get("page"), hit.get("place"))
    if place:
        where += f", {place}"
    snippet = " ".join(str(hit.get("text", "")).split())
    if len(snippet) > 300:
        snippet = snippet[:300].rsplit(" ", 1)[0] + "…"
    return f"- {label} {where}: “{snippet}”"


def hits_to_json(hits: Iterable[Any]) -> list[dict[str, Any]]:
    """Hits (retrieval.Hit or dicts) as plain dicts for storage."""
    out = []
    for hit in hits:
        out.append(dict(hit) if isinstance(hit, dict) else hit_to_dict(hit))
    return out


def hit_to_dict(hit: Any) -> dict[str, Any]:
    keys = ("chunk_id", "document_id", "path", "page", "start", "end", "text", "score",
            "similarity", "collection", "place")
    return {k: getattr(hit, k, None) for k in keys}
