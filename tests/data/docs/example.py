"""Upload files to the archive server with retries."""

from __future__ import annotations

import time

MAX_ATTEMPTS = 6
INITIAL_BACKOFF_MS = 250


def backoff_delay(attempt: int) -> float:
    """Seconds to wait before retry number `attempt`.

    The backoff doubles after every failed attempt, starting at 250 milliseconds.
    """
    return INITIAL_BACKOFF_MS * (2 ** attempt) / 1000.0


def upload_with_retries(send, payload: bytes) -> bool:
    """Call send(payload) until it succeeds or MAX_ATTEMPTS is reached."""
    for attempt in range(MAX_ATTEMPTS):
        if send(payload):
            return True
        time.sleep(backoff_delay(attempt))
    return False
