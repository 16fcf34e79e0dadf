"""Settings, adapters and the model they configure: the settings dialog, switching the LoRA
adapter in use, and the model's state in the status bar.

Changed settings reach the live model through the backend (a new model reloads; a new adapter
is swapped in place from the next answer), so nothing here restarts the app.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QLabel, QProgressBar

from assistant.errors import UserError
from assistant.gui.backend import ModelState
from assistant.gui.controllers.context import AppContext
from assistant.gui.controllers.library import LibraryController
from assistant.gui.settingsdialog import SettingsDialog
from assistant.store.backend import SETTING as LIBRARY_SETTING
from assistant.store.backend import default_target

READY_PREFIX = "Model ready: "  # what the backend's "ready" message starts with


class SettingsController(QObject):
    """Owns the settings action and the status bar's `model_label` and `model_bar`."""

    applied = Signal(object)  # the names of the settings just saved and applied

    def __init__(self, context: AppContext, library: LibraryController) -> None:
        super().__init__(context.window)
        self.context = context
        self.settings = context.settings
        self.backend = context.backend
        self.library = library
        self._warming = False
        self._library_in_use = default_target(self.settings)  # what the workers have open
        self.settings_action = context.action("Settings…", self.open_settings, "Ctrl+,",
                                              "Model, adapter and answer settings")
        self.model_label = QLabel()
        self.model_label.setObjectName("Muted")
        self.model_bar = QProgressBar()
        self.model_bar.setFixedWidth(140)
        self.model_bar.setMaximumHeight(10)
        self.model_bar.setTextVisible(False)
        self.model_bar.hide()
        self.backend.model_state.connect(self.show_model_state)
        self.show_model_state(self.backend.state)

    # ------------------------------------------------------------------ settings
    def open_settings(self) -> SettingsDialog:
        dialog = SettingsDialog(self.settings, self.library.collection_names(),
                                self.context.window, embedder=self.backend.embedder.identity)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self.apply_settings(dialog.changed))
        dialog.open()
        return dialog

    def apply_settings(self, changed: set[str]) -> None:
        """Act on saved settings: the model reloads, the library follows the collection."""
        if not changed:
            return
        self.backend.apply_settings(changed)
        if LIBRARY_SETTING in changed:
            self.switch_library()
        if "collection" in changed:
            self.library.show_active_collection()
        if changed & {"lora_path", "lora_scale"}:
            self.context.notify("The adapter applies from the next answer.", 6000)
        self.applied.emit(set(changed))

    def switch_library(self) -> None:
        """The library chosen in the settings: every worker reopens its store on it, then the
        listings are read again. Where it cannot be opened (the server went away since the
        test), the choice goes back to the library in use, in a sentence, and any worker
        that had switched already switches back, so the window never mixes two libraries."""
        from assistant.store.pg_connect import redacted
        from assistant.store.team import failure_sentence, use_library

        url = default_target(self.settings)
        where = f"the team library at {redacted(url)}" if url else "this computer's library"
        previous = self._library_in_use

        def done(_: Any) -> None:
            self._library_in_use = url
            self.library.refresh()
            self.context.notify(f"Now using {where}.", 8000)

        def failed(fail: Any) -> None:
            try:
                use_library(previous, settings=self.settings)
            except (UserError, OSError):
                pass  # the sentence below still says what is in use
            self.backend.switch_library(success=lambda _: self.library.refresh(),
                                        failure=self.context.report)
            if isinstance(fail.exception, UserError):  # in the words of the dialog's test
                said = failure_sentence(fail.exception, redacted(url)) if url else \
                    str(fail.exception)
                self.context.tell(f"{said} The library that was open stays in use.")
            else:
                self.context.report(fail)

        self.backend.switch_library(success=done, failure=failed)

    def use_adapter(self, path: str) -> None:
        """Switch the adapter (empty: none) as the settings dialog would: saved, and applied
        on the live model from the next answer, without reloading it."""
        values: dict[str, Any] = {"lora_path": path}
        if path and not float(self.settings["lora_scale"]) > 0:
            values["lora_scale"] = 1.0
        changed = {n for n, v in values.items() if self.settings.values.get(n) != v}
        for name, value in values.items():
            self.settings.values[name] = value
        try:
            self.settings.save()
        except OSError as exc:
            self.context.tell(f"The settings could not be saved to {self.settings.path}: "
                              f"{exc.strerror or exc}.")
        self.apply_settings(changed)
        if changed:
            self.context.notify(
                f"Adapter {Path(path).parent.name} in use from the next answer." if path
                else "Adapter turned off from the next answer.", 8000)

    # ------------------------------------------------------------------ model status
    @property
    def model_name(self) -> str:
        """The model as the status bar names it (saved with each answer)."""
        return self.model_label.text().removeprefix(READY_PREFIX)

    def show_model_state(self, state: ModelState) -> None:
        self.model_label.setText(state.message)
        self.model_label.setToolTip(state.message)
        if state.phase == "preparing" and state.total:
            self.model_bar.setRange(0, 1000)
            self.model_bar.setValue(int(1000 * state.done / state.total))
            self.model_bar.show()
            mb = 1024 * 1024
            self.model_label.setText(f"{state.message} {state.done // mb} of "
                                     f"{state.total // mb} MB")
        elif state.phase == "loading":
            self.model_bar.setRange(0, 0)
            self.model_bar.show()
        else:
            self.model_bar.hide()
        if state.phase == "failed":
            self.model_label.setText(f"⚠ {state.message}")
            self.context.notify(state.message, 30_000)
        elif state.phase == "ready" and not self.backend.embedder.loaded and \
                not self._warming:
            # Every question and every drop needs the embedder; loading it now, while the
            # window is still new, keeps its ~10 s load out of the first question.
            self._warming = True
            self.backend.warm_up_embedder()
