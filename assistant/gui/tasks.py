"""Background work for the GUI: long-lived worker threads, one-off tasks, and a stall probe.

Modelled on Anki's `QueryOp` and git-cola's `Task(QRunnable)`: the work is a plain function
run off the GUI thread; its result, failure and progress come back as *signals* delivered on
the GUI thread (queued connections), where the callbacks may touch widgets. Work functions
never touch widgets.

* `Worker` is a long-lived `QThread` that runs submitted jobs one after another. Whatever must
  not be shared between threads lives in its `state` dict and is only touched by its jobs:
  the model worker owns the `Generator` (and a `Store` for retrieval), the index worker owns the
  writing `Store` and the `Indexer`, the reader owns a `Store` for library listings.
* `run_task` runs a one-off function on the global `QThreadPool` (a `Task(QRunnable)`).
* `ResponsivenessProbe` is a GUI-thread timer that measures how late it fires: a frozen GUI
  shows up as lateness. Tests assert on it; `ASSISTANT_PROBE=1` prints the figures at exit.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QRunnable, Qt, QThread, QThreadPool, QTimer, Signal, Slot

from assistant.errors import Cancelled

_ids = itertools.count(1)


@dataclass(eq=False)
class Failure:
    """What a job raised: the exception and its formatted traceback (for a bug report)."""

    exception: BaseException
    traceback: str

    @property
    def is_cancelled(self) -> bool:
        return isinstance(self.exception, Cancelled)


@dataclass(eq=False)
class Job:
    fn: Callable[[TaskContext], Any]
    name: str = ""
    on_success: Callable[[Any], None] | None = None
    on_failure: Callable[[Failure], None] | None = None
    on_progress: Callable[[Any], None] | None = None
    on_finished: Callable[[], None] | None = None
    owner: QObject | None = None  # callbacks are dropped once the owner is deleted
    cancel_event: threading.Event = field(default_factory=threading.Event)
    id: int = field(default_factory=lambda: next(_ids))
    started: bool = False
    done: bool = False

    def cancel(self) -> None:
        self.cancel_event.set()

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()


class TaskContext:
    """What a work function gets: the cancel flag, a progress reporter, the worker's state."""

    def __init__(self, job: Job, relay: _Relay, state: dict[str, Any]) -> None:
        self.job = job
        self._relay = relay
        self.state = state

    @property
    def cancel(self) -> threading.Event:
        return self.job.cancel_event

    def cancelled(self) -> bool:
        return self.job.cancel_event.is_set()

    def check(self) -> None:
        if self.job.cancel_event.is_set():
            raise Cancelled()

    def progress(self, payload: Any) -> None:
        """Deliver `payload` to the job's `on_progress` on the GUI thread."""
        self._relay.deliver.emit(self.job, "progress", payload)


