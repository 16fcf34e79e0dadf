"""The Settings switch "Let other apps on this computer use my library" (issue 22): a real
server on 127.0.0.1 that the `openai` client talks to, its address in the status bar, its
request log in a dialog, stopped when switched off; a port in use said in one sentence."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from PySide6.QtWidgets import QCheckBox, QMessageBox

from assistant.settings import BY_NAME

openai = pytest.importorskip("openai")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def switch(qtbot: Any, window: Any, on: bool) -> None:
    """Turn the switch as a person would: Settings, tick or untick, Save."""
    dialog = window.settings_controller.open_settings()
    qtbot.waitExposed(dialog)
    box = dialog.fields["serve_library"]
    assert isinstance(box, QCheckBox) and box.isVisible()
    assert box.text() == BY_NAME["serve_library"].label
    box.setChecked(on)
    dialog.accept()
    assert not dialog.isVisible()


def test_the_switch_serves_the_library_to_the_openai_client_and_stops(qtbot, make_window):
    assert BY_NAME["serve_library"].default is False
    window = make_window(watch=False)
    sharing = window.sharing
    sharing.port = port = free_port()
    assert not window.settings["serve_library"]
    assert sharing.server is None and not sharing.label.isVisible()
    assert not sharing.log_action.isEnabled()

    switch(qtbot, window, True)
    assert window.settings["serve_library"] is True
    assert sharing.running
    address = f"http://127.0.0.1:{port}"
    assert sharing.label.isVisible()
    assert f"Sharing with other apps at {address}" in sharing.label.text()
    assert sharing.log_action.isEnabled()

    client = openai.OpenAI(base_url=f"{address}/v1", api_key="unused-on-loopback",
                           max_retries=0, timeout=60)
    names = [m.id for m in client.models.list()]
    assert "model" in names and "library" in names

    # the request log shows that request
    dialog = sharing.show_log()
    qtbot.waitExposed(dialog)
    qtbot.waitUntil(lambda: dialog.tree.topLevelItemCount() >= 1, timeout=5000)
    row = dialog.tree.topLevelItem(0)
    assert row.text(1) == "GET /v1/models" and row.text(2) == "200"
    assert address in dialog.intro.text()
    dialog.close()

    # off: the server stops, a connection then fails
    switch(qtbot, window, False)
    assert sharing.server is None and not sharing.label.isVisible()
    assert not sharing.log_action.isEnabled()
    with pytest.raises(openai.APIConnectionError):
        client.models.list()
    client.close()


def test_a_port_in_use_is_said_in_one_sentence_and_the_app_stops_the_server_on_quit(
        qtbot, make_window):
    window = make_window(watch=False)
    sharing = window.sharing
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        sharing.port = port = taken.getsockname()[1]
        switch(qtbot, window, True)
        assert not sharing.running
        box = window.findChild(QMessageBox, "MessageBox")
        assert box is not None
        assert box.text() == (f"Other apps cannot use your library: port {port} on this "
                              "computer is already in use by another program.")
        assert "Errno" not in box.text() and "Traceback" not in box.text()
        assert sharing.label.isVisible() and f"port {port} is in use" in sharing.label.text()
        box.close()

    # the port free again, the saved switch starts the server
    sharing.port = port
    sharing.apply()
    assert sharing.running and not sharing.problem
    server = sharing.server
    window.close()  # quitting stops it
    assert not server.running
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
