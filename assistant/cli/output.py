"""Terminal output shared by every command: JSON lines, progress bars, durations, snippets."""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any, TextIO


def emit_json(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class ProgressBar:
    """A one-line progress bar on a terminal; silent when stderr is not a terminal."""

    def __init__(self, stream: TextIO = sys.stderr, width: int = 28) -> None:
        self.stream = stream
        self.enabled = stream.isatty()
        self.width = width
        self.last = 0.0

    def update(self, done: int, total: int, text: str, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self.last < 0.1:
            return
        self.last = now
        frac = done / total if total else 1.0
        filled = int(frac * self.width)
        bar = "█" * filled + "░" * (self.width - filled)
        cols = max(40, _terminal_width() - 1)
        line = f"\r{bar} {done}/{total} {text}"
        self.stream.write(line[:cols].ljust(cols))
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


class ProgressLog:
    """Plain progress lines for a log file, where the bar stays silent: a training run put in
    the background (`nohup ... > train.log`) says how far it is, at most one line every
    `every` seconds, and at once when its phase changes (loading, validating, saving a
    checkpoint) or it reaches its last step. Silent on a terminal, where the bar shows it."""

    def __init__(self, stream: TextIO = sys.stderr, every: float = 60.0) -> None:
        self.stream = stream
        self.enabled = not stream.isatty()
        self.every = every
        self.last: float | None = None
        self.phase: str | None = None

    def update(self, phase: str, done: int, total: int, text: str) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        due = (phase != self.phase or done >= total or self.last is None
               or now - self.last >= self.every)
        self.phase = phase
        if not due:
            return
        self.last = now
        self.stream.write(f"{time.strftime('%H:%M:%S')} {phase} {done}/{total} {text}\n")
        self.stream.flush()


def _terminal_width() -> int:
    try:
        return os.get_terminal_size(sys.stderr.fileno()).columns
    except OSError:
        return 100


def snippet(text: str, limit: int) -> str:
    """A passage on one line, cut at `limit` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat[:limit] + ("…" if len(flat) > limit else "")
