"""Teach: the page that trains a LoRA adapter on the user's own examples.

The page runs its own training worker (see `gui/teach.py`); this controller only places it in
the window and hands "use this adapter" to the settings, which own the adapter in use.
"""

from __future__ import annotations

from PySide6.QtCore import QObject

from assistant.gui.controllers.context import AppContext
from assistant.gui.controllers.settings import SettingsController
from assistant.gui.teach import TeachPage


class TeachController(QObject):
    """Owns `page` (the Teach page)."""

    def __init__(self, context: AppContext, settings: SettingsController) -> None:
        super().__init__(context.window)
        self.settings = settings
        self.page = TeachPage(context.settings, history=context.history,
                              model_path=context.backend.default_model_path)
        self.page.use_adapter.connect(self.use_adapter)

    def use_adapter(self, path: str) -> None:
        """Use the adapter at `path` (empty: none) from the next answer."""
        self.settings.use_adapter(path)
        self.page.refresh_adapters()

    def refresh(self) -> None:
        """The page is shown: list the adapters as they are on disk now."""
        self.page.refresh_adapters()

    def shutdown(self) -> None:
        self.page.shutdown()
