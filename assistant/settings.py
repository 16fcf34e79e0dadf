"""Typed settings, declared once: type, default, bounds and a description for each.

The settings dialog is built from `OPTIONS`, the command line reads the same values, and
`validate` turns a bad value into a sentence the user can act on.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant import paths
from assistant.errors import UserError


@dataclass(frozen=True)
class Option:
    name: str
    kind: type
    default: Any
    label: str
    description: str
    minimum: float | None = None
    maximum: float | None = None
    is_path: bool = False
    choices: tuple[str, ...] = ()


def _default_threads() -> int:
    return max(1, min(8, os.cpu_count() or 2))


OPTIONS: tuple[Option, ...] = (
    Option("model_path", str, "", "Model file",
           "A GGUF model file. Empty means the embedded default (Gemma 3 270M).", is_path=True),
    Option("grounded_adapter", bool, True, "Grounded answers",
           "Use the shipped grounded-answer adapter with the embedded model: short answers "
           "with their [n] source, or \"not in your documents\". Your own adapter below "
           "replaces it."),
    Option("lora_path", str, "", "LoRA adapter",
           "Your own GGUF LoRA adapter. Empty means the shipped one (when it is on).",
           is_path=True),
    Option("lora_scale", float, 1.0, "Adapter strength",
           "How strongly the adapter shapes answers (0 turns it off).", 0.0, 2.0),
    Option("threads", int, _default_threads(), "CPU threads",
           "Threads the model uses to generate.", 1, 256),
    Option("context_size", int, 2048, "Context size",
           "Tokens the model sees at once: sources, conversation and answer.", 512, 131072),
    Option("max_answer_tokens", int, 256, "Answer length",
           "The most tokens one answer may have.", 16, 4096),
    Option("top_k", int, 5, "Passages per question",
           "How many passages are given to the model.", 1, 20),
    Option("focus_words", int, 0, "Passage focus",
           "Give the model only the sentences of each passage that share the most words with "
           "the question, up to this many words per passage: faster answers from large "
           "models. 0 gives whole passages.", 0, 1000),
    Option("temperature", float, 0.0, "Temperature",
           "0 answers the same way every time; higher is more varied.", 0.0, 2.0),
    Option("strictness", str, "balanced", "Strictness",
           "How sure the app must be that your documents hold the answer before answering: "
           "lenient, balanced or strict.", choices=("lenient", "balanced", "strict")),
    Option("collection", str, "default", "Collection",
           "The collection questions are asked against.", is_path=False),
    Option("ocr", bool, True, "Read scans (OCR)",
           "Recognise the text of scanned PDF pages and of images (PNG, JPEG, TIFF, WebP, "
           "BMP) with Tesseract, on this computer. Indexing takes about 2.5 s more per "
           "scanned page."),
    Option("ocr_page_seconds", int, 60, "OCR time per page",
           "A scanned page that takes longer than this is skipped and reported.", 5, 600),
    Option("serve_library", bool, False, "Let other apps on this computer use my library",
           "Editors, notes tools and scripts on this computer can search and ask your "
           "documents through a local OpenAI-compatible address (http://127.0.0.1:8763/v1). "
           "Nothing is reachable from other computers."),
    Option("answer_model", str, "embedded", "Answer model",
           "Where answers are written: by the embedded model on this computer, or by an "
           "OpenAI-compatible inference server (llama-server, vLLM, Ollama). Search, "
           "citations and the checks of answers stay on this computer either way.",
           choices=("embedded", "server")),
    Option("answer_server_url", str, "", "Server address",
           "The server's OpenAI address, like http://127.0.0.1:8080/v1. Nothing is sent "
           "anywhere unless the answer model is the server."),
    Option("answer_server_model", str, "", "Server model",
           "The model to ask the server for. Empty means the first one it lists."),
    Option("answer_server_chat", bool, False, "Chat model",
           "Send chat messages rather than a completion prompt: for instruct models (most "
           "vLLM and Ollama models). Off for the embedded model served by llama-server."),
    Option("answer_server_timeout", int, 60, "Server timeout",
           "Seconds to wait for the server's next words before giving up.", 5, 600),
)

BY_NAME = {option.name: option for option in OPTIONS}


def defaults() -> dict[str, Any]:
    return {option.name: option.default for option in OPTIONS}


def validate(name: str, value: Any) -> Any:
    """Return `value` converted to the option's type, or raise UserError with a sentence."""
    option = BY_NAME.get(name)
    if option is None:
        raise UserError(f"There is no setting called '{name}'.")
    try:
        if option.kind is bool:
            converted: Any = value if isinstance(value, bool) else str(value).lower() in (
                "1", "true", "yes", "on")
        elif option.kind is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            converted = int(value)
        elif option.kind is float:
            converted = float(value)
        else:
            converted = str(value)
    except (TypeError, ValueError):
        raise UserError(f"{option.label} must be a {option.kind.__name__}, not '{value}'.") from None
    if option.minimum is not None and converted < option.minimum:
        raise UserError(f"{option.label} must be at least {option.minimum:g} (got {converted}).")
    if option.maximum is not None and converted > option.maximum:
        raise UserError(f"{option.label} must be at most {option.maximum:g} (got {converted}).")
    if option.is_path and converted:
        path = Path(converted).expanduser()
        if not path.is_file():
            raise UserError(f"{option.label}: the file '{converted}' does not exist.")
        converted = str(path)
    if option.choices and converted not in option.choices:
        raise UserError(f"{option.label} must be one of {', '.join(option.choices)} "
                        f"(got '{converted}').")
    if name == "collection" and not converted.strip():
        raise UserError("The collection needs a name.")
    if name == "answer_server_url" and converted.strip():
        converted = converted.strip()
        if not converted.startswith(("http://", "https://")) or len(converted) < 10:
            raise UserError(f"{option.label} must start with http:// or https:// "
                            f"(got '{converted}').")
    return converted


class Settings:
    """Settings backed by a JSON file; unknown or invalid stored values fall back to defaults."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or paths.settings_path()
        self.values = defaults()
        self.problems: list[str] = []
        self.extra: dict[str, Any] = {}  # free-form state (window geometry, watched folders)
        self.load()

    def load(self) -> None:
        if not self.path.exists():
            return
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            self.problems.append(f"The settings file could not be read ({exc}); using defaults.")
            return
        if not isinstance(raw, dict):
            return
        self.extra = raw.get("extra", {}) if isinstance(raw.get("extra"), dict) else {}
        for name, value in raw.items():
            if name == "extra" or name not in BY_NAME:
                continue
            try:
                self.values[name] = validate(name, value)
            except UserError as exc:
                self.problems.append(f"{exc} The default is used instead.")

    def save(self) -> None:
        """Write the file atomically: a private temp file beside it, flushed to the disk, then
        renamed over the old one. A crash, a kill or a full disk leaves the old settings or the
        new ones, never half a file. Raises OSError (the old file intact) when it cannot."""
        data = dict(self.values)
        data["extra"] = self.extra
        text = json.dumps(data, indent=2, sort_keys=True)
        folder = self.path.parent
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        with contextlib.suppress(OSError):  # make the rename itself durable (POSIX only)
            dir_fd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def get(self, name: str) -> Any:
        return self.values[name]

    def set(self, name: str, value: Any) -> None:
        self.values[name] = validate(name, value)

    def __getitem__(self, name: str) -> Any:
        return self.values[name]
