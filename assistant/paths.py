"""Every directory the app uses, in one place.

`ASSISTANT_HOME` overrides all of them (tests and tools point it at a temp dir); otherwise
the platform's conventions apply (XDG on Linux, ~/Library on macOS, %APPDATA% on Windows).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from platformdirs import PlatformDirs

APP_NAME = "KnowledgeAssistant"


def home() -> Path:
    """The root of everything the app writes."""
    override = os.environ.get("ASSISTANT_HOME")
    if override:
        root = Path(override).expanduser()
    else:
        root = Path(PlatformDirs(APP_NAME, appauthor=False).user_data_dir)
    root.mkdir(parents=True, exist_ok=True)
    return root


def _sub(name: str) -> Path:
    path = home() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    return _sub("data")


def models_dir() -> Path:
    return _sub("models")


def adapters_dir() -> Path:
    return _sub("adapters")


def training_dir() -> Path:
    return _sub("training")


def logs_dir() -> Path:
    return _sub("logs")


def reports_dir() -> Path:
    """Where `assistant eval` writes its Markdown and JSON reports by default."""
    return _sub("reports")


def resources_dir() -> Path:
    """The read-only files that ship with the app (the grounded adapter, icons).

    `ASSISTANT_RESOURCES` overrides it; a frozen app has them inside its bundle; a checkout
    has them at the repository root.
    """
    override = os.environ.get("ASSISTANT_RESOURCES")
    if override:
        return Path(override).expanduser()
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"


def db_path() -> Path:
    return data_dir() / "store.sqlite3"


def settings_path() -> Path:
    return home() / "settings.json"


def conversations_path() -> Path:
    return data_dir() / "conversations.sqlite3"


def is_under(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> bool:
    """True when `path` is `root` itself or lies inside the folder `root` (no file access)."""
    p, r = os.fspath(path), os.fspath(root).rstrip("/\\")
    return p == r or p.startswith(r + os.sep) or p.startswith(r + "/")
