"""The settings dialog, built from `assistant.settings.OPTIONS`.

Every option gets a field suited to its type and bounds, its label and its description. On
Save each value goes through `settings.validate` (plus a header check of the model and adapter
files), and a bad value is shown as its sentence under the field, with the dialog kept open.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QRect, Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from assistant import settings as settings_mod
from assistant.errors import UserError
from assistant.gui import theme
from assistant.gui.libraryfield import LibraryField
from assistant.gui.settingsfields import (
    ANSWER_NAMES,
    SERVER_NAMES,
    STYLE_NAMES,
    AnswerStyle,
    KeyField,
    PathField,
    ScaleField,
)
from assistant.settings import OPTIONS, Option, Settings
from assistant.store.backend import SETTING as LIBRARY_CHANGED
from assistant.store.backend import default_target
from assistant.store.team import check_address, use_library

# "Model": where answers come from (the embedded model or an inference server), then the
# embedded model's options, then the server's (settingsfields.ANSWER_NAMES).
MODEL_NAMES = ("answer_model", "model_path", "threads", "context_size", *SERVER_NAMES)
# Three columns, so every option is in view at once on a 1366×768 screen. The collection is
# not here: the toolbar's box chooses it. "Answer style" stands for three settings
# (settingsfields). "Library" is no option: the team library's address lives in the settings
# file's free-form part and its password in the keyring (libraryfield.LibraryField). The
# options no column names ("Other") go under "Answers".
LIBRARY_NAMES = ("library",)
COLUMNS = (
    (("Model", MODEL_NAMES),
     ("Answer style", STYLE_NAMES)),
    (("Answers", ("strictness", "top_k", "focus_words", "max_answer_tokens", "temperature")),),
    (("Library", LIBRARY_NAMES),
     ("Other apps", ("serve_library",))),
)
WIDEST = 1320  # the dialog's width where the screen allows it
STRETCH = (1, 1, 0)  # the third column as narrow as it can be, the others share the rest
SPANNING = frozenset({"serve_library"})  # a check box that says it all: no label beside it
NOT_HERE = frozenset({"collection"})
LABELS = {
    "lora_path": "Adapter file",
    "lora_scale": "Strength",
    "focus_words": "Passage focus",
    "max_answer_tokens": "Answer length",
    "serve_library": "Sharing",
    "answer_model": "Answers from",
    "answer_server_url": "Server",
    "answer_server_model": "Server model",
}
CHOICE_LABELS = {
    "lenient": "Lenient: answer whenever a passage may hold it",
    "balanced": "Balanced (recommended)",
    "strict": "Strict: answer only when clearly covered",
    "embedded": "The embedded model, on this computer",
    "server": "An inference server (OpenAI-compatible)",
}
SUFFIXES = {"focus_words": " words per passage", "max_answer_tokens": " tokens",
            "context_size": " tokens", "top_k": " passages", "answer_server_timeout": " s"}
SPECIAL = {"focus_words": "Off: whole passages"}  # what the minimum means, in words


class SettingsDialog(QDialog):
    def __init__(self, settings: Settings, collections: list[str] | None = None,
                 parent: QWidget | None = None, *, embedder: str | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setObjectName("SettingsDialog")
        self.settings = settings
        self.changed: set[str] = set()
        self.fields: dict[str, Any] = {}
        self.errors: dict[str, QLabel] = {}
        self.collections = collections or []
        outer = self.outer = QVBoxLayout(self)
        self.scroll_area = QScrollArea()  # only where the screen is smaller still
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setFrameShape(QScrollArea.Shape.NoFrame)
        self.scroll_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        body = QWidget()
        columns = QHBoxLayout(body)
        columns.setContentsMargins(4, 4, 12, 4)
        columns.setSpacing(24)
        placed = {n for column in COLUMNS for _, names in column for n in names}
        rest = tuple(o.name for o in OPTIONS if o.name not in placed | NOT_HERE)
        layout_columns = [list(column) for column in COLUMNS]
        if rest:
            layout_columns[1].append(("Other", rest))
        self.style_field: AnswerStyle | None = None
        self.column_widgets: list[QWidget] = []
        for column, stretch in zip(layout_columns, STRETCH, strict=True):
            form = QFormLayout()
            form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
            form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
            form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
            form.setVerticalSpacing(4)
            for i, (title, names) in enumerate(column):
                heading = QLabel(title)
                heading.setObjectName("SectionTitle")
                font = heading.font()
                font.setBold(True)
                font.setPointSizeF(font.pointSizeF() * 1.15)
                heading.setFont(font)
                heading.setContentsMargins(0, 14 if i else 0, 0, 4)
                form.addRow(heading)
                if names == STYLE_NAMES:
                    self._style_rows(form)
                    continue
                if names == MODEL_NAMES:
                    self._model_rows(form)
                    continue
                if names == LIBRARY_NAMES:
                    self.library_field = LibraryField(default_target(settings), embedder)
                    form.addRow(self.library_field)
                    continue
                for name in names:
                    option = settings_mod.BY_NAME.get(name)
                    if option is not None and name in SPANNING:
                        form.addRow(self._row(option))
                    elif option is not None:
                        form.addRow(LABELS.get(name, option.label) + ":", self._row(option))
            column_widget = QWidget()
            holder = QVBoxLayout(column_widget)
            holder.setContentsMargins(0, 0, 0, 0)
            holder.addLayout(form)
            holder.addStretch(1)
            columns.addWidget(column_widget, stretch)
            self.column_widgets.append(column_widget)
        self.columns = columns
        self.scroll_area.setWidget(body)
        self.body = body
        outer.addWidget(self.scroll_area, 1)
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
        self.setMinimumSize(560, 420)
        self.fit_screen()

    def fit_screen(self, available: QRect | None = None) -> None:
        """As large as its contents want, within the screen (the window's, or `available`)."""
        if available is None:
            parent = self.parentWidget()
            screen = (parent.screen() if parent is not None else None) or \
                QGuiApplication.primaryScreen()
            available = screen.availableGeometry()
        body = self.body
        width = min(WIDEST, available.width() - 40)
        inner = width - 24 - 2 * self.outer.contentsMargins().left()
        moved = self._arrange(three=inner >= self._three_columns_width())
        if moved and self.isVisible():
            # a shown dialog's layouts settle on the next pass of the event loop; its height
            # is read again then (read now, it would be the old arrangement's)
            again = QRect(available)
            QTimer.singleShot(0, self, lambda: self.fit_screen(again))
        body.setFixedWidth(inner)
        height = body.heightForWidth(body.width()) if body.hasHeightForWidth() \
            else body.sizeHint().height()
        body.setMinimumWidth(0)
        body.setMaximumWidth(16_777_215)
        chrome = self.buttons.sizeHint().height() + 3 * self.outer.spacing() + \
            2 * self.outer.contentsMargins().top() + 8
        self.resize(width, min(available.height() - 40, height + chrome))

    def _three_columns_width(self) -> int:
        margins = self.columns.contentsMargins()
        return sum(w.minimumSizeHint().width() for w in self.column_widgets) + \
            self.columns.spacing() * (len(self.column_widgets) - 1) + margins.left() + \
            margins.right()

    def _arrange(self, *, three: bool) -> bool:
        """Three columns where the screen is wide enough (1366 pixels is); on a narrower one
        the last column goes under the second (the dialog scrolls), never cut off. True
        when the columns moved."""
        last = self.column_widgets[-1]
        second = self.column_widgets[1].layout()
        assert isinstance(second, QVBoxLayout)
        under = second.indexOf(last) >= 0
        if three and under:
            second.removeWidget(last)
            self.columns.addWidget(last, STRETCH[-1])
        elif not three and not under:
            self.columns.removeWidget(last)
            second.insertWidget(second.count() - 1, last)
        else:
            return False
        return True

    def _style_rows(self, form: QFormLayout) -> None:
        """Answer style: the choice, the adapter file (for your own), and the strength."""
        path_option = settings_mod.BY_NAME["lora_path"]
        scale_option = settings_mod.BY_NAME["lora_scale"]
        path_row = self._row(path_option, describe=False)
        scale_row = self._row(scale_option)
        style = AnswerStyle(self.fields["lora_path"], self.fields["lora_scale"])
        self.style_field = style
        wrapper = QWidget()
        v = QVBoxLayout(wrapper)
        v.setContentsMargins(0, 0, 0, 6)
        v.setSpacing(3)
        v.addWidget(style)
        note = QLabel("What shapes the model's answers. The strength applies to whichever "
                      "adapter is used.")
        note.setObjectName("Muted")
        note.setWordWrap(True)
        v.addWidget(note)
        v.addWidget(self._error_label("grounded_adapter"))
        self.fields["grounded_adapter"] = style
        form.addRow("Style:", wrapper)
        form.addRow(LABELS["lora_path"] + ":", path_row)
        form.addRow(LABELS["lora_scale"] + ":", scale_row)

    def _model_rows(self, form: QFormLayout) -> None:
        """Answers from (the embedded model or a server), the embedded model's file, threads
        and context, then the server's address and key on one line and its model name, prompt
        kind and timeout on another (enabled only for the server; descriptions are tooltips,
        so that every option still fits a 1366×768 screen)."""
        rows = {name: self._row(settings_mod.BY_NAME[name],
                                describe=name not in ANSWER_NAMES)
                for name in MODEL_NAMES}
        for name in ("answer_model", "model_path", "threads", "context_size"):
            form.addRow(LABELS.get(name, settings_mod.BY_NAME[name].label) + ":", rows[name])
        self.key_field = KeyField()
        key = QWidget()
        v = QVBoxLayout(key)
        v.setContentsMargins(0, 0, 0, 6)
        v.setSpacing(3)
        v.addWidget(self.key_field)
        v.addWidget(self._error_label("answer_server_key"))
        self.key_label = QLabel("API key:")
        form.addRow(LABELS["answer_server_url"] + ":",
                    _line(rows["answer_server_url"], self.key_label, key))
        form.addRow(LABELS["answer_server_model"] + ":",
                    _line(rows["answer_server_model"], rows["answer_server_chat"],
                          rows["answer_server_timeout"]))
        self.fields["answer_server_chat"].setText("Chat model")
        self.fields["answer_server_model"].setPlaceholderText("The first the server lists")
        self.fields["answer_server_url"].setPlaceholderText("http://127.0.0.1:8080/v1")
        self.fields["answer_server_timeout"].setMinimumWidth(80)
        self.fields["answer_model"].setMinimumWidth(290)
        self.fields["answer_model"].currentIndexChanged.connect(self._follow_answer_model)

    def _follow_answer_model(self, *_: Any) -> None:
        """The server's fields for the server; the embedded model's file and threads for it
        (the context size is both: the server's answers are fitted to it too)."""
        on = self.value("answer_model") == "server"
        for name in SERVER_NAMES:
            self.fields[name].setEnabled(on)
        for name in ("model_path", "threads"):
            self.fields[name].setEnabled(not on)
        self.key_field.setEnabled(on)
        self.key_label.setEnabled(on)

    def _row(self, option: Option, describe: bool = True) -> QWidget:
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
            field.setSuffix(SUFFIXES.get(option.name, ""))
            if option.name in SPECIAL:
                field.setSpecialValueText(SPECIAL[option.name])
            if option.name == "focus_words":
                field.setSingleStep(25)
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
            # never narrower than its usual text ("Balanced (recommended)", "Off: whole
            # passages"): a narrow column squeezes its descriptions instead
            if isinstance(field, QComboBox):
                field.setSizeAdjustPolicy(
                    QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
                field.setMinimumContentsLength(22)
            field.setMinimumWidth(max(140, field.sizeHint().width()))
            holder = QHBoxLayout()
            holder.setContentsMargins(0, 0, 0, 0)
            holder.addWidget(field)
            holder.addStretch(1)
            v.addLayout(holder)
        else:
            v.addWidget(field)
        if describe:
            desc = QLabel(option.description)
            desc.setObjectName("Muted")
            desc.setWordWrap(True)
            v.addWidget(desc)
        v.addWidget(self._error_label(option.name))
        return wrapper

    def _error_label(self, name: str) -> QLabel:
        """The hidden line under a field where its validation error is shown."""
        error = QLabel()
        error.setWordWrap(True)
        error.setStyleSheet(f"color: {theme.css(theme.bad())};")
        error.hide()
        self.errors[name] = error
        return error

    # --- values ----------------------------------------------------------------------
    def value(self, name: str) -> Any:
        field = self.fields[name]
        style = self.style_field
        if style is not None and name == "grounded_adapter":
            return style.grounded_value()
        if style is not None and name == "lora_path":
            return style.path_value()
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
        style = self.style_field
        if style is not None and name == "grounded_adapter":
            style.set_grounded(bool(value))
        elif style is not None and name == "lora_path":
            style.set_path(str(value or ""))
        elif isinstance(field, PathField | ScaleField):
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
        self.key_field.load(str(values.get("answer_server_url", "")))
        self._follow_answer_model()

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
        if values.get("answer_model") == "server" and not values.get("answer_server_url") and \
                "answer_server_url" not in problems:
            problems["answer_server_url"] = ("Enter the server's address, or choose the "
                                             "embedded model.")
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
        if not self._save_library():
            return
        url = str(values.get("answer_server_url", ""))
        if self.key_field.changed_for(url):
            try:
                self.key_field.save(url)
            except UserError as exc:
                self.errors["answer_server_key"].setText(str(exc))
                self.errors["answer_server_key"].show()
                return
            self.changed.add("answer_server_key")
        self.errors["answer_server_key"].hide()
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


    def _save_library(self) -> bool:
        """A changed library choice: a team library is tested first (Save carries on once the
        test passes), then saved the way `assistant library use` saves it. False: wait."""
        field = self.library_field
        if not field.changed():
            return True
        if field.team and not field.passed():
            problem = check_address(field.value() or "")
            if problem is not None:
                field.show_problem(problem)
            elif not field.testing():
                field.test(then=lambda check: self.accept() if check.ok else None)
            return False
        try:
            use_library(field.value(), password=field.typed_password() or None,
                        settings=self.settings)
        except UserError as exc:
            field.show_problem(str(exc))
            return False
        self.changed.add(LIBRARY_CHANGED)
        return True


def _line(*widgets: QWidget) -> QWidget:
    """Widgets side by side on one form row, the first one stretching."""
    line = QWidget()
    row = QHBoxLayout(line)
    row.setContentsMargins(0, 0, 0, 0)
    for i, widget in enumerate(widgets):
        row.addWidget(widget, 1 if i == 0 else 0, Qt.AlignmentFlag.AlignTop)
    return line


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
