"""The settings dialog, built from `assistant.settings.OPTIONS`.

Every option gets a field suited to its type and bounds, its label and its description. On
Save each value goes through `settings.validate` (plus a header check of the model and adapter
files), and a bad value is shown as its sentence under the field, with the dialog kept open.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from assistant import settings as settings_mod
from assistant.errors import UserError
from assistant.gui import theme
from assistant.settings import OPTIONS, Option, Settings

SECTIONS = (
    ("Model", ("model_path", "threads", "context_size")),
    ("Adapter", ("grounded_adapter", "lora_path", "lora_scale")),
    ("Answers", ("collection", "strictness", "top_k", "focus_words", "max_answer_tokens",
                 "temperature")),
)
PLACEHOLDERS = {
    "model_path": "The built-in model (Gemma 3 270M)",
    "lora_path": "None of your own (the shipped grounded adapter, when on)",
}
CHOICE_LABELS = {
    "lenient": "Lenient: answer whenever a passage may hold it",
    "balanced": "Balanced (recommended)",
    "strict": "Strict: answer only when clearly covered",
}
FILE_FILTERS = {
    "model_path": "GGUF models (*.gguf);;All files (*)",
    "lora_path": "GGUF LoRA adapters (*.gguf);;All files (*)",
}


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
        browse = QPushButton("Choose…")
        browse.clicked.connect(self.browse)
        row.addWidget(self.edit, 1)
        row.addWidget(browse)

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


class SettingsDialog(QDialog):
    def __init__(self, settings: Settings, collections: list[str] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setObjectName("SettingsDialog")
        self.settings = settings
        self.changed: set[str] = set()
        self.fields: dict[str, Any] = {}
        self.errors: dict[str, QLabel] = {}
        self.collections = collections or []
        outer = QVBoxLayout(self)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 12, 4)
        sections = list(SECTIONS)
        rest = tuple(o.name for o in OPTIONS if all(o.name not in names for _, names in SECTIONS))
        if rest:
            sections.append(("Other", rest))
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        form.setVerticalSpacing(4)
        for i, (title, names) in enumerate(sections):
            heading = QLabel(title)
            heading.setObjectName("SectionTitle")
            font = heading.font()
            font.setBold(True)
            font.setPointSizeF(font.pointSizeF() * 1.15)
            heading.setFont(font)
            heading.setContentsMargins(0, 14 if i else 0, 0, 4)
            form.addRow(heading)
            for name in names:
                option = settings_mod.BY_NAME.get(name)
                if option is not None:
                    form.addRow(option.label + ":", self._row(option))
        layout.addLayout(form)
        layout.addStretch(1)
        scroll.setWidget(body)
        outer.addWidget(scroll, 1)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setStyleSheet(f"color: {theme.css(theme.bad())};")
        self.summary.hide()
        outer.addWidget(self.summary)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save |
                                        QDialogButtonBox.StandardButton.Cancel |
                                        QDialogButtonBox.StandardButton.RestoreDefaults)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).clicked.connect(
            self.restore_defaults)
        outer.addWidget(self.buttons)
        self.load(settings.values)
        self.setMinimumSize(520, 420)
        self.resize(660, 700)

    def _row(self, option: Option) -> QWidget:
        wrapper = QWidget()
        from PySide6.QtWidgets import QSizePolicy

        wrapper.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        v = QVBoxLayout(wrapper)
        v.setContentsMargins(0, 0, 0, 6)
        v.setSpacing(3)
        field: Any
        if option.is_path:
            field = PathField(option)
        elif option.name == "collection":
            field = QComboBox()
            field.setEditable(True)
            field.addItems(sorted(set(self.collections) | {str(option.default)}))
        elif option.choices:
            field = QComboBox()
            for choice in option.choices:
                field.addItem(CHOICE_LABELS.get(choice, choice), choice)
        elif option.kind is bool:
            field = QCheckBox(option.label)
        elif option.kind is float and option.name == "lora_scale":
            field = ScaleField(option)
        elif option.kind is int:
            field = QSpinBox()
            field.setRange(int(option.minimum if option.minimum is not None else -2**31),
                           int(option.maximum if option.maximum is not None else 2**31 - 1))
            field.setGroupSeparatorShown(False)
            if option.name == "context_size":
                field.setSingleStep(512)
        elif option.kind is float:
            field = QDoubleSpinBox()
            field.setRange(option.minimum if option.minimum is not None else -1e9,
                           option.maximum if option.maximum is not None else 1e9)
            field.setDecimals(2)
            field.setSingleStep(0.05)
        else:
            field = QLineEdit()
        field.setObjectName(f"setting_{option.name}")
        field.setToolTip(option.description)
        self.fields[option.name] = field
        if isinstance(field, QSpinBox | QDoubleSpinBox | QComboBox):
            field.setMinimumWidth(140)
            holder = QHBoxLayout()
            holder.setContentsMargins(0, 0, 0, 0)
            holder.addWidget(field)
            holder.addStretch(1)
            v.addLayout(holder)
        else:
            v.addWidget(field)
        desc = QLabel(option.description)
        desc.setObjectName("Muted")
        desc.setWordWrap(True)
        v.addWidget(desc)
        error = QLabel()
        error.setWordWrap(True)
        error.setStyleSheet(f"color: {theme.css(theme.bad())};")
        error.hide()
        self.errors[option.name] = error
        v.addWidget(error)
        return wrapper

    # --- values ----------------------------------------------------------------------
    def value(self, name: str) -> Any:
        field = self.fields[name]
        if isinstance(field, PathField | ScaleField):
            return field.value()
        if isinstance(field, QCheckBox):
            return field.isChecked()
        if isinstance(field, QComboBox):
            if settings_mod.BY_NAME[name].choices:
                return field.currentData()
            return field.currentText().strip()
        if isinstance(field, QSpinBox):
            return field.value()
        if isinstance(field, QDoubleSpinBox):
            return round(field.value(), 4)
        return field.text()

    def set_value(self, name: str, value: Any) -> None:
        field = self.fields[name]
        if isinstance(field, PathField | ScaleField):
            field.set_value(value)
        elif isinstance(field, QCheckBox):
            field.setChecked(bool(value))
        elif isinstance(field, QComboBox) and settings_mod.BY_NAME[name].choices:
            index = field.findData(str(value))
            field.setCurrentIndex(max(0, index))
        elif isinstance(field, QComboBox):
            field.setCurrentText(str(value))
        elif isinstance(field, QSpinBox):
            field.setValue(int(value))
        elif isinstance(field, QDoubleSpinBox):
            field.setValue(float(value))
        else:
            field.setText(str(value))

    def load(self, values: dict[str, Any]) -> None:
        for name in self.fields:
            self.set_value(name, values.get(name, settings_mod.BY_NAME[name].default))

    def restore_defaults(self) -> None:
        self.load(settings_mod.defaults())

    # --- validation ------------------------------------------------------------------
    def validate(self) -> dict[str, Any] | None:
        """The converted values, or None after showing each problem under its field."""
        values: dict[str, Any] = {}
        problems: dict[str, str] = {}
        for name in self.fields:
            try:
                values[name] = settings_mod.validate(name, self.value(name))
            except UserError as exc:
                problems[name] = str(exc)
        if "model_path" not in problems and "lora_path" not in problems:
            problems.update(check_model_files(values.get("model_path", ""),
                                              values.get("lora_path", "")))
        for name, label in self.errors.items():
            label.setText(problems.get(name, ""))
            label.setVisible(name in problems)
        if problems:
            first = next(n for n in self.fields if n in problems)
            self.fields[first].setFocus()
            n = len(problems)
            self.summary.setText(f"{n} setting{'s' if n != 1 else ''} need{'s' if n == 1 else ''}"
                                 " attention before saving.")
            self.summary.show()
            return None
        self.summary.hide()
        return values

    def accept(self) -> None:
        values = self.validate()
        if values is None:
            return
        self.changed = {n for n, v in values.items() if self.settings.values.get(n) != v}
        for name, value in values.items():
            self.settings.values[name] = value
        try:
            self.settings.save()
        except OSError as exc:
            self.summary.setText(f"The settings could not be saved to {self.settings.path}: "
                                 f"{exc.strerror or exc}.")
            self.summary.show()
            return
        super().accept()


def check_model_files(model: str, lora: str) -> dict[str, str]:
    """Header checks of the chosen files, as {option name: sentence} (empty when fine)."""
    from assistant.llm.gguf_check import check_model_file, read_gguf_info

    problems: dict[str, str] = {}
    base = None
    try:
        if model:
            base = check_model_file(model)
        else:
            from assistant.llm.models import default_model_path

            default = default_model_path()
            if default.exists():
                base = check_model_file(default)
    except UserError as exc:
        if model:
            problems["model_path"] = str(exc)
    if lora and "model_path" not in problems:
        try:
            if base is not None:
                from assistant.llm.adapters import check_adapter_file

                check_adapter_file(lora, base)
            else:
                info = read_gguf_info(lora)
                if not info.is_adapter:
                    raise UserError(f"'{Path(lora).name}' is not a LoRA adapter.")
        except UserError as exc:
            problems["lora_path"] = str(exc)
    return problems
