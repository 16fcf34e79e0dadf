"""The settings dialog's "Answers from" choice: the embedded model or an inference server
(issue 23, part 3), with the server's API key in the keyring and never in settings.json."""

from __future__ import annotations

import json
from typing import Any

import pytest

from assistant.settings import Settings


@pytest.fixture()
def dialog(qtbot):  # type: ignore[no-untyped-def]
    from assistant.gui.app import create_application
    from assistant.gui.settingsdialog import SettingsDialog

    create_application()

    def make() -> SettingsDialog:
        opened = SettingsDialog(Settings())
        qtbot.addWidget(opened)
        opened.show()
        qtbot.waitExposed(opened)
        return opened

    return make


def test_the_server_fields_follow_the_choice(dialog) -> None:  # type: ignore[no-untyped-def]
    opened = dialog()
    choice = opened.fields["answer_model"]
    assert [choice.itemData(i) for i in range(choice.count())] == ["embedded", "server"]
    assert opened.value("answer_model") == "embedded"
    server_fields = [opened.fields[n] for n in ("answer_server_url", "answer_server_model",
                                                "answer_server_chat", "answer_server_timeout")]
    assert not any(f.isEnabled() for f in server_fields) and not opened.key_field.isEnabled()
    assert opened.fields["model_path"].isEnabled()
    opened.set_value("answer_model", "server")
    assert all(f.isEnabled() for f in server_fields) and opened.key_field.isEnabled()
    assert not opened.fields["model_path"].isEnabled()
    assert opened.fields["context_size"].isEnabled()  # answers are fitted to it either way
    assert opened.key_field.echoMode() == opened.key_field.EchoMode.Password

    opened.accept()  # a server without an address
    assert opened.isVisible()
    assert opened.errors["answer_server_url"].text() == (
        "Enter the server's address, or choose the embedded model.")
    opened.set_value("answer_server_url", "ftp://somewhere")
    opened.accept()
    assert opened.isVisible() and "http://" in opened.errors["answer_server_url"].text()
    opened.reject()


def test_the_key_goes_to_the_keyring_not_the_settings(dialog, memory_keyring
                                                      ) -> None:  # type: ignore[no-untyped-def]
    from assistant.llm.server_key import SERVICE

    opened = dialog()
    opened.set_value("answer_model", "server")
    opened.set_value("answer_server_url", "http://127.0.0.1:8080/v1")
    opened.set_value("answer_server_chat", True)
    opened.set_value("answer_server_timeout", 30)
    opened.key_field.setText("sk-team-1234")
    opened.accept()
    assert not opened.isVisible()
    assert "answer_server_key" in opened.changed and "answer_model" in opened.changed
    stored = json.loads(Settings().path.read_text(encoding="utf-8"))
    assert stored["answer_model"] == "server" and stored["answer_server_timeout"] == 30
    assert stored["answer_server_chat"] is True
    assert "sk-team-1234" not in Settings().path.read_text(encoding="utf-8")
    assert memory_keyring.saved == {(SERVICE, "http://127.0.0.1:8080"): "sk-team-1234"}

    again = dialog()  # the key is shown (masked) again, and unchanged it is not rewritten
    assert again.key_field.text() == "sk-team-1234"
    assert again.value("answer_server_url") == "http://127.0.0.1:8080/v1"
    again.accept()
    assert "answer_server_key" not in again.changed


def test_no_keyring_is_a_sentence_under_the_key(dialog, memory_keyring
                                                ) -> None:  # type: ignore[no-untyped-def]
    import keyring
    from keyring.backends.fail import Keyring as NoKeyring

    keyring.set_keyring(NoKeyring())
    opened = dialog()
    opened.set_value("answer_model", "server")
    opened.set_value("answer_server_url", "http://127.0.0.1:8080/v1")
    opened.key_field.setText("sk-team-1234")
    opened.accept()
    assert opened.isVisible()
    error = opened.errors["answer_server_key"]
    assert error.isVisible() and "ASSISTANT_ANSWER_KEY" in error.text()
    assert not Settings().path.exists()  # nothing saved until the key is
    opened.key_field.setText("")  # no key: the settings save
    opened.accept()
    assert not opened.isVisible() and Settings()["answer_model"] == "server"


@pytest.fixture()
def server(default_gguf, tmp_path):  # type: ignore[no-untyped-def]
    from llama_server import Server

    running = Server(default_gguf, tmp_path / "server.log", logprobs=False)  # quicker
    yield running
    running.stop()


def test_the_window_answers_through_the_chosen_server(qtbot, make_window, server,
                                                      memory_keyring
                                                      ) -> None:  # type: ignore[no-untyped-def]
    from llama_server import KEY, free_port

    window = make_window(watch=False)
    states: list[Any] = []
    window.backend.model_state.connect(states.append)

    def choose(url: str, key: str) -> None:
        opened = window.settings_controller.open_settings()
        qtbot.waitExposed(opened)
        opened.set_value("answer_model", "server")
        opened.set_value("answer_server_url", url)
        opened.key_field.setText(key)
        opened.accept()
        assert not opened.isVisible()

    choose(server.url, KEY)  # saving it reloads the answer model: a connection to the server
    qtbot.waitUntil(lambda: bool(states) and states[-1].phase in ("ready", "failed"), timeout=60_000)
    assert states[-1].phase == "ready", states[-1]
    assert f"grounded-gemma3-270m on 127.0.0.1:{server.port}" in states[-1].message

    window.settings.set("max_answer_tokens", 32)
    pieces: list[str] = []
    done: list[Any] = []
    window.backend.ask("What is the capital of France?", history=[], collection=None,
                       on_token=pieces.append, on_status=lambda _: None,
                       success=done.append, failure=done.append, no_docs=True)
    qtbot.waitUntil(lambda: bool(done), timeout=120_000)
    answer = done[0]
    assert answer.grounding == "model_only" and answer.text
    assert pieces and "".join(pieces).strip().startswith(answer.text.strip()[:10])

    choose(f"http://127.0.0.1:{free_port()}/v1", "")  # a server that is not there
    qtbot.waitUntil(lambda: states[-1].phase in ("ready", "failed") and
                    "refused" in states[-1].message, timeout=30_000)
    assert states[-1].phase == "failed"
    assert states[-1].message.startswith("The inference server at 127.0.0.1:")
    assert "Traceback" not in states[-1].message
