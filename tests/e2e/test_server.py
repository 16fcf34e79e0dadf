"""`assistant serve` end to end, through the real `openai` client.

One server process (real store indexed from tests/data, real embedder, real default model)
serves every test of the module; it allows one answer at a time (`--max-pending 1`), so the
busy and disconnect tests can tell a held slot from a free one. Generations are kept short.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

pytestmark = pytest.mark.slow

QUESTION = "How long is the guarantee on the Zephyr X200 kettle?"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`assistant serve` as a child process; its stderr is collected on a thread."""

    def __init__(self, home: Path, *args: str) -> None:
        self.port = free_port()
        self.lines: list[str] = []
        env = dict(os.environ, ASSISTANT_HOME=str(home))
        # -X faulthandler: a SIGABRT makes a server that hangs print every thread's stack
        self.proc = subprocess.Popen(
            [sys.executable, "-X", "faulthandler", "-m", "assistant", "serve",
             "--port", str(self.port), *args],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    def wait_up(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any("Serving the library on" in line for line in self.lines):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        code = self.proc.poll()
        if code is not None:
            state = f"it exited with code {code}"
        else:  # ask it where it is stuck: faulthandler writes each thread's stack on SIGABRT
            state = f"still running after {timeout:.0f} s; its threads' stacks follow"
            self.proc.send_signal(signal.SIGABRT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.reader.join(10)
        raise AssertionError(f"the server did not start ({state}):\n" + "".join(self.lines))

    @property
    def log(self) -> str:
        return "".join(self.lines)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.reader.join(5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()

    def client(self, key: str = "unused", host: str = "127.0.0.1") -> openai.OpenAI:
        return openai.OpenAI(base_url=f"http://{host}:{self.port}/v1", api_key=key,
                             max_retries=0, timeout=300)


def make_home(tmp_path_factory: pytest.TempPathFactory, data_dir: Path, model: Path,
              embedder: object) -> Path:
    """A private app home with tests/data/docs indexed into 'default'."""
    from assistant.ingest.indexer import Indexer
    from assistant.store.store import Store

    home = tmp_path_factory.mktemp("servehome")
    docs = tmp_path_factory.mktemp("servedocs") / "docs"
    shutil.copytree(data_dir / "docs", docs)
    # one thread: the test machine's cores are shared, and llama.cpp's threads wait on each
    # other badly when a core is taken (a 4-token answer took 20 s with 2 threads here)
    (home / "settings.json").write_text(json.dumps({"model_path": str(model), "threads": 1}))
    (home / "data").mkdir()
    # The int8 embedder export the session already built: without it each server started
    # here rebuilds it (a minute, longer on busy cores) inside its start-up deadline.
    built = getattr(embedder, "onnx", None)
    if built is not None and built.file.is_file() and not built.shipped:
        target = home / "models" / "embedder"
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(built.file, target / built.file.name)
        shutil.copy2(built.manifest, target / built.manifest.name)
    with Store(home / "data" / "store.sqlite3") as store:
        Indexer(store, embedder).index([str(docs)], "default")
    return home


@pytest.fixture(scope="module")
def home(tmp_path_factory, data_dir, default_gguf, embedder) -> Path:
    return make_home(tmp_path_factory, data_dir, default_gguf, embedder)


@pytest.fixture(scope="module")
def server(home) -> Iterator[Server]:
    running = Server(home, "--max-pending", "1")
    try:
        running.wait_up()
        yield running
    finally:
        running.stop()
    assert "Traceback" not in running.log, running.log


def error_of(exc: openai.APIStatusError) -> dict:
    body = exc.response.json()
    assert set(body) == {"error"}, body
    assert {"message", "type", "param", "code"} <= set(body["error"]), body
    assert "Traceback" not in exc.response.text
    return body["error"]


# --- the OpenAI endpoints ----------------------------------------------------------------------

def test_models_are_the_plain_model_and_one_per_collection(server):
    ids = [m.id for m in server.client().models.list()]
    assert ids == ["model", "library", "library:default"]


def test_a_cited_answer_from_the_documents(server):
    reply = server.client().chat.completions.create(
        model="library:default", messages=[{"role": "user", "content": QUESTION}],
        max_tokens=40)
    message = reply.choices[0].message
    extra = message.model_extra
    assert "27" in message.content
    assert extra["grounding"] in ("answered", "quoted")
    cited = extra["citations"][0]
    assert cited["path"].endswith("handbook.pdf") and cited["page"] == 2
    assert {"n", "path", "page", "start", "end", "text"} <= set(cited)
    assert "27 months" in " ".join(cited["text"].split())
    if extra["grounding"] == "answered":
        assert f"[{cited['n']}]" in message.content
    assert reply.usage.prompt_tokens > 0 and reply.model == "library:default"


def test_the_server_answers_as_assistant_ask_does(server, home):
    """The same question, the same settings: the command line and the server agree."""
    env = dict(os.environ, ASSISTANT_HOME=str(home))
    question = "How many beds are there in the Marten Ridge hut?"
    proc = subprocess.run([sys.executable, "-m", "assistant", "ask", question, "--json"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    asked = json.loads(proc.stdout.strip().splitlines()[-1])
    reply = server.client().chat.completions.create(
        model="library", messages=[{"role": "user", "content": question}])
    served = reply.choices[0].message
    assert served.content == asked["answer"]
    for key in ("citations", "consulted", "grounding", "not_found"):
        assert served.model_extra[key] == asked[key], key


def test_a_streamed_cited_answer(server):
    started = time.monotonic()
    first = None
    text, last = "", None
    stream = server.client().chat.completions.create(
        model="library", messages=[{"role": "user", "content": QUESTION}], max_tokens=40,
        stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    for chunk in chunks:
        if chunk.choices and chunk.choices[0].delta.content:
            first = first or time.monotonic() - started
            text += chunk.choices[0].delta.content
        if chunk.choices and chunk.choices[0].finish_reason:
            last = chunk.choices[0]
    assert last is not None and "27" in text
    extra = last.delta.model_extra
    assert extra["grounding"] in ("answered", "quoted")
    assert extra["citations"][0]["page"] == 2
    assert "27" in extra["content_final"]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    print(f"time to first streamed token: {first:.2f} s")


def test_history_and_not_found(server):
    reply = server.client().chat.completions.create(
        model="library", max_tokens=40, messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": QUESTION},
            {"role": "assistant", "content": "The guarantee is 27 months [1]."},
            {"role": "user", "content": "Who won the 1966 football world cup final?"}])
    extra = reply.choices[0].message.model_extra
    assert extra["grounding"] == "not_found" and extra["citations"] == []
    assert "documents" in reply.choices[0].message.content.lower()


def test_embeddings_are_the_apps_embedder(server, embedder):
    import numpy as np

    out = server.client().embeddings.create(model="library", input=["kettle guarantee",
                                                                     "hut beds"])
    assert [d.index for d in out.data] == [0, 1]
    vectors = np.array([d.embedding for d in out.data])
    assert vectors.shape == (2, 384)
    local = embedder.embed_batch(["kettle guarantee", "hut beds"])
    assert float(np.min(np.sum(vectors * local, axis=1))) > 0.999


def test_search_has_the_cli_shape(server):
    out = server.client().post("/search", cast_to=object,
                               body={"query": "Zephyr kettle guarantee", "k": 3})
    hits = out["hits"]
    assert 0 < len(hits) <= 3
    shape = {"path", "page", "place", "start", "end", "text", "score", "similarity",
             "collection", "relevant", "id"}
    assert all(shape <= set(h) for h in hits)
    assert hits[0]["path"].endswith("handbook.pdf") and hits[0]["page"] == 2
    passage = server.client().get(f"/passages/{hits[0]['id']}", cast_to=object)
    assert passage["text"] == hits[0]["text"] and passage["place"] == hits[0]["place"] is None


# --- errors, all in OpenAI's shape -------------------------------------------------------------

def test_an_unknown_model(server):
    with pytest.raises(openai.NotFoundError) as caught:
        server.client().chat.completions.create(
            model="library:nonesuch", messages=[{"role": "user", "content": QUESTION}])
    assert error_of(caught.value)["code"] == "model_not_found"


def test_an_empty_question(server):
    with pytest.raises(openai.BadRequestError) as caught:
        server.client().chat.completions.create(
            model="library", messages=[{"role": "user", "content": "   "}])
    assert error_of(caught.value)["code"] == "empty_question"
    with pytest.raises(openai.BadRequestError) as caught:
        server.client().chat.completions.create(model="library", messages=[])
    assert error_of(caught.value)["param"] == "messages"


def test_more_than_one_answer_a_request(server):
    with pytest.raises(openai.BadRequestError) as caught:
        server.client().chat.completions.create(
            model="library", n=2, messages=[{"role": "user", "content": QUESTION}])
    assert error_of(caught.value)["param"] == "n"


def test_an_oversized_request(server):
    with pytest.raises(openai.APIStatusError) as caught:
        server.client().chat.completions.create(
            model="library", messages=[{"role": "user", "content": "x" * (2 << 20)}])
    assert caught.value.status_code == 413
    assert error_of(caught.value)["code"] == "request_too_large"


def test_a_body_that_is_not_json(server):
    with pytest.raises(openai.BadRequestError) as caught:
        server.client().post("/chat/completions", cast_to=object,
                             content=b'{"model": "library", "messages": [',
                             options={"headers": {"Content-Type": "application/json"}})
    assert error_of(caught.value)["code"] == "invalid_json"


def test_no_file_outside_the_library_is_ever_read(server):
    client = server.client()
    for path in ("/../../../../etc/passwd", "/passages/..%2F..%2F..%2Fetc%2Fpasswd",
                 "/passages/%2e%2e/%2e%2e/etc/passwd", "/passages/-1", "/passages/99999999"):
        with pytest.raises(openai.NotFoundError) as caught:
            client.get(path, cast_to=object)
        assert "root:" not in caught.value.response.text
        error_of(caught.value)
    # a search confined to a folder outside the library finds nothing there
    out = client.post("/search", cast_to=object, body={"query": "root", "path": "/etc"})
    assert out == {"hits": []}


def test_no_cors_and_no_foreign_host(server):
    client = server.client()
    raw = client.models.with_raw_response.list(extra_headers={"Origin": "https://evil.test"})
    assert "access-control-allow-origin" not in {k.lower() for k in raw.headers}
    with pytest.raises(openai.PermissionDeniedError) as caught:
        client.models.list(extra_headers={"Host": "evil.test"})
    assert error_of(caught.value)["code"] == "host_not_allowed"


# --- one answer at a time: 429 while busy; a dropped stream frees its slot at once -------------

def long_question() -> str:
    """A question of about 1,700 tokens, new each time (the model reuses a prompt it has seen):
    its prompt alone takes the model seconds, and cancelling stops it between chunks."""
    tag = uuid.uuid4().hex
    return f"Case {tag}. " + " ".join(
        f"The kettle number {i} is red and stands on shelf {i % 7}." for i in range(110)) + \
        " Which kettle is on shelf 3?"


def long_stream(client: openai.OpenAI) -> openai.Stream:
    stream = client.chat.completions.create(
        model="model", max_tokens=4, stream=True,
        messages=[{"role": "user", "content": long_question()}])
    next(iter(stream))  # the first chunk: the answer is under way
    return stream


def test_busy_gives_429_with_retry_after(server):
    client = server.client()
    stream = long_stream(client)
    try:
        with pytest.raises(openai.RateLimitError) as caught:
            client.chat.completions.create(
                model="library", messages=[{"role": "user", "content": QUESTION}])
        assert int(caught.value.response.headers["retry-after"]) >= 1
        assert error_of(caught.value)["type"] == "rate_limit_error"
    finally:
        stream.close()


def test_a_disconnect_mid_stream_frees_the_slot_at_once(server):
    client = server.client()
    stream = long_stream(client)
    stream.close()
    started = time.monotonic()
    while True:  # the server hears the disconnect within moments
        try:
            reply = client.chat.completions.create(
                model="model", max_tokens=4, messages=[{"role": "user", "content": "Hello"}])
            break
        except openai.RateLimitError:
            assert time.monotonic() - started < 2.0, "the dropped stream kept its slot"
            time.sleep(0.05)
    assert reply.choices[0].message.content is not None
    # far sooner than the dropped stream's long prompt would have kept the model busy
    assert time.monotonic() - started < 3.0, server.log


def test_a_client_that_gives_up_on_a_plain_answer_frees_the_slot(server):
    impatient = openai.OpenAI(base_url=f"http://127.0.0.1:{server.port}/v1", api_key="x",
                              max_retries=0, timeout=1.0)
    with pytest.raises(openai.APITimeoutError):
        impatient.chat.completions.create(
            model="model", max_tokens=4, messages=[{"role": "user", "content": long_question()}])
    started = time.monotonic()
    while True:
        try:
            server.client().chat.completions.create(
                model="model", max_tokens=2, messages=[{"role": "user", "content": "Hello"}])
            break
        except openai.RateLimitError:
            assert time.monotonic() - started < 2.0, "the abandoned answer kept its slot"
            time.sleep(0.05)
    assert time.monotonic() - started < 3.0, server.log


# --- the key -----------------------------------------------------------------------------------

def test_off_loopback_a_key_is_generated_and_required(home):
    running = Server(home, "--host", "0.0.0.0")
    try:
        running.wait_up()
        key_lines = [line for line in running.lines if line.startswith("API key")]
        assert key_lines, running.log
        key = key_lines[0].rsplit(" ", 1)[1].strip()
        assert len(key) >= 24
        with pytest.raises(openai.AuthenticationError) as caught:
            running.client("wrong-key-wrong-key").models.list()
        assert error_of(caught.value)["code"] == "invalid_api_key"
        assert "library:default" in [m.id for m in running.client(key).models.list()]
    finally:
        running.stop()


def test_an_empty_key_off_loopback_is_refused(home):
    env = dict(os.environ, ASSISTANT_HOME=str(home))
    proc = subprocess.run([sys.executable, "-m", "assistant", "serve", "--host", "0.0.0.0",
                           "--api-key", "", "--port", str(free_port())],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1
    assert "API key" in proc.stderr and "Traceback" not in proc.stderr


# --- start-up: no thread imports beside another ----------------------------------------------

LANE_IMPORTS = """
import json, sys, threading
lane_imports = []

def hook(event, args):
    if event == "import" and args[0] not in sys.modules \\
            and threading.current_thread().name.startswith("server-"):
        lane_imports.append(threading.current_thread().name + ": " + args[0])

sys.addaudithook(hook)
from assistant.server.library import Library

library = Library(max_pending=1, warm=True)
target = library.model_lane.submit(lambda s: library.target(s, "library"))[0].result(120)
found = library.search_lane.submit(lambda s: library.search(s, "kettle guarantee", 3))[0]
answer = library.model_lane.submit(lambda s: library.answer(
    s, "How long is the kettle guarantee?", target=target, max_tokens=4))[0]
hits, reply = found.result(120), answer.result(300)
library.close()
print(json.dumps({"hits": len(hits["hits"]), "answered": bool(reply.text),
                  "lane_imports": lane_imports}))
"""


def test_a_warm_library_imports_nothing_on_its_lanes(home):
    """Python 3.11's import locks can hang threads that import at once (CPython gh-91351); a
    whole test module's server once sat silent for two minutes at start-up with its lanes and
    its main thread each importing. A warm library loads everything on the caller's thread:
    its lanes import nothing, at start-up or at their first search and answer."""
    env = dict(os.environ, ASSISTANT_HOME=str(home))
    proc = subprocess.run([sys.executable, "-c", LANE_IMPORTS], capture_output=True,
                          text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["hits"] > 0 and seen["answered"], seen
    assert seen["lane_imports"] == [], seen["lane_imports"]


def test_a_warm_library_whose_model_does_not_load_still_searches_and_says_why(home, tmp_path,
                                                                              monkeypatch):
    from assistant.server.library import Library
    from assistant.settings import Settings

    monkeypatch.setenv("ASSISTANT_HOME", str(home))
    junk = tmp_path / "notes.gguf"
    junk.write_bytes(b"these are notes, not a model" * 100)
    settings = Settings(tmp_path / "settings.json")
    settings.set("model_path", str(junk))
    library = Library(settings, max_pending=1, warm=True)  # does not raise: requests hear why
    try:
        found = library.search_lane.submit(
            lambda s: library.search(s, "kettle guarantee", 3))[0].result(60)
        assert found["hits"]
        target = library.model_lane.submit(lambda s: library.target(s, "library"))[0]
        with pytest.raises(Exception) as failed:
            target.result(60)
        assert "notes.gguf" in str(failed.value) and "Traceback" not in str(failed.value)
    finally:
        library.close()
