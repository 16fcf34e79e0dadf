"""Sharing the library with other apps on this computer (issue 22): the Settings switch "Let
other apps on this computer use my library" runs `assistant.server.BackgroundServer` on
127.0.0.1 while it is on; the status bar says so with the address, and "Requests from other
apps…" shows the server's recent request log.

The server uses the window's settings and embedder (one embedder in memory); its model loads
with the first answer it is asked for, not when the switch is turned on.
"""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from assistant.gui.controllers.context import AppContext
from assistant.server import DEFAULT_PORT

SETTING = "serve_library"
HOST = "127.0.0.1"


class SharingController(QObject):
    """Owns the server, the status bar's `label` and the `log_action`."""

    def __init__(self, context: AppContext) -> None:
        super().__init__(context.window)
        self.context = context
        self.settings = context.settings
        self.port = DEFAULT_PORT  # tests choose a free one
        self.server: Any = None  # a running BackgroundServer, or None
        self.problem = ""  # the last start's failure, as a sentence
        self.label = QLabel()
        self.label.setObjectName("SharingLabel")
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.label.linkActivated.connect(lambda _link: self.show_log())
        self.label.hide()
        self.log_action = context.action("Requests from Other Apps…", self.show_log,
                                         tip="What other apps on this computer asked the "
                                             "library")
        self.log_action.setEnabled(False)
        self.dialog: RequestLogDialog | None = None

    @property
    def running(self) -> bool:
        return self.server is not None and bool(self.server.running)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def apply(self) -> None:
        """Start or stop the server as the setting says."""
        if self.settings[SETTING]:
            self.start()
        else:
            self.stop()

    def settings_changed(self, changed: set[str]) -> None:
        if SETTING in changed:
            self.apply()

    def start(self) -> bool:
        if self.running:
            return True
        from assistant.errors import UserError
        from assistant.server import BackgroundServer, Library, ServeConfig

        backend = self.context.backend
        self.problem = ""
        library = Library(self.settings, embedder=backend.embedder,
                          model_path=backend.default_model_path)
        try:
            server = BackgroundServer(ServeConfig(host=HOST, port=self.port), library=library)
            server.start(timeout=10.0)  # binding takes milliseconds; failing, it stops
        except (UserError, OSError, SystemExit):
            library.close()
            self.problem = (f"Other apps cannot use your library: port {self.port} on this "
                            "computer is already in use by another program.")
            self.server = None
            self._show()
            self.context.tell(self.problem)
            return False
        self.server = server
        self._show()
        self.context.notify(f"Other apps on this computer can now use your library at "
                            f"{self.url}/v1.", 8000)
        return True

    def stop(self) -> None:
        server, self.server = self.server, None
        self.problem = ""
        if server is not None:
            server.stop()
        self._show()

    def _show(self) -> None:
        if self.running:
            text = f"Sharing with other apps at {self.url}"
            self.label.setText(f'<a href="log">{text}</a>')
            self.label.setToolTip(f"{text}/v1 (OpenAI-compatible). Click to see the requests; "
                                  "turn it off in Settings.")
            self.label.show()
        elif self.problem:
            self.label.setText(f"⚠ Not sharing: port {self.port} is in use")
            self.label.setToolTip(self.problem)
            self.label.show()
        else:
            self.label.clear()
            self.label.hide()
        self.log_action.setEnabled(self.running)

    def requests(self) -> list[Any]:
        return self.server.requests if self.server is not None else []

    def show_log(self) -> RequestLogDialog:
        if self.dialog is None:
            self.dialog = RequestLogDialog(self, self.context.window)
            self.dialog.finished.connect(self._log_closed)
        elif self.dialog.isVisible():
            self.dialog.raise_()  # open already: bring it to the front
        self.dialog.refresh()
        self.dialog.show()
        return self.dialog

    def _log_closed(self) -> None:
        if self.dialog is not None:
            self.dialog.deleteLater()
            self.dialog = None

    def shutdown(self) -> None:
        if self.dialog is not None:
            self.dialog.close()
        self.stop()


class RequestLogDialog(QDialog):
    """The server's recent requests, newest first, refreshed every second while open."""

    def __init__(self, sharing: SharingController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.sharing = sharing
        self.setObjectName("RequestLogDialog")
        self.setWindowTitle("Requests from Other Apps")
        self.setMinimumSize(480, 260)
        self.resize(640, 380)
        layout = QVBoxLayout(self)
        self.intro = QLabel()
        self.intro.setWordWrap(True)
        layout.addWidget(self.intro)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Time", "Request", "Status", "Seconds"])
        self.tree.setRootIsDecorated(False)
        self.tree.setAlternatingRowColors(True)
        header = self.tree.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.ResizeToContents)
        layout.addWidget(self.tree, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self._shown: tuple[int, float] | None = None
        self.timer = QTimer(self)
        self.timer.setInterval(1000)
        self.timer.timeout.connect(self.refresh)
        self.timer.start()

    def refresh(self) -> None:
        records = self.sharing.requests()
        n = len(records)
        if self.sharing.running:
            self.intro.setText(f"Other apps on this computer reach your library at "
                               f"{self.sharing.url}/v1. "
                               + ("No requests yet." if not n else
                                  "One request so far." if n == 1 else
                                  f"The latest {n} requests, newest first."))
        else:
            self.intro.setText("Sharing is off: other apps cannot use your library. Turn it "
                               "on in Settings.")
        key = (n, records[-1].time if records else 0.0)
        if key == self._shown:
            return
        self._shown = key
        self.tree.clear()
        for record in reversed(records):
            item = QTreeWidgetItem([
                time.strftime("%H:%M:%S", time.localtime(record.time)),
                f"{record.method} {record.path}", str(record.status),
                f"{record.seconds:.2f}"])
            self.tree.addTopLevelItem(item)
