"""The settings dialog's "Library" choice: this computer, or a team library on PostgreSQL.

A thin layer over `assistant.store.team`: the test runs `check_library` on the thread pool
(a server that does not answer must not freeze the window) and shows its sentence; saving
goes through `use_library`, the same path as `assistant library use` and `library password`
(the address in the settings file, the password in the system keyring, never in a file).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from assistant.gui import theme
from assistant.gui.tasks import Failure, Job, run_task

LOCAL, TEAM = "local", "team"
CHOICES = ((LOCAL, "This computer"), (TEAM, "Team library (PostgreSQL)"))
PLACEHOLDER = "postgresql://you@server:5432/library"


class LibraryField(QWidget):
    """Where the library lives, the team library's address and password, and a test."""

    tested = Signal(object)  # the LibraryCheck of the last test

    def __init__(self, url: str | None, embedder: str | None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("LibraryField")
        self.saved_url = url or ""
        self.embedder = embedder
        self.last: tuple[tuple[str, str], Any] | None = None  # (address, password), check
        self._job: Job | None = None
        self._then: Callable[[Any], None] | None = None
        self.choice = QComboBox()
        self.choice.setObjectName("setting_library")
        for key, text in CHOICES:
            self.choice.addItem(text, key)
        self.choice.setToolTip("This computer's own library, or one on a PostgreSQL server "
                               "that several copies of the app share.")
        self.url = QLineEdit()
        self.url.setObjectName("setting_library_url")
        self.url.setPlaceholderText(PLACEHOLDER)
        self.url.setToolTip("The server's address; TLS options such as ?sslmode=verify-full "
                            "pass through. The password goes in its own field.")
        self.password = QLineEdit()
        self.password.setObjectName("setting_library_password")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setClearButtonEnabled(True)
        self.password.setToolTip("Kept in the system keyring, never in the settings file.")
        self.test_button = QPushButton("Test connection")
        self.test_button.setObjectName("library_test")
        self.test_button.clicked.connect(lambda: self.test())
        self.result = QLabel()
        self.result.setObjectName("library_result")
        self.result.setWordWrap(True)
        self.result.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.result.hide()
        self.note = QLabel("Several copies of the app index into and ask one shared library. "
                           "The password is kept in the system keyring.")
        self.note.setObjectName("Muted")
        self.note.setWordWrap(True)
        v = QVBoxLayout(self)
        v.setContentsMargins(0, 0, 0, 6)
        v.setSpacing(4)
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.choice)
        top.addStretch(1)
        v.addLayout(top)
        # each label above its field: an address is long, and gets the column's whole width
        self.address_label, self.password_label = QLabel("Address:"), QLabel("Password:")
        for label, edit in ((self.address_label, self.url),
                            (self.password_label, self.password)):
            label.setBuddy(edit)
            v.addWidget(label)
            v.addWidget(edit)
        test = QHBoxLayout()
        test.setContentsMargins(0, 0, 0, 0)
        test.addWidget(self.test_button)
        test.addStretch(1)
        v.addLayout(test)
        v.addWidget(self.result)
        v.addWidget(self.note)
        self.choice.currentIndexChanged.connect(self._follow)
        self.url.textChanged.connect(self._forget)
        self.password.textChanged.connect(self._forget)
        self.load(url)

    # --- state ---------------------------------------------------------------------------
    def load(self, url: str | None) -> None:
        self.choice.setCurrentIndex(1 if url else 0)
        self.url.setText(url or "")
        self.password.clear()
        self._show_saved_password(url or "")
        self._follow()

    def _show_saved_password(self, url: str) -> None:
        from assistant.store.pg_connect import PASSWORD_ENV, find_password

        if os.environ.get(PASSWORD_ENV):
            self.password.setPlaceholderText(f"Set by {PASSWORD_ENV}")
        elif url and find_password(url):
            self.password.setPlaceholderText("Saved in the system keyring")
        else:
            self.password.setPlaceholderText("No password saved")

    @property
    def team(self) -> bool:
        return self.choice.currentData() == TEAM

    def value(self) -> str | None:
        """The chosen library: a team library's address, or None for this computer's."""
        return self.url.text().strip() if self.team else None

    def typed_password(self) -> str:
        return self.password.text()

    def changed(self) -> bool:
        return (self.value() or "") != self.saved_url or bool(self.typed_password())

    def _follow(self, *_: Any) -> None:
        on = self.team
        for widget in (self.url, self.password, self.test_button, self.address_label,
                       self.password_label):
            widget.setEnabled(on)
        if not on:
            self.result.hide()

    def _forget(self, *_: Any) -> None:
        self.last = None
        self.result.hide()

    def passed(self) -> bool:
        """The current address and password were tested, and the test passed."""
        key = (self.url.text().strip(), self.typed_password())
        return self.last is not None and self.last[0] == key and self.last[1].ok

    # --- the test ------------------------------------------------------------------------
    def testing(self) -> bool:
        return self._job is not None and not self._job.done

    def test(self, then: Callable[[Any], None] | None = None) -> Job:
        """Test the address on the thread pool; the sentence shows under the button, and
        `then(check)` runs after it (Save uses it to carry on)."""
        from assistant.store.team import check_library

        if self._job is not None and not self._job.done:
            self._job.cancel()
        url, password = self.url.text().strip(), self.typed_password()
        embedder = self.embedder
        self._then = then
        self.test_button.setEnabled(False)
        self.test_button.setText("Testing…")
        self._say("Connecting…", None)

        def work(_: Any) -> Any:
            return check_library(url, password=password or None, embedder=embedder)

        def done(check: Any) -> None:
            self.last = ((url, password), check)
            self._say(check.sentence, check.ok)
            self.tested.emit(check)
            if self._then is not None:
                then_, self._then = self._then, None
                then_(check)

        def failed(fail: Failure) -> None:  # a bug in the check itself: still a sentence
            from assistant.store.team import LibraryCheck

            done(LibraryCheck(False, "The connection could not be tested; the error is in "
                                     "the app's log."))
            logging.getLogger(__name__).error("testing %s failed:\n%s", url, fail.traceback)

        def finished() -> None:
            self.test_button.setText("Test connection")
            self.test_button.setEnabled(self.team)

        self._job = run_task(work, success=done, failure=failed, finished=finished,
                             owner=self, name="test-library")
        return self._job

    def _say(self, text: str, ok: bool | None) -> None:
        color = theme.muted() if ok is None else theme.good() if ok else theme.bad()
        self.result.setStyleSheet(f"color: {theme.css(color)};")
        self.result.setText(text)
        self.result.show()

    def show_problem(self, text: str) -> None:
        self._say(text, False)
