"""Fields of the settings dialog that are more than one Qt widget: a file path with Choose…,
a slider with its number, and the one "Answer style" choice that stands for three settings.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSlider,
    QWidget,
)

from assistant.settings import Option

PLACEHOLDERS = {
    "model_path": "The built-in model (Gemma 3 270M)",
    "lora_path": "Choose your GGUF LoRA adapter",
}
FILE_FILTERS = {
    "model_path": "GGUF models (*.gguf);;All files (*)",
    "lora_path": "GGUF LoRA adapters (*.gguf);;All files (*)",
}
# The settings behind "Answer style": the shipped adapter's switch, your own adapter's file,
# and the strength of whichever adapter is used.
STYLE_NAMES = ("grounded_adapter", "lora_path", "lora_scale")
STYLES = (
    ("grounded", "Grounded: the shipped adapter (recommended)",
     "Short answers with their [n] source, or “not in your documents”. Applies to the "
     "built-in model."),
    ("own", "Your own adapter",
     "A GGUF LoRA adapter you trained or downloaded (Teach makes one); it replaces the "
     "shipped one."),
    ("none", "None: the model alone", "The model answers without any adapter."),
)


class PathField(QWidget):
    changed = Signal()

    def __init__(self, option: Option, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.option = option
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.edit = QLineEdit()
        self.edit.setPlaceholderText(PLACEHOLDERS.get(option.name, "None"))
        self.edit.setClearButtonEnabled(True)
        self.edit.textChanged.connect(self.changed)
        self.browse_button = QPushButton("Choose…")
        self.browse_button.clicked.connect(self.browse)
        row.addWidget(self.edit, 1)
        row.addWidget(self.browse_button)

    def browse(self) -> None:
        start = self.edit.text() or str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, f"Choose the {self.option.label.lower()}",
                                              start, FILE_FILTERS.get(self.option.name, ""))
        if path:
            self.edit.setText(path)

    def value(self) -> str:
        return self.edit.text().strip()

    def set_value(self, value: Any) -> None:
        self.edit.setText(str(value or ""))


class ScaleField(QWidget):
    """A slider with a spin box beside it, for a bounded float."""

    def __init__(self, option: Option, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        lo, hi = option.minimum or 0.0, option.maximum or 1.0
        self.steps = 100
        self.lo, self.hi = lo, hi
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, int((hi - lo) * self.steps))
        self.slider.setPageStep(10)
        self.spin = QDoubleSpinBox()
        self.spin.setRange(lo, hi)
        self.spin.setDecimals(2)
        self.spin.setSingleStep(0.05)
        self.slider.valueChanged.connect(
            lambda v: self.spin.setValue(self.lo + v / self.steps))
        self.spin.valueChanged.connect(
            lambda v: self.slider.setValue(round((v - self.lo) * self.steps)))
        row.addWidget(self.slider, 1)
        row.addWidget(self.spin)

    def value(self) -> float:
        return round(self.spin.value(), 2)

    def set_value(self, value: Any) -> None:
        self.spin.setValue(float(value))


class AnswerStyle(QComboBox):
    """One choice for what shapes answers: the shipped grounded adapter, your own adapter, or
    none. It stands for `grounded_adapter` and `lora_path` (whose file field it enables), and
    enables the strength only where an adapter is used."""

    def __init__(self, path: PathField, strength: QWidget, grounded: bool = True) -> None:
        super().__init__()
        self.setObjectName("setting_answer_style")
        # as wide as its column allows, not as its longest choice: the settings' three
        # columns share a 1366-pixel screen
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(30)
        for key, label, tip in STYLES:
            self.addItem(label, key)
            self.setItemData(self.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.path = path
        self.strength = strength
        self.grounded = grounded  # the shipped adapter's switch, kept while "own" is chosen
        self.currentIndexChanged.connect(self._follow)
        self._follow()

    @property
    def choice(self) -> str:
        return str(self.currentData())

    def set_style(self, style: str) -> None:
        self.setCurrentIndex(max(0, self.findData(style)))
        self._follow()

    def _follow(self, *_: Any) -> None:
        style = self.choice
        if style != "own":
            self.grounded = style == "grounded"
        self.path.setEnabled(style == "own")
        self.strength.setEnabled(style != "none")
        self.setToolTip(next(tip for key, _, tip in STYLES if key == style))

    # the three settings it stands for
    def grounded_value(self) -> bool:
        return self.grounded

    def path_value(self) -> str:
        return self.path.value() if self.choice == "own" else ""

    def set_grounded(self, on: bool) -> None:
        self.grounded = bool(on)
        if self.choice != "own":
            self.set_style("grounded" if on else "none")

    def set_path(self, path: str) -> None:
        self.path.set_value(path)
        if path:
            self.set_style("own")
        elif self.choice == "own":
            self.set_style("grounded" if self.grounded else "none")


# "Answer model": the embedded model, or an inference server and the settings that say how to
# reach it. The server's API key is no setting: KeyField keeps it in the system keyring.
ANSWER_NAMES = ("answer_model", "answer_server_url", "answer_server_model",
                "answer_server_chat", "answer_server_timeout")
SERVER_NAMES = ANSWER_NAMES[1:]


class KeyField(QLineEdit):
    """The server's API key, masked; read from and saved to the keyring (`server_key`)."""

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("setting_answer_server_key")
        self.setEchoMode(QLineEdit.EchoMode.Password)
        self.setClearButtonEnabled(True)
        self.setPlaceholderText("No key")
        self.setToolTip("Kept in the system keyring, never in the settings file. Empty: the "
                        "server needs no key.")
        self.loaded: tuple[str, str] = ("", "")
        self.from_env = False

    def load(self, url: str) -> None:
        """Show the key saved for `url` (the keyring is read only where a server is set)."""
        from assistant.llm.server_key import ENV_KEY, load_key

        self.from_env = bool(os.environ.get(ENV_KEY, "").strip())
        key = "" if self.from_env or not url else (load_key(url) or "")
        self.setText(key)
        self.setReadOnly(self.from_env)
        self.setPlaceholderText(f"Set by {ENV_KEY}" if self.from_env else "No key")
        self.loaded = (url, key)

    def changed_for(self, url: str) -> bool:
        return not self.from_env and bool(url) and (url, self.text().strip()) != self.loaded

    def save(self, url: str) -> None:
        """Store the key for `url` (UserError, a sentence, where no keyring works)."""
        from assistant.llm.server_key import save_key

        save_key(url, self.text().strip())
        self.loaded = (url, self.text().strip())