class _Relay(QObject):
    """Lives on the GUI thread; signals emitted from workers are queued to it."""

    deliver = Signal(object, str, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.deliver.connect(self._dispatch, Qt.ConnectionType.QueuedConnection)
        self.default_failure: Callable[[Failure], None] | None = None

    @Slot(object, str, object)
    def _dispatch(self, job: Job, kind: str, payload: Any) -> None:
        if job.owner is not None and not shiboken6.isValid(job.owner):
            return
        if kind == "progress":
            if job.on_progress is not None and not job.done:
                job.on_progress(payload)
            return
        job.done = True
        try:
            if kind == "success":
                if job.on_success is not None:
                    job.on_success(payload)
            elif kind == "failure":
                failure: Failure = payload
                if job.on_failure is not None:
                    job.on_failure(failure)
                elif not failure.is_cancelled and self.default_failure is not None:
                    self.default_failure(failure)
        finally:
            if job.on_finished is not None:
                job.on_finished()


def _run(job: Job, relay: _Relay, state: dict[str, Any]) -> None:
    job.started = True
    if job.cancelled:
        relay.deliver.emit(job, "failure", Failure(Cancelled(), ""))
        return
    try:
        result = job.fn(TaskContext(job, relay, state))
    except BaseException as exc:
        relay.deliver.emit(job, "failure", Failure(exc, traceback.format_exc()))
    else:
        relay.deliver.emit(job, "success", result)


_STOP = object()
_orphans: list[QThread] = []


class Worker(QThread):
    """A long-lived thread running jobs in order; `state` is only touched from this thread.

    `setup(state)` runs first on the thread (open a Store there); `teardown(state)` last.
    """

    def __init__(self, name: str, *, setup: Callable[[dict[str, Any]], None] | None = None,
                 teardown: Callable[[dict[str, Any]], None] | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self.name = name
        self._setup = setup
        self._teardown = teardown
        self._queue: queue.Queue[Any] = queue.Queue()
        self._jobs: list[Job] = []
        self._lock = threading.Lock()
        self.state: dict[str, Any] = {}
        self.relay = _Relay()
        self.current: Job | None = None
        self._stopping = False

    def submit(self, fn: Callable[[TaskContext], Any], *, name: str = "",
               success: Callable[[Any], None] | None = None,
               failure: Callable[[Failure], None] | None = None,
               progress: Callable[[Any], None] | None = None,
               finished: Callable[[], None] | None = None,
               owner: QObject | None = None) -> Job:
        job = Job(fn, name, success, failure, progress, finished, owner)
        if self._stopping:
            job.cancel()
        with self._lock:
            self._jobs.append(job)
        if not self.isRunning() and not self._stopping:
            self.start()
        self._queue.put(job)
        return job

    def pending(self) -> list[Job]:
        """Jobs submitted and not yet finished (the running one first)."""
        with self._lock:
            return [j for j in self._jobs if not j.done]

    def cancel_all(self, name: str | None = None) -> None:
        with self._lock:
            for job in self._jobs:
                if name is None or job.name == name:
                    job.cancel()

    def run(self) -> None:
        setup_failure: Failure | None = None
        ready = False
        try:
            while True:
                job = self._queue.get()
                if job is _STOP:
                    break
                self.current = job
                if not ready and not job.cancelled:
                    # (re)try the set-up before each job until it works: a store that was
                    # locked or a disk that was full may be fine a moment later
                    try:
                        if self._setup is not None:
                            self._setup(self.state)
                        ready, setup_failure = True, None
                    except BaseException as exc:
                        setup_failure = Failure(exc, traceback.format_exc())
                if setup_failure is not None and not job.cancelled:
                    job.started = True
                    self.relay.deliver.emit(job, "failure", setup_failure)
                else:
                    _run(job, self.relay, self.state)
                self.current = None
                with self._lock:
                    self._jobs = [j for j in self._jobs if j is not job]
        finally:
            if self._teardown is not None and ready:
                try:
                    self._teardown(self.state)
                except Exception:
                    traceback.print_exc()
            self.state.clear()

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Cancel everything, let the thread finish and wait for it; True when it ended."""
        self._stopping = True
        self.cancel_all()
        if not self.isRunning():
            return True
        self._queue.put(_STOP)
        if self.wait(int(timeout_s * 1000)):
            return True
        # Still busy in native code: keep the thread object alive (destroying a running
        # QThread aborts the process); it ends on its own when the call returns.
        self.setParent(None)
        _orphans.append(self)
        return False


class Task(QRunnable):
    """A one-off job on the global thread pool (git-cola's `Task`)."""

    def __init__(self, job: Job, relay: _Relay) -> None:
        super().__init__()
        self.job = job
        self.relay = relay
        self.setAutoDelete(True)

    def run(self) -> None:
        _run(self.job, self.relay, {})


_pool_relay: _Relay | None = None


def pool_relay() -> _Relay:
    global _pool_relay
    if _pool_relay is None or not shiboken6.isValid(_pool_relay):
        _pool_relay = _Relay()
    return _pool_relay


def run_task(fn: Callable[[TaskContext], Any], *, success: Callable[[Any], None] | None = None,
             failure: Callable[[Failure], None] | None = None,
             progress: Callable[[Any], None] | None = None,
             finished: Callable[[], None] | None = None, owner: QObject | None = None,
             name: str = "") -> Job:
    """Run `fn(ctx)` on the thread pool; callbacks come back on the GUI thread."""
    job = Job(fn, name, success, failure, progress, finished, owner)
    QThreadPool.globalInstance().start(Task(job, pool_relay()))
    return job


class ResponsivenessProbe(QObject):
    """Measures GUI-thread stalls: a timer that records how late each of its ticks fires."""

    def __init__(self, interval_ms: int = 10, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.interval_ms = interval_ms
        self.lateness_ms: list[float] = []
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)
        self._last = 0.0

    def start(self) -> None:
        self.lateness_ms.clear()
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def reset(self) -> None:
        self.lateness_ms.clear()
        self._last = time.perf_counter()

    @property
    def running(self) -> bool:
        return self._timer.isActive()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.lateness_ms.append(max(0.0, (now - self._last) * 1000.0 - self.interval_ms))
        self._last = now

    def stats(self) -> dict[str, float]:
        data = sorted(self.lateness_ms)
        if not data:
            return {"samples": 0, "max": 0.0, "p50": 0.0, "p95": 0.0, "p99": 0.0}

        def pct(p: float) -> float:
            return data[min(len(data) - 1, round(p / 100 * (len(data) - 1)))]

        return {"samples": len(data), "max": data[-1], "p50": pct(50), "p95": pct(95),
                "p99": pct(99)}

    def report(self, label: str = "GUI thread") -> str:
        s = self.stats()
        return (f"{label}: {int(s['samples'])} ticks of {self.interval_ms} ms; lateness "
                f"max {s['max']:.1f} ms, p50 {s['p50']:.1f}, p95 {s['p95']:.1f}, "
                f"p99 {s['p99']:.1f}")
