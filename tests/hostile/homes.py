"""Fresh app homes for subprocess tests, sharing the caches that take minutes to build.

A new ASSISTANT_HOME would rebuild the prepared embedding model and the dequantised training
base (a minute or more each). They are pure functions of packaged files, so every home made
here links its cache folders to one shared folder beside the test model.
"""

from __future__ import annotations

import os
from pathlib import Path

SHARED = Path(os.environ.get("ASSISTANT_TEST_MODELS",
                             Path.home() / ".cache" / "knowledge-assistant" / "test-models"))
CACHES = ("embedder", "training-cache")


def app_home(home: Path) -> Path:
    """Create `home` (if needed) with its model caches linked to the shared ones."""
    models = home / "models"
    models.mkdir(parents=True, exist_ok=True)
    for name in CACHES:
        shared = SHARED / name
        shared.mkdir(parents=True, exist_ok=True)
        link = models / name
        if not link.exists() and not link.is_symlink():
            link.symlink_to(shared, target_is_directory=True)
    return home
