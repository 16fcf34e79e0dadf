"""`assistant eval retrieval`: BEIR-format retrieval evaluation through the app's own path.

The corpus is written as one Markdown file per document (`# title`, then the text) and
indexed by the app's indexer into a throw-away store, so extraction, chunking, the embedder
and the store are exactly what users get. Each query is searched with the app's retriever;
passages are turned into a document ranking by each document's best passage (a collapsed
duplicate's documents follow the kept one). Scores: nDCG@10, recall@10 and MRR@10
(assistant.evaluation.metrics), for hybrid search and for each half alone.
"""

from __future__ import annotations

import csv
import json
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.errors import UserError
from assistant.evaluation.metrics import evaluate

MODES = ("hybrid", "keyword", "vector")
PASSAGE_DEPTH = 30  # passages asked for per query, to rank 10 documents
RERANKED = "hybrid+reader"  # hybrid, its first passages reordered by the reader


@dataclass
class BeirData:
    name: str
    corpus: dict[str, tuple[str, str]]  # id -> (title, text)
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def load_beir(folder: Path | str, split: str = "test", limit: int | None = None) -> BeirData:
    """Read corpus.jsonl, queries.jsonl and qrels/<split>.tsv; problems become sentences."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise UserError(f"{root} is not a folder (a BEIR folder holds corpus.jsonl, "
                        "queries.jsonl and qrels/test.tsv).")
    need = [root / "corpus.jsonl", root / "queries.jsonl", root / "qrels" / f"{split}.tsv"]
    missing = [str(p.relative_to(root)) for p in need if not p.is_file()]
    if missing:
        raise UserError(f"{root} lacks {', '.join(missing)} (the BEIR layout).")
    corpus = {}
    for n, row in enumerate(_jsonl(need[0]), start=1):
        doc_id = str(row.get("_id", "")).strip()
        if not doc_id:
            raise UserError(f"{need[0]}, line {n}: a document without an _id.")
        corpus[doc_id] = (str(row.get("title") or ""), str(row.get("text") or ""))
    queries = {str(r.get("_id")): str(r.get("text") or "") for r in _jsonl(need[1])}
    qrels: dict[str, dict[str, int]] = {}
    try:
        with need[2].open(encoding="utf-8", newline="") as fh:
            for n, parts in enumerate(csv.reader(fh, delimiter="\t"), start=1):
                if n == 1 and parts and not parts[-1].strip().lstrip("-").isdigit():
                    continue  # header
                if len(parts) < 3:
                    continue
                qrels.setdefault(parts[0], {})[parts[1]] = int(parts[-1])
    except (OSError, ValueError) as exc:
        raise UserError(f"{need[2]} could not be read as query-id, corpus-id, score "
                        f"({exc}).") from exc
    qrels = {q: judged for q, judged in qrels.items() if q in queries}
    if limit is not None:
        qrels = dict(list(qrels.items())[:limit])
    if not qrels:
        raise UserError(f"No query in {need[2]} is in queries.jsonl.")
    return BeirData(root.name, corpus, queries, qrels)


def _jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    try:
        with path.open(encoding="utf-8") as fh:
            for n, line in enumerate(fh, start=1):
                if line.strip():
                    row = json.loads(line)
                    if not isinstance(row, dict):
                        raise ValueError(f"line {n} is not an object")
                    rows.append(row)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UserError(f"{path} is not valid JSON lines ({exc}).") from exc
    return rows


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def write_corpus(data: BeirData, folder: Path) -> dict[str, str]:
    """One Markdown file per document; returns {file path: document id}."""
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, str] = {}
    for n, (doc_id, (title, text)) in enumerate(data.corpus.items()):
        name = f"{n:07d}-{_UNSAFE.sub('_', doc_id)[:60]}.md"
        path = folder / name
        body = f"# {title.strip()}\n\n{text.strip()}\n" if title.strip() else f"{text.strip()}\n"
        path.write_text(body, encoding="utf-8")
        paths[str(path.resolve())] = doc_id
    return paths


@dataclass
class RetrievalReport:
    dataset: str
    documents: int
    queries: int
    chunks: int
    embedder: str
    metrics: dict[str, dict[str, float]]  # mode -> metric -> value
    seconds: dict[str, float] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    runs: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "documents": self.documents, "queries": self.queries,
                "chunks": self.chunks, "embedder": self.embedder,
                "metrics": self.metrics["hybrid"], "modes": self.metrics,
                "seconds": self.seconds, "settings": self.settings}

    def markdown(self) -> str:
        lines = [f"# Retrieval evaluation: {self.dataset}", "",
                 f"{self.documents} documents, {self.chunks} passages, {self.queries} queries; "
                 f"embedder `{self.embedder}`.", "",
                 "| search | nDCG@10 | recall@10 | MRR@10 |", "|---|---|---|---|"]
        for mode, m in self.metrics.items():
            lines.append(f"| {mode} | {m['ndcg@10']:.4f} | {m['recall@10']:.4f} | "
                         f"{m['mrr@10']:.4f} |")
        lines += ["", "Timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in self.seconds.items()),
                  "", "Settings: " + ", ".join(f"{k}={v}" for k, v in self.settings.items()), ""]
        return "\n".join(lines)


def document_ranking(hits: list[Any], doc_of: dict[str, str], k: int = 10) -> list[str]:
    """Documents in the order of their best passage; collapsed duplicates follow theirs."""
    ranked: list[str] = []
    seen: set[str] = set()
    for hit in hits:
        for path in [hit.path, *(p["path"] for p in getattr(hit, "also_in", []))]:
            doc = doc_of.get(path)
            if doc is not None and doc not in seen:
                seen.add(doc)
                ranked.append(doc)
        if len(ranked) >= k:
            break
    return ranked[:k]


def build_store(data: BeirData, workdir: Path, embedder: Any,
                progress: Callable[[str, int, int], None] | None = None) -> tuple[Any, dict[str, str]]:
    """Index the corpus into a new store under `workdir`; returns (store, {path: doc id})."""
    from assistant.ingest.indexer import Indexer, IndexProgress
    from assistant.store.store import Store

    doc_of = write_corpus(data, workdir / "corpus")
    store = Store(workdir / "eval.sqlite3")

    def on_index(p: IndexProgress) -> None:
        if progress is not None:
            progress(f"indexing · {p.chunks_done} passages · {p.rate:.1f}/s",
                     p.files_done, p.files_total)

    summary = Indexer(store, embedder).index([workdir / "corpus"], "eval", progress=on_index)
    if summary.failed:
        reasons = "; ".join(f"{Path(f.path).name}: {f.reason}" for f in summary.failed[:3])
        raise UserError(f"{len(summary.failed)} documents could not be indexed ({reasons}).")
    return store, doc_of


def reranked(reader: Any, query: str, hits: list[Any]) -> list[Any]:
    """Hybrid hits with the first RERANK_DEPTH reordered by the reader, as answers do."""
    from assistant.answer.answering import RERANK_DEPTH

    head = [hit for hit, _ in reader.rerank(query, hits[:RERANK_DEPTH])]
    return head + hits[RERANK_DEPTH:]


def run_queries(data: BeirData, retriever: Any, doc_of: dict[str, str],
                modes: tuple[str, ...] = MODES,
                progress: Callable[[str, int, int], None] | None = None,
                reader: Any = None) -> dict[str, dict[str, list[str]]]:
    runs: dict[str, dict[str, list[str]]] = {m: {} for m in modes}
    total = len(data.qrels)
    for n, qid in enumerate(data.qrels, start=1):
        for mode in modes:
            if mode == RERANKED:
                hits = reranked(reader, data.queries[qid],
                                retriever.search(data.queries[qid], PASSAGE_DEPTH))
            else:
                hits = retriever.search(data.queries[qid], PASSAGE_DEPTH, mode=mode)
            runs[mode][qid] = document_ranking(hits, doc_of)
        if progress is not None:
            progress("queries", n, total)
    return runs


def evaluate_retrieval(folder: Path | str, *, embedder: Any = None, split: str = "test",
                       limit: int | None = None, config: Any = None,
                       modes: tuple[str, ...] = MODES,
                       progress: Callable[[str, int, int], None] | None = None,
                       keep: Path | None = None, reader: Any = None) -> RetrievalReport:
    """Index `folder`'s corpus into a throw-away store and score its test queries."""
    from assistant.search import Embedder, Retriever

    data = load_beir(folder, split, limit)
    embedder = embedder or Embedder()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="assistant-eval-") as tmp:
        workdir = keep or Path(tmp)
        store, doc_of = build_store(data, workdir, embedder, progress)
        try:
            indexed = time.monotonic()
            retriever = Retriever(store, embedder, config=config)
            if reader is not None and RERANKED not in modes:
                modes = (*modes, RERANKED)
            runs = run_queries(data, retriever, doc_of, modes, progress, reader)
            searched = time.monotonic()
            chunks = store.stats()["chunks"]
        finally:
            store.close()
    metrics = {mode: evaluate(runs[mode], data.qrels) for mode in modes}
    cfg = retriever.config
    return RetrievalReport(
        dataset=data.name, documents=len(data.corpus), queries=len(data.qrels), chunks=chunks,
        embedder=getattr(embedder, "identity", type(embedder).__name__), metrics=metrics,
        seconds={"indexing": round(indexed - started, 1),
                 "searching": round(searched - indexed, 1)},
        settings={"fusion": cfg.fusion, "vector_weight": cfg.vector_weight,
                  "depth": cfg.depth, "split": split},
        runs=runs)


def write_reports(report: RetrievalReport, out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"retrieval-{_UNSAFE.sub('_', report.dataset)}"
    md, js = out_dir / f"{stem}.md", out_dir / f"{stem}.json"
    md.write_text(report.markdown(), encoding="utf-8")
    js.write_text(json.dumps(dict(report.to_json(), runs=report.runs), indent=1),
                  encoding="utf-8")
    return md, js
