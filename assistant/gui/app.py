"""Start the desktop app: `main(argv) -> exit code`.

Creates the QApplication (name, organisation, icon, high-DPI, the palette-aware style sheet
that follows the system's light/dark scheme), installs an excepthook that shows unexpected
errors in a dialog whose report can be copied, and runs the main window. Files or folders
given on the command line (or by a desktop launcher) are added to the library.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence
from types import TracebackType

from assistant import __version__

APP_NAME = "Knowledge Assistant"
ORG_NAME = "KnowledgeAssistant"
DESKTOP_FILE = "knowledge-assistant"


def install_excepthook() -> None:
    """Unexpected exceptions on the GUI thread become a copyable report, never a silent exit."""
    previous = sys.excepthook

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            previous(kind, exc, tb)
            return
        details = "".join(traceback.format_exception(kind, exc, tb))
        sys.stderr.write(details)
        try:
            from PySide6.QtWidgets import QApplication

            from assistant.gui.dialogs import show_bug

            if QApplication.instance() is not None:
                show_bug(QApplication.activeWindow(), exc, details)
        except Exception:
            pass

    sys.excepthook = hook


def create_application(argv: Sequence[str] | None = None) -> object:
    from PySide6.QtCore import QCoreApplication, Qt
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    from assistant.gui import theme

    app = QApplication.instance()
    if app is None:
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
            Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        app = QApplication([sys.argv[0] if sys.argv else "knowledge-assistant",
                            *(argv or [])])
    QCoreApplication.setApplicationName(APP_NAME)
    QCoreApplication.setOrganizationName(ORG_NAME)
    QCoreApplication.setApplicationVersion(__version__)
    QGuiApplication.setApplicationDisplayName(APP_NAME)
    QGuiApplication.setDesktopFileName(DESKTOP_FILE)
    assert isinstance(app, QApplication)
    app.setWindowIcon(theme.app_icon())
    if sys.platform.startswith("linux") and "Fusion" in _styles() and \
            not os.environ.get("QT_STYLE_OVERRIDE"):
        app.setStyle("Fusion")  # follows the palette (and so light/dark) everywhere
    theme.apply(app)
    app.styleHints().colorSchemeChanged.connect(lambda *_: theme.apply(app))
    return app


def _styles() -> list[str]:
    from PySide6.QtWidgets import QStyleFactory

    return list(QStyleFactory.keys())


def main(argv: Sequence[str] | None = None) -> int:
    """Open the window; `argv` may name files or folders to add. Returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    paths = [a for a in args if not a.startswith("-")]
    install_excepthook()
    app = create_application([a for a in args if a.startswith("-")])

    from assistant.errors import UserError
    from assistant.gui.mainwindow import MainWindow
    from assistant.settings import Settings

    try:
        window = MainWindow(Settings(), initial_paths=[os.path.abspath(p) for p in paths])
    except UserError as exc:
        from PySide6.QtWidgets import QMessageBox

        QMessageBox.critical(None, APP_NAME, str(exc))
        return 1
    window.show()
    quit_after = os.environ.get("ASSISTANT_QUIT_AFTER_MS")  # smoke tests: start, then quit
    if quit_after and quit_after.isdigit():
        from PySide6.QtCore import QTimer

        QTimer.singleShot(int(quit_after), app.quit)  # type: ignore[attr-defined]
    code = app.exec()  # type: ignore[attr-defined]
    window.close()  # stops the workers and saves the layout (closeEvent -> shutdown)
    window.shutdown()
    return int(code)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
