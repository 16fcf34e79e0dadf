"""Start the desktop app: `main(argv) -> exit code`.

Creates the QApplication (name, organisation, icon, high-DPI, the palette-aware style sheet
that follows the system's light/dark scheme), installs an excepthook that shows unexpected
errors in a dialog whose report can be copied, and runs the main window. Files or folders
given on the command line (or by a desktop launcher) are added to the library.

Before Qt starts on Linux, the system libraries Qt's xcb platform plugin needs are looked for,
so a missing one is named in a sentence instead of Qt's "could not load the platform plugin".
`--self-test` (installers' smoke test) opens the window, opens a PDF at a page, answers one
question through the window's own controllers, prints one JSON line of timings and exits 0.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from assistant import __version__

APP_NAME = "Knowledge Assistant"
ORG_NAME = "KnowledgeAssistant"
DESKTOP_FILE = "knowledge-assistant"

# What Qt's xcb platform plugin loads, and the Debian/Ubuntu package that has it.
XCB_LIBRARIES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
}


def display_problem() -> str | None:
    """Why the window cannot open on this Linux desktop (None when it can, or elsewhere)."""
    if not sys.platform.startswith("linux"):
        return None
    platform_name = os.environ.get("QT_QPA_PLATFORM", "")
    if platform_name and not platform_name.startswith("xcb"):
        return None  # offscreen, wayland, ...: not the xcb plugin
    if not platform_name and os.environ.get("WAYLAND_DISPLAY"):
        return None  # Qt uses its Wayland plugin there
    if not os.environ.get("DISPLAY"):
        return ("Knowledge Assistant needs a graphical desktop and found none (DISPLAY is not "
                "set). In a terminal, the `assistant` command works without one.")
    missing = []
    for soname in XCB_LIBRARIES:
        try:
            ctypes.CDLL(soname)
        except OSError:
            missing.append(soname)
    if not missing:
        return None
    packages = " ".join(XCB_LIBRARIES[name] for name in missing)
    return (f"Knowledge Assistant cannot open its window: the system "
            f"{'library' if len(missing) == 1 else 'libraries'} {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} missing. Install "
            f"{'it' if len(missing) == 1 else 'them'} with your package manager (on Debian "
            f"and Ubuntu: sudo apt install {packages}), then start the app again.")


def tell_without_qt(message: str) -> None:
    """Say `message` on stderr and, where a desktop dialog tool exists, in a dialog."""
    sys.stderr.write(message + "\n")
    for tool in (["zenity", "--error", "--no-wrap", "--text"], ["kdialog", "--error"],
                 ["xmessage", "-center"]):
        if shutil.which(tool[0]):
            try:
                subprocess.run([*tool, message], timeout=600, check=False,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            except (OSError, subprocess.SubprocessError):
                continue
            return


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


def _process_started() -> float:
    """When this process started (epoch seconds), for the self-test's timings."""
    try:
        import psutil

        return float(psutil.Process().create_time())
    except Exception:
        return time.time()


def _self_test_options(args: list[str]) -> Any:
    import argparse

    parser = argparse.ArgumentParser(prog="knowledge-assistant --self-test")
    parser.add_argument("--self-test", action="store_true")
    parser.add_argument("--pdf", help="a PDF to open in the viewer")
    parser.add_argument("--page", type=int, default=1, help="the page to open it at")
    parser.add_argument("--question", default="What is in my documents?")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds")
    parser.add_argument("--report", help="also write the JSON line to this file (a windowed "
                                         "app on Windows has no console)")
    return parser.parse_args(args)


def run_self_test(app: Any, window: Any, opts: Any, started: float) -> int:
    """Open a PDF at a page and answer one question through the window; one JSON line out."""
    from PySide6.QtCore import QTimer

    result: dict[str, Any] = {"ok": False}

    def finish(ok: bool, problem: str = "") -> None:
        result["ok"] = ok
        if problem:
            result["problem"] = problem
        line = json.dumps(result)
        if sys.stdout is not None:
            print(line, flush=True)
        if opts.report:
            with open(opts.report, "w", encoding="utf-8") as handle:
                handle.write(line + "\n")
        app.exit(0 if ok else 1)

    def answered(turn_id: int) -> None:
        result["answer_s"] = round(time.time() - started, 2)
        turn = window.conversations.chat.turn(turn_id)
        if turn is None or turn.error or not turn.answer.strip():
            finish(False, turn.error if turn is not None and turn.error else "no answer")
            return
        result["answer"] = turn.answer
        result["citations"] = [{"path": c.get("hit", {}).get("path"),
                                "page": c.get("hit", {}).get("page")} for c in turn.citations]
        finish(True)

    def start() -> None:
        result["window_s"] = round(time.time() - started, 2)
        if opts.pdf:
            viewer = window.sources.open_source({"path": os.path.abspath(opts.pdf),
                                                 "page": opts.page, "start": 0, "end": 0,
                                                 "text": ""})
            if viewer is None:
                finish(False, f"could not open {opts.pdf}")
                return
            app.processEvents()
            result["pdf_page"] = viewer.current_page()
            if result["pdf_page"] != opts.page:
                finish(False, f"the viewer shows page {result['pdf_page']}, not {opts.page}")
                return
        window.conversations.answer_finished.connect(answered)
        if window.conversations.ask(opts.question) is None:
            finish(False, "the question was not accepted")

    QTimer.singleShot(0, start)
    QTimer.singleShot(int(opts.timeout * 1000),
                      lambda: finish(False, f"no answer within {opts.timeout:.0f} s"))
    return int(app.exec())


def main(argv: Sequence[str] | None = None) -> int:
    """Open the window; `argv` may name files or folders to add. Returns the exit code."""
    started = _process_started()
    args = list(sys.argv[1:] if argv is None else argv)
    self_test = _self_test_options(args) if "--self-test" in args else None
    paths = [a for a in args if not a.startswith("-")] if self_test is None else []
    problem = display_problem()
    if problem:
        tell_without_qt(problem)
        return 1
    install_excepthook()
    app = create_application([a for a in args if a.startswith("-")] if self_test is None
                             else [])

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
    if self_test is not None:
        code = run_self_test(app, window, self_test, started)
        window.close()
        window.shutdown()
        return code
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
