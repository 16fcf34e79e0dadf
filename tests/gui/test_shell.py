"""The window's shell without the model: keys, conversations, library actions, app start."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QFileDialog


def _hit(path: str, page: int | None, text: str) -> dict:
    return {"path": path, "page": page, "start": 0, "end": len(text), "text": text,
            "similarity": 0.71, "chunk_id": 1, "document_id": 1, "score": 0.1,
            "collection": "default"}


def test_enter_sends_shift_enter_breaks_the_line_and_shortcuts_work(qtbot, make_window):
    window = make_window()
    asked: list[str] = []
    window.conversations.chat.ask.disconnect()
    window.conversations.chat.ask.connect(asked.append)
    box = window.conversations.chat.composer.box

    qtbot.keyClick(window, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    assert box.hasFocus()
    qtbot.keyClicks(box, "first line")
    qtbot.keyClick(box, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClicks(box, "second line")
    assert box.toPlainText() == "first line\nsecond line" and asked == []
    qtbot.keyClick(box, Qt.Key.Key_Return)
    assert asked == ["first line\nsecond line"] and box.toPlainText() == ""
    qtbot.keyClick(box, Qt.Key.Key_Return)  # an empty box sends nothing
    assert len(asked) == 1

    # Esc stops a running answer
    class FakeJob:
        cancelled = False

        def cancel(self) -> None:
            self.cancelled = True

    job = FakeJob()
    window.conversations.answer_job = job
    window.conversations.stop_action.setEnabled(True)
    qtbot.keyClick(box, Qt.Key.Key_Escape)
    assert job.cancelled
    window.conversations.answer_job = None

    # Ctrl+N starts a new conversation; Ctrl+2 / Ctrl+1 switch pages
    window.conversations.conversation_id = window.history.create("Old").id
    qtbot.keyClick(window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert window.conversations.conversation_id is None
    qtbot.keyClick(window, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    assert window.pages.currentWidget() is window.library.view
    qtbot.keyClick(window, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert window.pages.currentWidget() is window.chat_splitter


def test_conversations_reopen_search_export_rate_and_delete(qtbot, make_window, tmp_path,
                                                             monkeypatch):
    window = make_window()
    history = window.history
    kettle = history.create()
    turn = history.add_turn(kettle.id, "How long is the kettle guarantee?")
    hit = _hit(str(tmp_path / "handbook.pdf"), 2, "The warranty period is 27 months.")
    history.save_answer(turn.id, "**27 months** [1].", citations=[{"n": 1, "hit": hit}],
                        consulted=[hit])
    hiking = history.create()
    history.add_turn(hiking.id, "How many bunks at Marten Ridge?")
    window.conversations.refresh()
    assert window.conversations.conversation_list.count() == 2

    window.conversations.search.setText("kettle")
    assert window.conversations.conversation_list.count() == 1
    item = window.conversations.conversation_list.item(0)
    assert item.text().startswith("How long is the kettle guarantee? · ")
    window.conversations._conversation_clicked(item)
    assert window.conversations.conversation_id == kettle.id
    widget = window.conversations.chat.turns[turn.id]
    # Markdown rendered, the [1] marker a link, the sources pane filled
    assert widget.browser.toPlainText().startswith("27 months [1]")
    assert "cite:1" in widget.browser.toHtml()
    assert [c.label.text() for c in window.sources.view.cards] == ["[1]"]

    # good answer / correction
    qtbot.mouseClick(widget.good_button, Qt.MouseButton.LeftButton)
    assert history.turn(turn.id).rating == "good"
    qtbot.mouseClick(widget.good_button, Qt.MouseButton.LeftButton)
    assert history.turn(turn.id).rating is None
    window.conversations.correct(turn.id)
    dialog = next(w for w in QApplication.topLevelWidgets()
                  if w.objectName() == "CorrectionDialog")
    dialog.editor.setPlainText("It is 27 months from the date of purchase [1].")
    dialog.accept()
    stored = history.turn(turn.id)
    assert stored.correction == "It is 27 months from the date of purchase [1]."
    assert widget.badge.text() == "Corrected" and widget.badge.isVisible()
    assert "date of purchase" in widget.browser.toPlainText()

    # copy puts the answer and its sources on the clipboard
    qtbot.mouseClick(widget.copy_button, Qt.MouseButton.LeftButton)
    clip = QApplication.clipboard().text()
    assert "date of purchase" in clip and "[1] " in clip and "page 2" in clip

    # export to Markdown
    target = tmp_path / "kettle.md"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    window.conversations.export_conversation()
    text = target.read_text(encoding="utf-8")
    assert text.startswith("# How long is the kettle guarantee?")
    assert "[1] handbook.pdf, page 2" in text

    # delete (confirmed)
    from assistant.gui import dialogs

    monkeypatch.setattr(dialogs, "confirm", lambda *a, **k: True)
    window.conversations.search.clear()
    window.conversations.delete_conversation()
    assert window.conversations.conversation_id is None
    assert [c.id for c in history.conversations()] == [hiking.id]
    assert window.conversations.conversation_list.count() == 1


def test_the_window_layout_and_conversation_come_back(qtbot, make_window):
    window = make_window()
    conv = window.history.create("Kept")
    window.conversations.open_conversation(conv.id)
    window.resize(1111, 777)
    window.main_splitter.setSizes([300, 900])
    window.close()
    again = make_window()
    assert again.conversations.conversation_id == conv.id
    assert abs(again.main_splitter.sizes()[0] - 300) < 40


@pytest.mark.parametrize("args", [[], ["app"]])
def test_assistant_and_assistant_app_open_the_window(app_home, args):
    """`assistant` and `assistant app` start the window (app.main) and exit cleanly."""
    import json
    import os
    import subprocess
    import sys

    env = dict(os.environ, ASSISTANT_HOME=str(app_home), QT_QPA_PLATFORM="offscreen",
               ASSISTANT_QUIT_AFTER_MS="2500")
    done = subprocess.run([sys.executable, "-m", "assistant", *args], env=env,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    saved = json.loads((app_home / "settings.json").read_text())
    assert saved["extra"]["window"]["geometry"]  # the window existed and closed normally
    assert "Traceback" not in done.stderr, done.stderr[-3000:]


@pytest.mark.parametrize("dark", [False, True])
def test_colours_come_from_the_palette(qtbot, make_window, dark):
    from PySide6.QtGui import QColor, QPalette

    from assistant.gui import theme

    app = QApplication.instance()
    original = app.palette()
    try:
        if dark:
            palette = QPalette(original)
            palette.setColor(QPalette.ColorRole.Window, QColor("#202124"))
            palette.setColor(QPalette.ColorRole.Base, QColor("#17181a"))
            palette.setColor(QPalette.ColorRole.Text, QColor("#e8eaed"))
            palette.setColor(QPalette.ColorRole.WindowText, QColor("#e8eaed"))
            app.setPalette(palette)
        window = make_window()
        sheet = theme.style_sheet()
        base = app.palette().color(QPalette.ColorRole.Base).name()
        assert base in sheet
        if dark:  # no light surface left behind
            assert "background: #ffffff" not in sheet.lower()
        assert theme.is_dark() == dark
        window._retheme()
    finally:
        app.setPalette(original)
