"""Fixtures of the core tests: the test library (tests/data/docs) indexed once per module."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from assistant.ingest import Indexer
from assistant.search import Retriever
from assistant.store import Store

DOCS = Path(__file__).parents[1] / "data" / "docs"


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory, embedder):  # type: ignore[no-untyped-def]
    """A retriever over a fresh index of tests/data/docs, as a user's first indexing makes it."""
    root = tmp_path_factory.mktemp("library")
    shutil.copytree(DOCS, root / "docs")
    store = Store(root / "store.sqlite3")
    Indexer(store, embedder).index([root / "docs"], "default")
    yield Retriever(store, embedder)
    store.close()
