"""The server on a thread of the calling process, as the desktop app's switch runs it.

No language model here: the library's listing and search, the request log the app shows, a
port already taken, and indexing carrying on (into the same store) while the server answers.
"""

from __future__ import annotations

import socket

import openai
import pytest

from assistant.errors import UserError
from assistant.server import BackgroundServer, Library, ServeConfig


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_apps_switch_serves_logs_and_sees_new_documents(embedder, docs_copy, tmp_path):
    from assistant.ingest.indexer import Indexer
    from assistant.store.store import Store

    with Store() as store:
        Indexer(store, embedder).index([str(docs_copy / "handbook.pdf")], "default")
    server = BackgroundServer(ServeConfig(port=free_port()), library=Library(embedder=embedder))
    server.start()
    try:
        assert server.running and server.url.startswith("http://127.0.0.1:")
        assert server.key is None
        client = openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0,
                               timeout=120)
        assert [m.id for m in client.models.list()] == ["model", "library", "library:default"]

        # indexing goes on beside the server, into the same store: a new collection and
        # its passages are there for the next request
        notes = tmp_path / "beehive.md"
        notes.write_text("# Apiary log\n\nThe Linden apiary has 17 beehives on the north "
                         "slope; the queen in hive 4 was replaced in May.\n", encoding="utf-8")
        with Store() as store:
            Indexer(store, embedder).index([str(notes)], "bees")
        assert "library:bees" in [m.id for m in client.models.list()]
        found = client.post("/search", cast_to=object,
                            body={"query": "how many beehives at the Linden apiary",
                                  "collection": "bees"})
        assert found["hits"][0]["path"] == str(notes)

        with pytest.raises(UserError, match="Could not listen"):
            BackgroundServer(ServeConfig(port=int(server.url.split(":")[2].split("/")[0])),
                             library=Library(embedder=embedder)).start()

        log = server.requests
        assert [(r.method, r.path, r.status) for r in log] == [
            ("GET", "/v1/models", 200), ("GET", "/v1/models", 200), ("POST", "/v1/search", 200)]
        assert all(r.seconds >= 0 for r in log)
    finally:
        server.stop()
    assert not server.running


def test_a_bug_is_answered_with_a_sentence_never_its_text(embedder, monkeypatch, caplog):
    """The failure is forced (the only mock here): the client sees no exception text."""

    def broken(state: dict) -> list[str]:
        raise RuntimeError("secret internal detail /home/someone/store.sqlite3")

    monkeypatch.setattr(Library, "model_names", staticmethod(broken))
    server = BackgroundServer(ServeConfig(port=free_port()), library=Library(embedder=embedder))
    server.start()
    try:
        client = openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0,
                               timeout=60)
        with pytest.raises(openai.InternalServerError) as caught:
            client.models.list()
        body = caught.value.response.json()
        assert body["error"]["type"] == "server_error"
        assert "secret" not in caught.value.response.text
        assert "Traceback" not in caught.value.response.text
        with pytest.raises(openai.APIStatusError) as wrong_method:
            client.delete("/models", cast_to=object)
        assert wrong_method.value.status_code == 405
        assert wrong_method.value.response.json()["error"]["code"] == "method_not_allowed"
    finally:
        server.stop()
    assert "secret internal detail" in caplog.text  # kept in the server's log for a report


@pytest.mark.slow
def test_a_request_over_the_time_limit_is_cut_off_and_its_slot_freed(
        embedder, default_gguf, app_home):
    import json
    import time
    import uuid

    from assistant.server import Limits

    def long_question() -> list[dict[str, str]]:  # ~1,700 tokens, new each time: seconds
        text = f"Case {uuid.uuid4().hex}. " + " ".join(
            f"The kettle number {i} is red and stands on shelf {i % 7}." for i in range(110))
        return [{"role": "user", "content": text + " Which kettle is on shelf 3?"}]

    (app_home / "settings.json").write_text(json.dumps({"model_path": str(default_gguf),
                                                        "threads": 1}))
    library = Library(embedder=embedder, max_pending=1, warm=True)
    library.model_lane.submit(lambda s: None)[0].result(120)  # the model is loaded
    server = BackgroundServer(ServeConfig(port=free_port(), limits=Limits(timeout=1.5)),
                              library=library)
    server.start()
    try:
        client = openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0,
                               timeout=120)
        started = time.monotonic()
        with pytest.raises(openai.APIStatusError) as caught:
            client.chat.completions.create(model="model", messages=long_question(),
                                           max_tokens=4)
        assert caught.value.status_code == 504
        assert caught.value.response.json()["error"]["code"] == "timeout"
        assert time.monotonic() - started < 4
        assert library.model_lane.pending == 0  # the place is free at once
        # and the model stops working on it: a short answer comes at once
        started = time.monotonic()
        client.chat.completions.create(model="model", max_tokens=2,
                                       messages=[{"role": "user", "content": "Hello"}])
        assert time.monotonic() - started < 1.5

        with pytest.raises(openai.APIError) as streamed:
            for _ in client.chat.completions.create(model="model", messages=long_question(),
                                                    max_tokens=4, stream=True):
                pass
        assert "longer than 1.5 s" in str(streamed.value)
        assert library.model_lane.pending == 0
    finally:
        server.stop()
