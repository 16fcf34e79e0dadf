"""The indexing progress area at the bottom of the window.

While indexing: files done of total, the current file, the rate, the time left, and Cancel.
Afterwards: a one-line summary; when files failed, "Show N failed" opens the list with reasons,
and when files of a type the app does not read were found, "Show N skipped" lists them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout

from assistant.search.reembed import ReembedProgress

HIDE_AFTER_MS = 12_000


def fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    m, s = divmod(seconds, 60)
    if m < 60:
        return f"{m} min {s:02d} s"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min"


class IndexProgressArea(QFrame):
    cancel_requested = Signal()
    show_failures = Signal()
    show_skipped = Signal()

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName("ProgressArea")
        self.failures: list[tuple[str, str]] = []
        self.skipped: list[tuple[str, str]] = []  # (path, its type)
        self.running = False
        self.queued = 0
        layout = QHBoxLayout(self)
        layout.setContentsMargins(14, 8, 10, 8)
        layout.setSpacing(12)
        text = QVBoxLayout()
        text.setSpacing(2)
        self.title = QLabel()
        self.detail = QLabel()
        self.detail.setObjectName("Muted")
        self.detail.setTextFormat(Qt.TextFormat.PlainText)
        self.detail.setWordWrap(True)
        text.addWidget(self.title)
        text.addWidget(self.detail)
        layout.addLayout(text, 1)
        self.bar = QProgressBar()
        self.bar.setFixedWidth(220)
        self.bar.setTextVisible(False)
        self.bar.setMaximumHeight(10)
        layout.addWidget(self.bar)
        self.failures_button = QPushButton()
        self.failures_button.setObjectName("FailuresButton")
        self.failures_button.clicked.connect(self.show_failures)
        self.skipped_button = QPushButton()
        self.skipped_button.setObjectName("SkippedButton")
        self.skipped_button.setToolTip("Files in the folder whose type the app does not read")
        self.skipped_button.clicked.connect(self.show_skipped)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop indexing; what was indexed so far is kept")
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.close_button = QPushButton("Dismiss")
        self.close_button.clicked.connect(self.dismiss)
        for b in (self.failures_button, self.skipped_button, self.cancel_button,
                  self.close_button):
            layout.addWidget(b)
        self._hide_timer = QTimer(self)
        self._hide_timer.setSingleShot(True)
        self._hide_timer.timeout.connect(self.dismiss)
        self.hide()

    def _update_failures_button(self) -> None:
        n = len(self.failures)
        self.failures_button.setText(f"Show {n} failed")
        self.failures_button.setVisible(n > 0)
        k = len(self.skipped)
        self.skipped_button.setText(f"Show {k} skipped")
        self.skipped_button.setVisible(k > 0)

    def start(self, title: str, queued: int = 0) -> None:
        self._hide_timer.stop()
        self.running = True
        self.queued = queued
        self.title.setText(title)
        self.detail.setText("Looking for files…")
        self.bar.setRange(0, 0)
        self.cancel_button.show()
        self.close_button.hide()
        self._update_failures_button()
        self.show()

    def set_queued(self, queued: int) -> None:
        self.queued = queued

    def update_progress(self, p: Any, embedder_loading: bool = False) -> None:
        """Show an `IndexProgress` (files_done, files_total, current, rate, eta, failed), or a
        `ReembedProgress` (a collection moving to a new embedding model)."""
        if p is None:
            return
        if isinstance(p, ReembedProgress):
            self.bar.setRange(0, max(1, p.total))
            self.bar.setValue(p.done)
            self.detail.setText(f"Updating “{p.collection}” for the new embedding model  ·  "
                                f"{p.done:,} of {p.total:,} passages  ·  searches use the "
                                "old vectors until it is done")
            return
        if p.files_total:
            self.bar.setRange(0, p.files_total)
            self.bar.setValue(p.files_done)
        parts = [f"{p.files_done} of {p.files_total} files"]
        if p.current:
            parts.append(Path(p.current).name)
        elif p.files_total and embedder_loading:
            parts.append("loading the embedding model")
        elif p.files_total:
            parts.append("reading files")
        if p.chunks_done and p.elapsed > 0:
            parts.append(f"{p.rate:.1f} passages/s")
        eta = p.eta
        if eta is not None and p.files_done < p.files_total:
            parts.append(f"about {fmt_seconds(eta)} left")
        if p.failed:
            parts.append(f"{p.failed} failed")
        if self.queued:
            parts.append(f"{self.queued} more queued")
        if not p.files_total:
            parts = ["Nothing new to index"] if p.files_done == 0 else parts
        self.detail.setText("  ·  ".join(parts))

    def finish(self, title: str, detail: str, failures: list[tuple[str, str]],
               skipped: list[tuple[str, str]] | None = None) -> None:
        self.running = False
        self.add_failures(failures)
        self.add_skipped(skipped or [])
        self.title.setText(title)
        self.detail.setText(detail)
        self.bar.setRange(0, 1)
        self.bar.setValue(1)
        self.cancel_button.hide()
        self.close_button.show()
        self._update_failures_button()
        self.show()
        if not self.failures and not self.skipped:
            self._hide_timer.start(HIDE_AFTER_MS)

    def add_failures(self, failures: list[tuple[str, str]]) -> None:
        known = {path for path, _ in self.failures}
        self.failures.extend(f for f in failures if f[0] not in known)

    def add_skipped(self, skipped: list[tuple[str, str]]) -> None:
        known = {path for path, _ in self.skipped}
        self.skipped.extend(f for f in skipped if f[0] not in known)

    def dismiss(self) -> None:
        if self.running:
            return
        self._hide_timer.stop()
        self.failures = []
        self.skipped = []
        self.hide()


class EmbedderNotice(QFrame):
    """In the status bar while the embedding model prepares itself (once, about a minute):
    what is happening, with a busy bar, until the model is ready."""

    def __init__(self, is_ready: Any, parent: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName("EmbedderNotice")
        self.is_ready = is_ready  # () -> bool: the embedder has loaded
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 6, 0)
        layout.setSpacing(6)
        self.label = QLabel()
        self.label.setObjectName("Muted")
        self.bar = QProgressBar()
        self.bar.setRange(0, 0)  # busy: the preparation reports no steps
        self.bar.setFixedWidth(90)
        self.bar.setMaximumHeight(10)
        self.bar.setTextVisible(False)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        self._poll = QTimer(self)
        self._poll.setInterval(500)
        self._poll.timeout.connect(self._check)
        self.hide()

    def show_notice(self, text: str) -> None:
        self.label.setText(text.rstrip(".") + "…")
        self.setToolTip("Searching and indexing wait for it; this happens once.")
        self.show()
        self._poll.start()

    def _check(self) -> None:
        if self.is_ready():
            self._poll.stop()
            self.hide()

