"""The Teach page: train a LoRA adapter on the user's own examples, then use it at once.

The user picks a JSONL file of examples or collects the answers they marked good or corrected,
sees every problem with its line number, the personal details removed and the train /
validation split, sets the main options, and trains. Training and evaluation run on a
dedicated `Worker` thread ("training"), so the model worker keeps answering meanwhile; progress
comes back as `TrainProgress` events drawn as text and a live loss curve (`LossCurve`).
Finished adapters live in `paths.adapters_dir()`, one folder each with its training report.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from assistant.errors import UserError
from assistant.gui import dialogs, theme
from assistant.gui.losscurve import LossCurve
from assistant.gui.progress import fmt_seconds
from assistant.gui.tasks import Failure, Job, TaskContext, Worker, run_task
from assistant.training.adapters import (
    AdapterInfo,
    base_model_path,
    list_adapters,
    new_adapter_name,
)

EVAL_MD = "evaluation.md"


def fmt_loss(x: Any) -> str:
    if not isinstance(x, (int, float)):
        return "—"
    return f"{x:.3f}" if abs(x) >= 0.01 or x == 0 else f"{x:.2g}"


def shorten(text: str, n: int = 70) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= n else flat[: n - 1].rstrip() + "…"


class TeachPage(QWidget):
    """The Teach page. `use_adapter(path)` asks the window to load an adapter now."""

    use_adapter = Signal(str)
    adapters_changed = Signal()
    data_loaded = Signal()
    training_finished = Signal(object)  # TrainResult, or None when it stopped or failed
    evaluation_finished = Signal(object)  # EvalReport or None

    def __init__(self, settings: Any, *, history: Any = None, model_path: Path | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from assistant.training.train import TrainConfig

        self.settings = settings
        self.history = history
        self.injected_model = model_path
        self.cache_root: Path | None = None  # the base model's training cache (tests)
        self.threads: int | None = None  # torch threads for training (None: torch's default)
        self.defaults = TrainConfig()
        self.worker = Worker("training", parent=self)
        self.report: Any = None  # DataReport of the loaded examples
        self.split: Any = None
        self.source: tuple[str, str] | None = None  # ("file", path) or ("conversations", "")
        self.job: Job | None = None
        self.run_dir: Path | None = None
        self.run_config: Any = None
        self.result: Any = None
        self.eval_report: Any = None
        self.errors: list[str] = []  # error sentences shown (tests)
        self._build()
        self.refresh_adapters()
        self._update_buttons()

    # ------------------------------------------------------------------ construction
    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("TeachSplitter")
        self.splitter.setChildrenCollapsible(False)
        outer.addWidget(self.splitter)

        # ---- left: the data
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(14, 12, 8, 12)
        lv.setSpacing(8)
        title = QLabel("TEACH THE ASSISTANT")
        title.setObjectName("PaneTitle")
        lv.addWidget(title)
        intro = QLabel("Train a small adapter on examples of the answers you want. It "
                       "stays on this computer and can be switched on or off at any time.")
        intro.setObjectName("Muted")
        intro.setWordWrap(True)
        lv.addWidget(intro)
        row = QHBoxLayout()
        self.file_button = QPushButton("Choose a JSONL file…")
        self.file_button.setToolTip('One example a line: {"prompt": "...", "response": "..."} '
                                    '(optional "sources"), or {"messages": [...]}')
        self.file_button.clicked.connect(self.choose_file)
        self.conversations_button = QPushButton("Use my rated answers")
        self.conversations_button.setToolTip("Answers you marked good, and answers you "
                                             "corrected (the correction is what it learns)")
        self.conversations_button.clicked.connect(self.load_conversations)
        row.addWidget(self.file_button)
        row.addWidget(self.conversations_button)
        row.addStretch(1)
        lv.addLayout(row)
        self.pii_box = QCheckBox("Remove personal details (e-mail addresses, phone numbers, …)")
        self.pii_box.setChecked(True)
        self.pii_box.toggled.connect(lambda _: self.reload())
        lv.addWidget(self.pii_box)
        self.data_summary = QLabel("No examples loaded yet.")
        self.data_summary.setWordWrap(True)
        self.data_summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lv.addWidget(self.data_summary)
        checks_title = QLabel("CHECKS")
        checks_title.setObjectName("SidebarTitle")
        lv.addWidget(checks_title)
        self.checks = QListWidget()
        self.checks.setObjectName("TeachChecks")
        self.checks.setWordWrap(True)
        self.checks.setMaximumHeight(96)
        lv.addWidget(self.checks)
        self.pii_label = QLabel()
        self.pii_label.setObjectName("Muted")
        self.pii_label.setWordWrap(True)
        lv.addWidget(self.pii_label)
        split_title = QLabel("TRAIN / VALIDATION SPLIT")
        split_title.setObjectName("SidebarTitle")
        lv.addWidget(split_title)
        self.split_note = QLabel()
        self.split_note.setObjectName("Muted")
        self.split_note.setWordWrap(True)
        lv.addWidget(self.split_note)
        self.split_table = QTableWidget(0, 3)
        self.split_table.setObjectName("SplitTable")
        self.split_table.setHorizontalHeaderLabels(["Example", "Answer", "Set"])
        self.split_table.verticalHeader().hide()
        self.split_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.split_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.split_table.setWordWrap(False)
        header = self.split_table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        lv.addWidget(self.split_table, 1)
        adapters_title = QLabel("YOUR ADAPTERS")
        adapters_title.setObjectName("SidebarTitle")
        lv.addWidget(adapters_title)
        self.adapters = QTableWidget(0, 4)
        self.adapters.setObjectName("AdapterTable")
        self.adapters.setHorizontalHeaderLabels(["Name", "Date", "Examples", "Final loss"])
        self.adapters.verticalHeader().hide()
        self.adapters.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.adapters.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.adapters.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.adapters.setMaximumHeight(120)
        ah = self.adapters.horizontalHeader()
        ah.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c in (1, 2, 3):
            ah.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        self.adapters.itemSelectionChanged.connect(self._update_buttons)
        self.adapters.itemDoubleClicked.connect(lambda _: self.use_selected())
        lv.addWidget(self.adapters)
        arow = QHBoxLayout()
        self.adapter_status = QLabel()
        self.adapter_status.setObjectName("Muted")
        self.adapter_status.setWordWrap(True)
        arow.addWidget(self.adapter_status, 1)
        self.use_selected_button = QPushButton("Use")
        self.use_selected_button.clicked.connect(self.use_selected)
        self.remove_button = QPushButton("Remove…")
        self.remove_button.clicked.connect(self.remove_selected)
        self.off_button = QPushButton("Turn adapter off")
        self.off_button.clicked.connect(lambda: self.use_adapter.emit(""))
        for b in (self.use_selected_button, self.remove_button, self.off_button):
            arow.addWidget(b)
        lv.addLayout(arow)
        self.splitter.addWidget(left)

        # ---- right: options, progress, report
        right_inner = QWidget()
        rv = QVBoxLayout(right_inner)
        rv.setContentsMargins(8, 12, 14, 12)
        rv.setSpacing(8)
        options = QGroupBox("Training options")
        form = QFormLayout(options)
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("my-style")
        form.addRow("Adapter name", self.name_edit)
        d = self.defaults
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 50)
        self.epochs.setValue(d.epochs)
        self.epochs.setToolTip("Passes over the training examples")
        form.addRow("Epochs", self.epochs)
        self.rank = QSpinBox()
        self.rank.setRange(1, 128)
        self.rank.setValue(d.rank)
        self.rank.setToolTip("Adapter size: higher learns more, and overfits sooner")
        form.addRow("Rank", self.rank)
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(5)
        self.lr.setRange(0.00001, 0.1)
        self.lr.setSingleStep(0.0001)
        self.lr.setValue(d.learning_rate)
        form.addRow("Learning rate", self.lr)
        self.advanced_button = QToolButton()
        self.advanced_button.setText("Advanced")
        self.advanced_button.setCheckable(True)
        self.advanced_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_button.setArrowType(Qt.ArrowType.RightArrow)
        self.advanced_button.toggled.connect(self._toggle_advanced)
        form.addRow(self.advanced_button)
        self.advanced = QWidget()
        af = QFormLayout(self.advanced)
        af.setContentsMargins(0, 0, 0, 0)
        self.alpha = QSpinBox()
        self.alpha.setRange(1, 256)
        self.alpha.setValue(d.alpha)
        af.addRow("Alpha", self.alpha)
        self.batch = QSpinBox()
        self.batch.setRange(1, 64)
        self.batch.setValue(d.batch_size)
        af.addRow("Batch size", self.batch)
        self.max_length = QSpinBox()
        self.max_length.setRange(32, 8192)
        self.max_length.setSingleStep(32)
        self.max_length.setValue(d.max_length)
        af.addRow("Max tokens per example", self.max_length)
        self.advanced.hide()
        form.addRow(self.advanced)
        rv.addWidget(options)

        brow = QHBoxLayout()
        self.train_button = QPushButton("Train")
        self.train_button.setObjectName("Primary")
        self.train_button.clicked.connect(lambda: self.start_training())
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Continue the cancelled run from its last checkpoint")
        self.resume_button.clicked.connect(lambda: self.start_training(resume=True))
        for b in (self.train_button, self.cancel_button, self.resume_button):
            brow.addWidget(b)
        brow.addStretch(1)
        rv.addLayout(brow)
        self.status = QLabel("Load examples to start.")
        self.status.setObjectName("TeachStatus")
        self.status.setWordWrap(True)
        rv.addWidget(self.status)
        self.bar = QProgressBar()
        self.bar.setTextVisible(False)
        self.bar.setMaximumHeight(8)
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        rv.addWidget(self.bar)
        self.curve = LossCurve()
        rv.addWidget(self.curve, 1)
        report_row = QHBoxLayout()
        report_title = QLabel("REPORT")
        report_title.setObjectName("SidebarTitle")
        report_row.addWidget(report_title)
        report_row.addStretch(1)
        self.evaluate_button = QPushButton("Evaluate")
        self.evaluate_button.setToolTip("Compare the base model and the adapter on the "
                                        "validation examples (takes a while)")
        self.evaluate_button.clicked.connect(lambda: self.evaluate())
        self.use_button = QPushButton("Use this adapter")
        self.use_button.setObjectName("Primary")
        self.use_button.clicked.connect(self.use_result)
        report_row.addWidget(self.evaluate_button)
        report_row.addWidget(self.use_button)
        rv.addLayout(report_row)
        self.report_view = QTextBrowser()
        self.report_view.setObjectName("TeachReport")
        self.report_view.setOpenLinks(False)
        self.report_view.setMinimumHeight(140)
        rv.addWidget(self.report_view, 1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(right_inner)
        self.splitter.addWidget(scroll)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)

    def _toggle_advanced(self, on: bool) -> None:
        self.advanced.setVisible(on)
        self.advanced_button.setArrowType(Qt.ArrowType.DownArrow if on
                                          else Qt.ArrowType.RightArrow)

    # ------------------------------------------------------------------ state
    @property
    def training(self) -> bool:
        return self.job is not None and not self.job.done

    def _update_buttons(self) -> None:
        busy = self.training
        has_data = self.split is not None and bool(self.split.train)
        self.train_button.setEnabled(has_data and not busy)
        self.cancel_button.setEnabled(busy)
        self.resume_button.setEnabled(not busy and self.run_dir is not None and
                                      self.result is None and
                                      (self.run_dir / "checkpoint").is_dir())
        self.file_button.setEnabled(not busy)
        self.conversations_button.setEnabled(not busy and self.history is not None)
        self.pii_box.setEnabled(not busy)
        done = self.result is not None and not busy
        self.use_button.setEnabled(done)
        self.evaluate_button.setEnabled(done and bool(self.split and self.split.validation))
        selected = self.selected_adapter() is not None
        self.use_selected_button.setEnabled(selected)
        self.remove_button.setEnabled(selected and not busy)
        self.off_button.setEnabled(bool(self.settings["lora_path"]))

    def _error(self, text: str) -> None:
        self.errors.append(text)
        self.status.setText(text)
        self.status.setStyleSheet(f"color: {theme.css(theme.bad())};")

    def _say(self, text: str) -> None:
        self.status.setStyleSheet("")
        self.status.setText(text)

    def _failed(self, what: str, fail: Failure) -> None:
        exc = fail.exception
        if isinstance(exc, UserError):
            self._error(str(exc))
        else:
            print(f"Knowledge Assistant: {what} failed:\n{fail.traceback}", file=sys.stderr)
            self._error(f"{what[0].upper()}{what[1:]} stopped because of a bug: "
                        f"{type(exc).__name__}: {exc}".rstrip(": ") + ".")

    # ------------------------------------------------------------------ data
    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose training examples",
                                              str(Path.home()),
                                              "JSON Lines (*.jsonl *.json);;All files (*)")
        if path:
            self.load_file(path)

    def load_file(self, path: str | Path) -> Job | None:
        self.source = ("file", str(path))
        return self.reload()

    def load_conversations(self) -> Job | None:
        self.source = ("conversations", "")
        return self.reload()

    def reload(self) -> Job | None:
        """(Re)load the current source with the current PII option, off the GUI thread."""
        if self.source is None:
            return None
        kind, where = self.source
        scrub = self.pii_box.isChecked()
        rows = self.history.training_examples() if kind == "conversations" and \
            self.history is not None else []

        def work(ctx: TaskContext) -> Any:
            from assistant.training import data

            if kind == "file":
                report = data.load_jsonl(where, scrub_pii=scrub)
            else:
                examples = data.examples_from_conversations(rows)
                if not examples:
                    raise UserError("None of your answers is marked good or corrected yet. "
                                    "Rate answers with 👍 or correct them in the chat, then "
                                    "come back.")
                report = data.prepare(examples, source="your rated answers", scrub_pii=scrub)
            return report, data.split_examples(report.examples,
                                               seed=self.defaults.seed,
                                               validation_fraction=self.defaults
                                               .validation_fraction)

        self._say("Reading the examples…")
        return run_task(work, success=self._show_data, failure=self._data_failed, owner=self,
                        name="teach-data")

    def _data_failed(self, fail: Failure) -> None:
        self.report, self.split = None, None
        self.checks.clear()
        self.split_table.setRowCount(0)
        self.data_summary.setText("No examples loaded.")
        self.pii_label.clear()
        self.split_note.clear()
        self._failed("reading the examples", fail)
        self._update_buttons()
        self.data_loaded.emit()

    def _show_data(self, result: tuple[Any, Any]) -> None:
        report, split = result
        self.report, self.split = report, split
        n = len(report.examples)
        self.data_summary.setText(
            f"<b>{n} example{'s' if n != 1 else ''}</b> ready from {report.source}"
            + (f" · {len(report.problems)} left out" if report.problems else ""))
        self.checks.clear()
        for problem in report.problems:
            item = QListWidgetItem(f"✕  {problem}")
            item.setData(Qt.ItemDataRole.UserRole, "bad")
            self.checks.addItem(item)
        for warning in report.warnings:
            item = QListWidgetItem(f"!  {warning}")
            item.setData(Qt.ItemDataRole.UserRole, "warn")
            self.checks.addItem(item)
        if not report.problems and not report.warnings:
            item = QListWidgetItem("✓  No problems found.")
            item.setData(Qt.ItemDataRole.UserRole, "good")
            self.checks.addItem(item)
        if not self.pii_box.isChecked():
            self.pii_label.setText("Personal details are kept as they are.")
        elif report.pii.removals:
            self.pii_label.setText(report.pii.summary())
        else:
            self.pii_label.setText("No personal details found.")
        self.split_note.setText(split.note or f"{len(split.train)} for training, "
                                f"{len(split.validation)} held out to check the result.")
        rows = [(e, "train") for e in split.train] + [(e, "validation")
                                                      for e in split.validation]
        self.split_table.setRowCount(len(rows))
        for r, (example, where) in enumerate(rows):
            prompt = QTableWidgetItem(shorten(example.prompt, 60))
            prompt.setToolTip(example.prompt if example.line is None
                              else f"line {example.line}: {example.prompt}")
            answer = QTableWidgetItem(shorten(example.response, 60))
            answer.setToolTip(example.response)
            place = QTableWidgetItem(where)
            for c, cell in enumerate((prompt, answer, place)):
                self.split_table.setItem(r, c, cell)
        self._recolor()
        if not self.name_edit.text().strip():
            stem = Path(self.source[1]).stem if self.source and self.source[0] == "file" \
                else "my-answers"
            self.name_edit.setText(stem)
        self._say("Ready to train." if split.train else "There is nothing to train on.")
        self._update_buttons()
        self.data_loaded.emit()

    def _recolor(self) -> None:
        """Palette-dependent colours (set again when the palette changes)."""
        colours = {"bad": theme.bad(), "warn": theme.warn(), "good": theme.good()}
        for i in range(self.checks.count()):
            item = self.checks.item(i)
            item.setForeground(colours.get(item.data(Qt.ItemDataRole.UserRole), theme.muted()))
        for r in range(self.split_table.rowCount()):
            cell = self.split_table.item(r, 2)
            if cell is not None and cell.text() == "validation":
                cell.setForeground(theme.accent())
        if self.errors and self.status.text() == self.errors[-1]:
            self.status.setStyleSheet(f"color: {theme.css(theme.bad())};")

    def changeEvent(self, event: QEvent) -> None:
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self._recolor()
            self.curve.update()
        super().changeEvent(event)

    # ------------------------------------------------------------------ training
    def config(self) -> Any:
        return replace(self.defaults, epochs=self.epochs.value(), rank=self.rank.value(),
                       learning_rate=float(self.lr.value()), alpha=self.alpha.value(),
                       batch_size=self.batch.value(), max_length=self.max_length.value(),
                       threads=self.threads)

    def start_training(self, config: Any = None, *, resume: bool = False) -> Job | None:
        """Train on the training worker; `config` overrides the options shown (tests)."""
        from assistant import paths

        if self.training or self.split is None:
            return None
        if resume:
            if self.run_dir is None or self.run_config is None:
                return None
            config, out_dir = self.run_config, self.run_dir
        else:
            try:
                config = config or self.config()
            except ValueError as exc:
                self._error(f"These options cannot be used: {exc}.")
                return None
            root = paths.adapters_dir()
            out_dir = root / new_adapter_name(root, self.name_edit.text() or "adapter")
            self.run_dir, self.run_config = out_dir, config
            self.curve.clear()
        self.result = None
        self.eval_report = None
        self.report_view.clear()
        split, setting = self.split, self.settings["model_path"]
        injected, cache = self.injected_model, self.cache_root

        def work(ctx: TaskContext) -> Any:
            from assistant.training.train import train

            base = base_model_path(setting, injected)
            return train(split, config, base, out_dir, progress=ctx.progress,
                         cancel=ctx.cancel, resume=resume, cache_root=cache)

        self.bar.setRange(0, 0)
        self._say("Resuming…" if resume else "Starting…")
        self.job = self.worker.submit(work, name="train", success=self._trained,
                                      failure=self._train_failed, progress=self._progress,
                                      owner=self)
        self._update_buttons()
        return self.job

    def _progress(self, event: Any) -> None:
        if event.total_steps:
            self.bar.setRange(0, event.total_steps)
            self.bar.setValue(event.step)
        if event.phase == "loading":
            self._say("Loading the base model (the first time takes about a minute)…")
        elif event.phase == "validating":
            self._say(f"Step {event.step} of {event.total_steps} · checking the validation "
                      "examples…")
        elif event.phase == "saving":
            self._say(f"Step {event.step} of {event.total_steps} · {event.message.lower()}…")
        elif event.phase == "training":
            parts = [f"Step {event.step} of {event.total_steps}"]
            if event.loss is not None:
                parts.append(f"loss {fmt_loss(event.loss)}")
            if event.val_loss is not None:
                parts.append(f"validation loss {fmt_loss(event.val_loss)}")
            if event.eta_s is not None and event.step < event.total_steps:
                parts.append(f"about {fmt_seconds(event.eta_s) or '1 s'} left")
            self._say(" · ".join(parts))
            self.curve.add(event.step, event.loss, event.val_loss, event.total_steps)

    def _trained(self, result: Any) -> None:
        self.result = result
        self.bar.setRange(0, max(1, result.total_steps))
        self.bar.setValue(result.total_steps)
        if not self.curve.points:  # e.g. resumed from the very end
            for s in result.report.get("loss_per_step", []):
                self.curve.add(s["step"], s["loss"], total=result.total_steps)
        self._say(f"Done: {result.out_dir.name} trained in "
                  f"{fmt_seconds(result.duration_s) or '1 s'}. Use it now, or evaluate it "
                  "first.")
        self.show_report()
        self.refresh_adapters()
        self._update_buttons()
        self.training_finished.emit(result)

    def _train_failed(self, fail: Failure) -> None:
        if fail.is_cancelled:
            text = str(fail.exception) or "Training stopped."
            self._say(f"{text} Resume continues from where it stopped.")
            self.bar.setRange(0, 1)
        else:
            self.bar.setRange(0, 1)
            self.bar.setValue(0)
            self._failed("training", fail)
        self._update_buttons()
        self.training_finished.emit(None)

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self._say("Stopping after this step…")

    # ------------------------------------------------------------------ report & evaluation
    def show_report(self) -> None:
        result = self.result
        if result is None:
            return
        r = result.report
        lines = [f"### {result.out_dir.name}", ""]
        data = r.get("data", {})

        num = fmt_loss
        lines += [
            f"- **Examples:** {data.get('train', '?')} for training, "
            f"{data.get('validation', '?')} for validation",
            f"- **Steps:** {r.get('steps', result.total_steps)} in "
            f"{fmt_seconds(float(r.get('train_seconds') or 0)) or '—'} on {r.get('device', '?')}",
            f"- **Training loss (last epoch):** {num(result.train_loss)}",
            f"- **Validation loss:** {num(result.val_loss_before)} before → "
            f"{num(result.val_loss_after)} after",
            f"- **Settings:** rank {r.get('settings', {}).get('rank')}, "
            f"{r.get('settings', {}).get('epochs')} epochs, learning rate "
            f"{r.get('settings', {}).get('learning_rate')}",
            f"- **Files:** `{result.adapter_gguf}`",
        ]
        text = "\n".join(lines)
        if self.eval_report is not None:
            text += "\n\n" + self.eval_report.to_markdown()
        self.report_view.setMarkdown(text)

    def evaluate(self, **kwargs: Any) -> Job | None:
        """Run the 2x2 evaluation on the validation split (training worker)."""
        if self.result is None or self.training or not self.split or \
                not self.split.validation:
            return None
        validation, adapter = list(self.split.validation), self.result.adapter_gguf
        out_dir, setting, injected = self.result.out_dir, self.settings["model_path"], \
            self.injected_model

        def work(ctx: TaskContext) -> Any:
            from assistant.training.evaluate import evaluate, save_report

            base = base_model_path(setting, injected)
            report = evaluate(validation, base, adapter,
                              progress=lambda d, t: ctx.progress((d, t)), cancel=ctx.cancel,
                              **kwargs)
            save_report(report, out_dir)
            return report

        def progress(payload: tuple[int, int]) -> None:
            done, total = payload
            self.bar.setRange(0, max(1, total))
            self.bar.setValue(done)
            self._say(f"Evaluating: {done} of {total} answers…")

        def success(report: Any) -> None:
            self.eval_report = report
            self._say("Evaluation finished; see the report below.")
            self.show_report()
            self._update_buttons()
            self.evaluation_finished.emit(report)

        def failure(fail: Failure) -> None:
            if fail.is_cancelled:
                self._say("Evaluation stopped.")
            else:
                self._failed("the evaluation", fail)
            self._update_buttons()
            self.evaluation_finished.emit(None)

        self.bar.setRange(0, 0)
        self._say("Evaluating…")
        self.job = self.worker.submit(work, name="evaluate", success=success, failure=failure,
                                      progress=progress, owner=self)
        self._update_buttons()
        return self.job

    # ------------------------------------------------------------------ adapters
    def refresh_adapters(self) -> None:
        from assistant import paths

        self.adapter_list = list_adapters(paths.adapters_dir())
        active = self.settings["lora_path"]
        self.adapters.setRowCount(len(self.adapter_list))
        for r, info in enumerate(self.adapter_list):
            in_use = bool(active) and Path(active) == info.path
            cells = [info.name + ("  (in use)" if in_use else ""), info.date,
                     "—" if info.examples is None else str(info.examples),
                     fmt_loss(info.final_loss)]
            for c, value in enumerate(cells):
                item = QTableWidgetItem(value)
                item.setData(Qt.ItemDataRole.UserRole, str(info.path))
                if in_use:
                    f = item.font()
                    f.setBold(True)
                    item.setFont(f)
                if c == 0:
                    item.setToolTip(str(info.path))
                self.adapters.setItem(r, c, item)
        if active:
            self.adapter_status.setText(f"In use: {Path(active).parent.name or Path(active).name}"
                                        f" ×{float(self.settings['lora_scale']):.2g}")
        else:
            self.adapter_status.setText("No adapter in use." if self.adapter_list
                                        else "No adapters yet.")
        self._update_buttons()
        self.adapters_changed.emit()

    def selected_adapter(self) -> AdapterInfo | None:
        rows = {i.row() for i in self.adapters.selectedIndexes()}
        if len(rows) != 1:
            return None
        row = rows.pop()
        return self.adapter_list[row] if 0 <= row < len(self.adapter_list) else None

    def use_selected(self) -> None:
        info = self.selected_adapter()
        if info is not None:
            self.use_adapter.emit(str(info.path))

    def use_result(self) -> None:
        if self.result is not None:
            self.use_adapter.emit(str(self.result.adapter_gguf))

    def remove_selected(self, *, confirm: bool = True) -> None:
        info = self.selected_adapter()
        if info is None:
            return
        if confirm and not dialogs.confirm(
                self, "Remove adapter", f"Delete the adapter “{info.name}” and its training "
                "report? This cannot be undone.", "Remove"):
            return
        if self.settings["lora_path"] and Path(self.settings["lora_path"]) == info.path:
            self.use_adapter.emit("")  # stop using it first
        try:
            shutil.rmtree(info.path.parent)
        except OSError as exc:
            self._error(f"The adapter “{info.name}” could not be removed: "
                        f"{exc.strerror or exc}.")
        if self.result is not None and self.result.out_dir == info.path.parent:
            self.result = None
        self.refresh_adapters()

    # ------------------------------------------------------------------ lifetime
    def shutdown(self, timeout_s: float = 30.0) -> None:
        self.worker.stop(timeout_s)
