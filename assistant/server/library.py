"""The library as a service for other programs: search, answers, embeddings, in bounded lanes.

Two lanes, each one thread that owns its own `Store` and `Retriever` (as the desktop app's
workers do) and runs its jobs one at a time:

* the **model** lane holds the one `Generator` and answers questions through exactly the
  app's answer path (`assistant.answer.answer_question`, with the settings' options);
* the **search** lane searches and embeds, so a search never waits behind a generation.

A lane takes at most `limit` jobs (the running one included); one more raises `Busy`, which
the HTTP layer turns into 429 with `Retry-After`. A job's `Slot` is given back the moment its
caller goes away (a client that disconnects mid-stream): the job's cancel flag is set and the
next job may queue at once. The embedder is shared by both lanes under a lock.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from assistant.errors import UserError
from assistant.settings import Settings

T = TypeVar("T")
State = dict[str, Any]

PLAIN_MODEL = "model"  # the model alone, without documents
ALL_MODEL = "library"  # every collection
COLLECTION_PREFIX = "library:"  # one per collection: "library:<name>"


class Busy(Exception):
    """The lane is full; try again after `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"busy; retry after {retry_after} s")
        self.retry_after = retry_after


class UnknownModel(UserError):
    """A model name that is neither the plain model nor a collection's."""


class Slot:
    """A job's place in its lane; `release` (idempotent) gives it back."""

    def __init__(self, lane: Lane, cancel: threading.Event | None = None) -> None:
        self._lane = lane
        self._released = False
        self.cancel = cancel or threading.Event()

    @property
    def released(self) -> bool:
        return self._released

    def release(self) -> None:
        """Give the place back now (and tell the job to stop if it is running)."""
        self.cancel.set()
        self._free()

    def _free(self) -> None:
        with self._lane._lock:
            if not self._released:
                self._released = True
                self._lane._pending -= 1


class Lane:
    """One thread running jobs in order, at most `limit` of them held at once."""

    def __init__(self, name: str, limit: int, setup: Callable[[], State],
                 teardown: Callable[[State], None] | None = None, *,
                 state: State | None = None) -> None:
        """`state`: what `setup` makes, made already by the caller (else the first job's)."""
        self.name = name
        self._state = state
        self.limit = max(1, limit)
        self._setup = setup
        self._teardown = teardown
        self._lock = threading.Lock()
        self._pending = 0
        self._seconds = 2.0  # a running average of a job's time, for Retry-After
        self._jobs: queue.Queue[tuple[Callable[[State], Any], Future[Any], Slot] | None] = \
            queue.Queue()
        self._thread = threading.Thread(target=self._run, name=f"server-{name}", daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        return self._pending

    def submit(self, job: Callable[[State], T],
               cancel: threading.Event | None = None) -> tuple[Future[T], Slot]:
        """Queue `job` (called with the lane's state on its thread), or raise `Busy`.

        Releasing the slot sets `cancel` (which the job should watch, if it runs long).
        """
        with self._lock:
            if self._pending >= self.limit:
                raise Busy(max(1, round(self._seconds * self._pending / self.limit)))
            self._pending += 1
        slot = Slot(self, cancel)
        future: Future[T] = Future()
        self._jobs.put((job, future, slot))
        return future, slot

    def close(self, timeout: float = 10.0) -> None:
        self._jobs.put(None)
        self._thread.join(timeout)

    def _done(self, slot: Slot, started: float) -> None:
        slot._free()
        self._seconds = 0.8 * self._seconds + 0.2 * (time.monotonic() - started)

    def _run(self) -> None:
        state, self._state = self._state, None
        while True:
            item = self._jobs.get()
            if item is None:
                break
            job, future, slot = item
            if slot.released:  # its caller went away while it waited
                future.cancel()
            if not future.set_running_or_notify_cancel():
                slot._free()
                continue
            started = time.monotonic()
            try:
                if state is None:
                    state = self._setup()
                result = job(state)
            except BaseException as exc:
                self._done(slot, started)
                future.set_exception(exc)
            else:
                self._done(slot, started)  # the place is free before the caller hears
                future.set_result(result)
        if state is not None and self._teardown is not None:
            self._teardown(state)


def _try(setup: Callable[[], State]) -> State | None:
    """`setup()`, or None when it fails (the lane's first job sets up again and hears why)."""
    try:
        return setup()
    except Exception:
        return None


class LockedEmbedder:
    """The app's `Embedder`, shared by the lanes: one encode at a time."""

    def __init__(self, embedder: Any = None) -> None:
        if embedder is None:
            from assistant.search import Embedder

            embedder = Embedder()
        self.inner = embedder
        self._lock = threading.Lock()

    @property
    def identity(self) -> str | None:
        return getattr(self.inner, "identity", None)

    @property
    def name(self) -> str:
        return Path(str(getattr(self.inner, "model_path", "embedder"))).name

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            return np.asarray(self.inner.embed_batch(texts), dtype=np.float32)

    def embed(self, text: str) -> np.ndarray:
        vector: np.ndarray = self.embed_batch([text])[0]
        return vector


@dataclass(frozen=True)
class Target:
    """What a model name asks for: documents from these collections (None: all), or none."""

    no_docs: bool
    collections: list[str] | None


# opening a store migrates it (two at once on a new file race), and imports run one at a time
_open_lock = threading.Lock()


def load_generator(settings: Settings, model_path: Path | None = None) -> Any:
    """The model as the app loads it: the setting's file (else the embedded default) + adapter."""
    from assistant.llm.generator import Generator
    from assistant.llm.grounded import choose_adapter
    from assistant.llm.models import ensure_default_model
    from assistant.llm.remote import server_from_settings

    remote = None if model_path else server_from_settings(settings)
    if remote is not None:
        return remote
    model = model_path or (Path(settings["model_path"]) if settings["model_path"]
                           else ensure_default_model())
    generator = Generator(Path(model), n_ctx=settings["context_size"],
                          n_threads=settings["threads"])
    lora, _why = choose_adapter(settings, generator.info)
    if lora is not None:
        generator.set_adapter(lora, settings["lora_scale"])
    return generator


class Library:
    """Search, answers and embeddings over the user's library, for the server and MCP."""

    def __init__(self, settings: Settings | None = None, *, embedder: Any = None,
                 model_path: Path | None = None, max_pending: int = 4,
                 search_pending: int = 16, warm: bool = False) -> None:
        """`warm`: load the embedder and the model now, on this thread, not with the first
        request.

        Now and here, not on the lanes' threads: Python 3.11's per-module import locks can
        hang when several threads import at once (CPython gh-91351, fixed in 3.12), and a
        warm start imports a few hundred modules (llama_cpp, ONNX Runtime, the store's) while
        `serve`'s own thread imports uvicorn's. A setup that fails here is tried again by the
        lane's first job, which then hears why.
        """
        self.settings = settings or Settings()
        self.embedder = LockedEmbedder(embedder)
        self.model_path = model_path
        model_setup = self._open_model if warm else self._open
        search_setup = self._open_warm if warm else self._open
        self.model_lane = Lane("model", max_pending, model_setup, _close,
                               state=_try(model_setup) if warm else None)
        self.search_lane = Lane("search", search_pending, search_setup, _close,
                                state=_try(search_setup) if warm else None)

    def close(self) -> None:
        for lane in (self.model_lane, self.search_lane):
            lane.close()

    def _open(self) -> State:
        with _open_lock:  # one lane at a time: its imports too (see `__init__`)
            import numpy.ctypeslib  # llama_cpp imports it at its first generation
            import numpy.ma  # noqa: F401  (numpy's own, lazily, in np.unique)

            import assistant.answer  # noqa: F401  (the jobs', at their first run)
            from assistant.search import Retriever
            from assistant.store.backend import open_store

            store = open_store()  # the team library when `assistant library use` chose one
        return {"store": store, "retriever": Retriever(store, self.embedder)}

    def _open_warm(self) -> State:
        state = self._open()
        self.embedder.embed("warm up")
        return state

    def _open_model(self) -> State:
        state = self._open()
        try:
            state["generator"] = load_generator(self.settings, self.model_path)
        except BaseException:  # the store is not left open behind a model that did not load
            _close(state)
            raise
        return state

    # --- jobs (each runs on a lane's thread, with that lane's state) ----------------------
    @staticmethod
    def collections(state: State) -> list[dict[str, Any]]:
        store = state["store"]
        return [{"name": n, "documents": len(store.documents(n))} for n in store.collections()]

    @staticmethod
    def model_names(state: State) -> list[str]:
        names = state["store"].collections()
        return [PLAIN_MODEL, ALL_MODEL, *(COLLECTION_PREFIX + n for n in names)]

    @staticmethod
    def target(state: State, model: str) -> Target:
        """The plain model, every collection, or one collection; else `UnknownModel`."""
        if model == PLAIN_MODEL:
            return Target(True, None)
        if model == ALL_MODEL:
            return Target(False, None)
        if model.startswith(COLLECTION_PREFIX):
            name = model[len(COLLECTION_PREFIX):]
            if name in state["store"].collections():
                return Target(False, [name])
        raise UnknownModel(f"There is no model '{model}'. The models are '{PLAIN_MODEL}' (no "
                           f"documents), '{ALL_MODEL}' (every collection) and "
                           f"'{COLLECTION_PREFIX}<collection>'; GET /v1/models lists them.")

    def search(self, state: State, query: str, k: int, collection: str | None = None,
               path: str | None = None, kind: str | None = None) -> dict[str, Any]:
        """The shape of `assistant search --json`, each hit with its passage `id` too."""
        from assistant.answer import answerability

        level = answerability.strictness(self.settings["strictness"])
        store = state["store"]
        if collection is not None and collection not in store.collections():
            raise UserError(f"There is no collection '{collection}'.")
        hits = state["retriever"].search(query, k, collections=[collection] if collection
                                         else None, path_prefix=path, kind=kind)
        return {"hits": [dict(h.to_json(), relevant=answerability.counts(h, level),
                              id=h.chunk_id) for h in hits]}

    def embed(self, texts: list[str]) -> np.ndarray:
        vectors: np.ndarray = self.embedder.embed_batch(texts)
        return vectors

    @staticmethod
    def passage(state: State, chunk_id: int) -> dict[str, Any] | None:
        """An indexed passage by its id, from the store (never from the file system)."""
        row = state["store"].chunks_by_id([chunk_id]).get(chunk_id)
        if row is None:
            return None
        return {"id": chunk_id, "path": row["path"], "page": row["page"],
                "place": row.get("place"), "start": row["start"], "end": row["end"],
                "text": row["text"], "collection": row["collection"]}

    def answer(self, state: State, question: str, *, target: Target,
               history: Sequence[tuple[str, str]] = (), max_tokens: int | None = None,
               on_token: Callable[[str], None] | None = None,
               cancel: threading.Event | None = None) -> Any:
        """The app's answer path, with the app's settings (`assistant ask` calls it the same)."""
        from assistant.answer import Turn, answer_question

        if state.get("generator") is None:
            state["generator"] = load_generator(self.settings, self.model_path)
        retriever = state["retriever"]
        collections = target.collections
        limit = self.settings["max_answer_tokens"]
        return answer_question(
            question,
            retriever=lambda q, n: retriever.search(q, n, collections=collections),
            generator=state["generator"], top_k=self.settings["top_k"],
            strictness=self.settings["strictness"],
            history=[Turn(question=q, answer=a) for q, a in history], no_docs=target.no_docs,
            on_token=on_token, cancel=cancel,
            max_tokens=min(max_tokens, limit) if max_tokens else limit,
            temperature=self.settings["temperature"], focus_words=self.settings["focus_words"])


def _close(state: State) -> None:
    store = state.get("store")
    if store is not None:
        store.close()
