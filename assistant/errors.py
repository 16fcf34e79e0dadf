"""Two kinds of failure: the user's environment (shown as a sentence) and our bugs.

A `UserError` carries a message a person can act on ("the disk is full", "that file is not a
GGUF model"). Anything else is a bug and is reported with its traceback for a bug report.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix; `str(err)` is a complete sentence for them."""


class StoreError(UserError):
    """The document store cannot be used (locked, full disk, corrupt file)."""


class ModelError(UserError):
    """A model or adapter file is missing, wrong or cannot be loaded."""


class Cancelled(Exception):
    """Raised inside long work when the user asked to stop."""
