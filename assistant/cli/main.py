"""Command line: index, search, ask, chat, train, and the desktop app.

With `--json`, the last line of stdout is one JSON object whose shape is an interface that
tools and tests rely on: extend it, never change it. Human-readable progress goes to stderr.
Exit codes: 0 when the run completed (even if some files failed), 1 when it could not be done
(a sentence on stderr says why), 2 for wrong usage, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from assistant import __version__
from assistant.cli.models import make_generator
from assistant.cli.output import ProgressBar, emit_json, fmt_seconds, snippet
from assistant.errors import Cancelled, UserError

# --- index / search / docs / remove ----------------------------------------------------------

STORE_HELP = ("the library: a SQLite file or a postgresql://user@host/db address (TLS options "
              "such as ?sslmode=verify-full pass through; default: the one set with 'assistant "
              "library use', else this computer's library)")

def cmd_index(args: argparse.Namespace) -> int:
    from assistant.ingest.indexer import Indexer, IndexProgress
    from assistant.search import Embedder
    from assistant.store.backend import open_store

    bar = ProgressBar()

    def progress(p: IndexProgress) -> None:
        name = Path(p.current).name if p.current else "scanning"
        bar.update(p.files_done, p.files_total,
                   f"files · {p.chunks_done} chunks · {p.rate:.1f} chunks/s · "
                   f"ETA {fmt_seconds(p.eta)} · {name}")

    cancel = threading.Event()
    with open_store(args.store) as store:
        embedder = Embedder()
        _reembed_if_needed(store, embedder, args.collection, cancel)
        indexer = Indexer(store, embedder)
        try:
            summary = indexer.index(args.paths, args.collection, progress=progress, cancel=cancel)
        except KeyboardInterrupt:
            cancel.set()
            bar.close()
            print("Interrupted; what was indexed so far is kept.", file=sys.stderr)
            return 130
        bar.close()
    out = sys.stderr if args.json else sys.stdout
    print(f"Indexed {len(summary.indexed)}, unchanged {len(summary.unchanged)}, "
          f"removed {len(summary.removed)}, failed {len(summary.failed)}, "
          f"skipped {len(summary.skipped)} "
          f"({summary.chunks} chunks in {summary.seconds:.1f} s) into '{args.collection}'.",
          file=out)
    for failure in summary.failed:
        print(f"  failed: {failure.path}: {failure.reason}", file=out)
    for skip in summary.skipped:
        print(f"  skipped: {skip.path}: {skip.type}: {skip.reason}", file=out)
    if args.json:
        emit_json(summary.to_json())
    return 0


def _reembed_if_needed(store: Any, embedder: Any, collection: str,
                       cancel: threading.Event) -> None:
    """A collection made by another embedder is re-embedded (resumably) before indexing."""
    from assistant.search.reembed import ReembedProgress, reembed, stale_collections

    if collection not in stale_collections(store, embedder):
        return
    print(f"The passages of '{collection}' were embedded by another model; re-embedding them "
          "(resumable: an interrupted run carries on next time).", file=sys.stderr)
    bar = ProgressBar()

    def progress(p: ReembedProgress) -> None:
        bar.update(p.done, p.total, f"passages re-embedded · {p.collection}")

    try:
        reembed(store, embedder, [collection], progress=progress, cancel=cancel)
    finally:
        bar.close()


def _retriever(args: argparse.Namespace) -> Any:
    from assistant.search import Embedder, Retriever
    from assistant.store.backend import open_store

    return Retriever(open_store(getattr(args, "store", None)), Embedder())


def cmd_search(args: argparse.Namespace) -> int:
    from assistant.ingest.places import where
    from assistant.settings import Settings

    retriever = _retriever(args)
    from assistant.answer import answerability

    level = answerability.strictness(Settings()["strictness"])
    if args.floor is not None:  # a raw cosine floor, as before strictness existed
        level = answerability.Strictness("floor", "floor", args.floor, args.floor, 1.0,
                                         refuse_at_without_reader=1.0)
    collections = [args.collection] if args.collection else None

    def run(query: str) -> dict[str, Any]:
        hits = retriever.search(query, args.k, collections=collections, path_prefix=args.path,
                                kind=args.type)
        # "relevant": whether the answer path would let this passage reach the model.
        return {"hits": [dict(h.to_json(), relevant=answerability.counts(h, level))
                         for h in hits]}

    if args.queries:
        lines = Path(args.queries).read_text(encoding="utf-8").splitlines()
        for query in (line.strip() for line in lines):
            if query:
                emit_json(dict(run(query), query=query))
        return 0
    if not args.query:
        raise UserError("Give a query, or --queries FILE with one query per line.")
    result = run(" ".join(args.query))
    if args.json:
        emit_json(result)
        return 0
    if not result["hits"]:
        print("Nothing found.")
    for i, hit in enumerate(result["hits"], 1):
        place = where(hit["page"], hit.get("place"))
        located = f"{hit['path']}" + (f", {place}" if place else "")
        flag = "" if hit["relevant"] else "  (weak match)"
        print(f"[{i}] {located}  similarity {hit['similarity']:.2f}{flag}")
        print(f"    {snippet(hit['text'], 240)}")
    return 0


def cmd_docs(args: argparse.Namespace) -> int:
    from assistant.store.backend import open_store

    with open_store(args.store) as store:
        if args.collection:
            store.require_collection(args.collection)
        docs = store.documents(args.collection)
    if args.json:
        emit_json({"documents": [d.to_json() for d in docs]})
        return 0
    if not docs:
        print("No documents yet. Add some with: assistant index PATH")
    for d in docs:
        detail = f"{d.chunks} chunks" if d.status == "indexed" else (d.error or "")
        pages = f", {d.pages} pages" if d.pages else ""
        print(f"{d.status:8} [{d.collection}] {d.path}{pages} — {detail}")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    from assistant.store.backend import open_store

    with open_store(args.store) as store:
        if args.collection:
            store.require_collection(args.collection)
        removed = sum(store.remove_path(p, args.collection) for p in args.paths)
    if args.json:
        emit_json({"removed": removed})
    else:
        print(f"Removed {removed} document{'s' if removed != 1 else ''}.")
    return 0 if removed or args.json else 1


def cmd_collections(args: argparse.Namespace) -> int:
    from assistant.store.backend import open_store

    with open_store(args.store) as store:
        names = store.collections()
        counts = {n: len(store.documents(n)) for n in names}
        backend = store.backend
    if args.json:
        emit_json({"collections": [{"name": n, "documents": counts[n], "backend": backend}
                                   for n in names]})
    else:
        for n in names:
            print(f"{n}  ({counts[n]} documents)")
    return 0


# --- ask / chat --------------------------------------------------------------------------------

def _ask_once(question: str, args: argparse.Namespace, settings: Any, generator: Any,
              retriever: Any, history: list[Any], stream: Callable[[str], None]) -> Any:
    from assistant.answer import answer_question

    collections = [args.collection] if args.collection else None
    k = args.k or settings["top_k"]
    cancel = threading.Event()
    try:
        return answer_question(
            question,
            retriever=lambda q, n: retriever.search(q, n, collections=collections),
            generator=generator, top_k=k, strictness=settings["strictness"],
            history=history, no_docs=args.no_docs, on_token=stream, cancel=cancel,
            max_tokens=settings["max_answer_tokens"], temperature=settings["temperature"],
            focus_words=settings["focus_words"])
    except KeyboardInterrupt:
        cancel.set()
        raise


def _print_sources(question: str, answer: Any, out: TextIO) -> None:
    from assistant.answer.lacking import because, lacking

    if answer.citations:
        print("\nSources:", file=out)
        for c in answer.citations:
            _print_passage(f"[{c.n}]", c.hit, out)
    elif answer.consulted:
        label = "Nearest passages found" if answer.not_found else "Passages consulted"
        said = lacking(question, [(h.path, h.text) for h in answer.consulted]) \
            if answer.not_found else None
        why = because(answer.not_found_reason) if answer.not_found and not said else None
        if why:
            print(f"\n{why}", file=out)
        print(f"\n{label}" + (f" ({said})" if said else "") + ":", file=out)
        for i, hit in enumerate(answer.consulted, 1):
            _print_passage(f"({i})", hit, out)


def _print_passage(label: str, hit: Any, out: TextIO) -> None:
    from assistant.ingest.places import where

    place = where(hit.page, getattr(hit, "place", None))
    located = Path(hit.path).name + (f", {place}" if place else "")
    print(f"  {label} {located}: {snippet(hit.text, 160)}", file=out)


def cmd_ask(args: argparse.Namespace) -> int:
    from assistant.settings import Settings

    if args.questions:
        return _ask_batch(args)
    if not args.question:
        raise UserError("Give a question, or --questions FILE with one question per line.")
    settings = Settings()
    retriever = None if args.no_docs else _retriever(args)
    generator = make_generator(args, settings)
    out = sys.stderr if args.json else sys.stdout

    def stream(piece: str) -> None:
        out.write(piece)
        out.flush()

    question = " ".join(args.question)
    answer = _ask_once(question, args, settings, generator, retriever, [], stream)
    _finish_answer(question, answer, out)
    if args.json:
        emit_json(answer.to_json())
    return 0


def _finish_answer(question: str, answer: Any, out: TextIO) -> None:
    """What the streamed text leaves out: the final text where it changed, and the sources."""
    if answer.grounding != "answered" and answer.grounding != "model_only":
        out.write(("\n" if answer.completion_tokens else "") + answer.text)
    out.write("\n")
    label = {"quoted": "(Quoted from a passage: the model's answer was not supported.)",
             "not_found": ""}.get(answer.grounding, "")
    if answer.not_found and answer.unsupported:  # its draft was streamed above
        label = "(The model's draft above was withdrawn: these passages do not answer this.)"
    if answer.grounding == "quoted" and getattr(answer, "span", None) is not None:
        label = ("(Quoted from a passage: the reader found these words there; the model's "
                 "answer disagreed with them or was not supported.)")
    if label:
        print(label, file=out)
    _print_sources(question, answer, out)


def _ask_batch(args: argparse.Namespace) -> int:
    """One question a line in, one `ask --json` object a line out; the model loaded once."""
    from assistant.settings import Settings

    try:
        lines = Path(args.questions).expanduser().read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise UserError(f"Cannot read '{args.questions}': {err.strerror or err}.") from None
    except UnicodeDecodeError:
        raise UserError(f"'{args.questions}' is not UTF-8 text.") from None
    questions = [line.strip() for line in lines if line.strip()]
    if not questions:
        raise UserError(f"'{args.questions}' holds no questions (one a line).")
    settings = Settings()
    retriever = None if args.no_docs else _retriever(args)
    generator = make_generator(args, settings)
    bar = ProgressBar()
    for i, question in enumerate(questions, 1):
        bar.update(i - 1, len(questions), f"questions · {snippet(question, 40)}")
        answer = _ask_once(question, args, settings, generator, retriever, [], lambda _: None)
        if args.json:
            emit_json(dict(answer.to_json(), question=question))
        else:
            print(f"Q: {question}\nA: {answer.text}\n")
    bar.update(len(questions), len(questions), "questions", force=True)
    bar.close()
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from assistant.answer import Turn
    from assistant.settings import Settings

    settings = Settings()
    retriever = None if args.no_docs else _retriever(args)
    generator = make_generator(args, settings)
    history: list[Any] = []
    print("Ask about your documents. Empty line or Ctrl-D to quit; Ctrl-C stops an answer.")
    while True:
        try:
            question = input("\nyou> ").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        if not question:
            return 0
        sys.stdout.write("assistant> ")

        def stream(piece: str) -> None:
            sys.stdout.write(piece)
            sys.stdout.flush()

        try:
            answer = _ask_once(question, args, settings, generator, retriever, history, stream)
        except (KeyboardInterrupt, Cancelled):
            print("\n(stopped)")
            continue
        _finish_answer(question, answer, sys.stdout)
        history.append(Turn(question=question, answer=answer.text))


# --- serve / mcp -------------------------------------------------------------------------------

def cmd_serve(args: argparse.Namespace) -> int:
    from assistant.server import Limits, ServeConfig, serve

    limits = Limits(max_body=args.max_body, timeout=args.timeout)
    return serve(ServeConfig(host=args.host, port=args.port, api_key=args.api_key,
                             max_pending=args.max_pending, limits=limits))


def cmd_mcp(args: argparse.Namespace) -> int:
    from assistant.server.mcp_stdio import serve_mcp

    return serve_mcp()


# --- app -------------------------------------------------------------------------------------

def cmd_app(args: argparse.Namespace) -> int:
    try:
        from assistant.gui.app import main as gui_main
    except ImportError as exc:
        raise UserError(f"The desktop app cannot start: {exc}. Run the set-up again.") from exc
    return gui_main([])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="assistant", description="Chat, fully offline, with your own documents.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("index", help="index files and folders into a collection")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--collection", default="default")
    p.add_argument("--store", metavar="STORE", help=STORE_HELP)
    p.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("search", help="find passages (no model needed)")
    p.add_argument("query", nargs="*")
    p.add_argument("-k", type=int, default=5, help="number of passages (default 5)")
    p.add_argument("--collection", help="search one collection (default: all)")
    p.add_argument("--path", help="only files under this folder or this file")
    p.add_argument("--type", help="only this kind: pdf, docx, pptx, xlsx, ods, odt, epub, rtf, "
                   "eml, mbox, image, markdown, html, text, code")
    p.add_argument("--floor", type=float,
                   help="a raw cosine floor for 'relevant' (default: the strictness setting)")
    p.add_argument("--queries", metavar="FILE", help="one query per line, one JSON line out each")
    p.add_argument("--store", metavar="STORE", help=STORE_HELP)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("docs", help="list documents and their status")
    p.add_argument("--collection")
    p.add_argument("--store", metavar="STORE", help=STORE_HELP)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_docs)

    p = sub.add_parser("remove", help="remove a file (or a folder's files) from the index")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--collection")
    p.add_argument("--store", metavar="STORE", help=STORE_HELP)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_remove)

    p = sub.add_parser("collections", help="list collections")
    p.add_argument("--store", metavar="STORE", help=STORE_HELP)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_collections)

    for name, func, helptext in (("ask", cmd_ask, "answer one question from your documents"),
                                 ("chat", cmd_chat, "an interactive conversation")):
        p = sub.add_parser(name, help=helptext)
        if name == "ask":
            p.add_argument("question", nargs="*")
            p.add_argument("--questions", metavar="FILE",
                           help="one question a line; one JSON line out each (with --json)")
        p.add_argument("--collection", help="ask one collection (default: all)")
        p.add_argument("--model", help="a GGUF model file (default: the embedded Gemma 3 270M)")
        p.add_argument("--lora", help="a GGUF LoRA adapter (\"\" for none; default: the "
                       "shipped grounded adapter with the embedded model)")
        p.add_argument("--lora-scale", type=float, dest="lora_scale")
        p.add_argument("--answer-server", dest="answer_server", metavar="URL",
                       help="answer with an OpenAI-compatible inference server, like "
                       "http://127.0.0.1:8080/v1 (key: the keyring or ASSISTANT_ANSWER_KEY; "
                       "\"\" for the embedded model; default: the setting)")
        p.add_argument("-k", type=int, help="passages given to the model")
        p.add_argument("--no-docs", action="store_true", help="ask the model without documents")
        p.add_argument("--store", metavar="STORE", help=STORE_HELP)
        if name == "ask":
            p.add_argument("--json", action="store_true")
        p.set_defaults(func=func)

    p = sub.add_parser("serve", help="serve the library to other programs (OpenAI-compatible "
                       "HTTP API on 127.0.0.1)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1; any other needs an API key)")
    p.add_argument("--port", type=int, default=8763)
    p.add_argument("--api-key", dest="api_key", default=os.environ.get("ASSISTANT_API_KEY"),
                   help="the key every request must carry (default: $ASSISTANT_API_KEY; off "
                        "loopback one is generated and shown when none is given)")
    p.add_argument("--max-pending", dest="max_pending", type=int, default=4,
                   help="answers running or waiting at once; more get 429 (default 4)")
    p.add_argument("--timeout", type=float, default=300.0,
                   help="seconds a request may take (default 300)")
    p.add_argument("--max-body", dest="max_body", type=int, default=1 << 20,
                   help="bytes a request body may have (default 1 MiB)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("mcp", help="serve the library to an MCP host over stdio")
    p.set_defaults(func=cmd_mcp)

    p = sub.add_parser("app", help="open the desktop app (the default)")
    p.set_defaults(func=cmd_app)

    try:
        from assistant.cli.training import add_training_commands
    except ImportError:
        pass
    else:
        add_training_commands(sub)
    from assistant.cli.evaluation import add_eval_commands
    from assistant.cli.library import add_library_commands

    add_eval_commands(sub)
    add_library_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        args = parser.parse_args(["app"])
    try:
        return int(args.func(args))
    except UserError as exc:
        print(f"assistant: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        return 130
    except Exception:  # a bug: show it fully so it can be reported
        traceback.print_exc()
        print("assistant: this is a bug; please report it with the text above.", file=sys.stderr)
        return 1
