"""Answers from a real OpenAI-compatible inference server on loopback (issue 23, part 3).

The server is llama-cpp-python's own (`python -m llama_cpp.server`) serving the embedded GGUF
with the shipped grounded adapter, under the name that says so, so its answers and the
answerability decision can be compared with the embedded model's. Each fixture starts its
server on a free port, waits until it lists its model, and kills it at teardown.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from llama_server import KEY, Server, free_port

from assistant.answer import NOT_FOUND_TEXT, answer_question
from assistant.answer.answerability import STRICTNESS
from assistant.llm.generator import Generator
from assistant.llm.grounded import builtin_adapter_path
from assistant.llm.remote import (
    CALIBRATED_MODEL,
    RemoteGenerator,
    ServerConfig,
    server_from_settings,
)
from assistant.llm.remote_http import ServerError
from assistant.search import Hit
from assistant.settings import Settings

pytestmark = pytest.mark.slow  # the real model, served and in process

COFFEE = Hit(chunk_id=1, document_id=1, path="/docs/manual.pdf", page=3, start=10, end=150,
             text="The Zephyr X200 coffee machine has a 1.8 litre water tank and heats up in 45 "
                  "seconds. The warranty lasts two years from the date of purchase.",
             score=1.0, similarity=0.6)
LOUVRE = Hit(chunk_id=2, document_id=2, path="/docs/travel.txt", page=None, start=0, end=99,
             text="The Louvre museum in Paris is closed on Tuesdays. Tickets cost 22 euros and "
                  "can be bought online.", score=0.5, similarity=0.6)


def passages(_query: str, k: int) -> list[Hit]:
    return [COFFEE, LOUVRE][:k]


@pytest.fixture(scope="module")
def server(default_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(default_gguf, tmp_path_factory.mktemp("server") / "server.log")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def remote(server: Server) -> RemoteGenerator:
    return RemoteGenerator(ServerConfig(server.url, KEY, n_ctx=2048))


def test_it_connects_and_finds_what_the_decision_needs(remote: RemoteGenerator,
                                                       default_gguf: Path) -> None:
    assert remote.model == CALIBRATED_MODEL and remote.adapter_path is not None
    assert remote.has_tokenizer and remote.logprobs
    assert remote.next_token_logprobs is not None
    with Generator(default_gguf, n_ctx=512, n_threads=1) as local:
        text = " I couldn't find this in your documents."
        assert remote.tokenize(text) == local.tokenize(text)  # the same vocabulary, no BOS
        assert remote.count_tokens(COFFEE.text) == local.count_tokens(COFFEE.text)


def test_a_question_is_answered_through_the_server_as_by_the_embedded_model(
        remote: RemoteGenerator, default_gguf: Path) -> None:
    question = "How long is the warranty?"
    # lenient: the same answer whatever the calibrated decision makes of these two short
    # made-up passages (their similarity is set, not measured); what is compared is the path
    answer = answer_question(question, retriever=passages, generator=remote,
                             strictness="lenient")
    assert answer.grounding == "answered" and "two years" in answer.text
    assert [c.n for c in answer.citations] == [1] and answer.citations[0].hit is COFFEE
    assert answer.refusal_probability is not None and answer.refusal_score is not None
    with Generator(default_gguf, n_ctx=2048, n_threads=2) as local:
        adapter = builtin_adapter_path()
        assert adapter is not None
        local.set_adapter(adapter, 1.0)
        here = answer_question(question, retriever=passages, generator=local,
                               strictness="lenient")
    assert here.text == answer.text and here.prompt == answer.prompt
    assert here.refusal_probability is not None
    assert abs(here.refusal_probability - answer.refusal_probability) < 0.02


def test_streamed_tokens_arrive_in_order(server: Server, remote: RemoteGenerator) -> None:
    """The pieces, joined, are what the official openai client gets in one reply."""
    from openai import OpenAI

    pieces: list[tuple[float, str]] = []
    answer = answer_question("How long is the warranty?", retriever=passages,
                             generator=remote, reader=None,
                             on_token=lambda piece: pieces.append((time.monotonic(), piece)))
    assert len(pieces) >= 2 and answer.first_token_seconds is not None
    assert pieces[0][0] < pieces[-1][0]  # they came one after another, not at the end
    client = OpenAI(base_url=server.url, api_key=KEY, max_retries=0)
    whole = client.completions.create(model=remote.model, prompt=answer.prompt, max_tokens=256,
                                      temperature=0.0, stop=["\n", "Question:", "Sources:",
                                                             "<end_of_turn>"])
    assert "".join(p for _, p in pieces) == whole.choices[0].text
    assert "two years" in answer.text and [c.n for c in answer.citations] == [1]


def test_the_model_s_refusal_comes_through_the_server(remote: RemoteGenerator) -> None:
    answer = answer_question("Who founded Acme Corporation?", retriever=passages,
                             generator=remote, reader=None)
    assert answer.not_found and answer.text == NOT_FOUND_TEXT
    assert answer.not_found_reason == "model" and answer.citations == []
    # the decision without the reader refuses it, from the server's log-probabilities (the
    # shipped adapter, unsure, writes a founder no passage names: kept aside as unsupported)
    assert answer.refusal_probability is not None and answer.refusal_score is not None
    assert answer.refusal_score >= STRICTNESS["balanced"].refuse_at_without_reader


def test_cancel_ends_the_stream_and_the_server_stays_usable(remote: RemoteGenerator) -> None:
    cancel = threading.Event()
    pieces = []
    for piece in remote.stream("Once upon a time", max_tokens=200, cancel=cancel):
        pieces.append(piece)
        cancel.set()
    assert len(pieces) == 1
    assert remote.complete("The capital of France is", max_tokens=3).strip()


def test_a_stopped_server_times_out_with_a_sentence(server: Server) -> None:
    slow = RemoteGenerator(ServerConfig(server.url, KEY, read_timeout=2.0))
    server.process.send_signal(signal.SIGSTOP)  # accepts connections, answers nothing
    try:
        started = time.monotonic()
        with pytest.raises(ServerError) as caught:
            answer_question("How long is the warranty?", retriever=passages, generator=slow,
                            reader=None)
        assert time.monotonic() - started < 15
    finally:
        server.process.send_signal(signal.SIGCONT)
    message = str(caught.value)
    assert message.startswith(f"The inference server at 127.0.0.1:{server.port} sent nothing "
                              "for 2 seconds")
    assert "Error" not in message and "Traceback" not in message


def test_a_server_killed_mid_answer_gives_a_sentence(default_gguf: Path, tmp_path: Path) -> None:
    """The base model alone on a server without log-probabilities and without a key: the
    answer still works (no judgement), chat streams, then the server is killed mid-answer."""
    from openai import OpenAI

    from assistant.llm.generator import ChatMessage

    doomed = Server(default_gguf, tmp_path / "server.log", key=None, logprobs=False,
                    adapter=False)
    try:
        plain = RemoteGenerator(ServerConfig(doomed.url, n_ctx=2048))
        assert not plain.logprobs and plain.next_token_logprobs is None
        assert plain.adapter_path is None  # another model: no calibrated decision
        answer = answer_question("How long is the warranty?", retriever=passages,
                                 generator=plain, reader=None)
        assert answer.grounding == "answered" and re.search(r"\b(2|two) years", answer.text)
        assert answer.refusal_probability is None and [c.n for c in answer.citations] == [1]

        chat = RemoteGenerator(ServerConfig(doomed.url, chat=True))
        messages = [ChatMessage("system", "Be brief."),
                    ChatMessage("user", "Sources:\n[1] The warranty lasts two years.\n\n"
                                        "Question: How long is the warranty?")]
        streamed = list(chat.stream_chat(messages, max_tokens=30))
        whole = OpenAI(base_url=doomed.url, api_key="none", max_retries=0).chat.completions.create(
            model=chat.model, max_tokens=30, temperature=0.0,
            messages=[{"role": m.role, "content": m.content} for m in messages])
        assert len(streamed) >= 2 and "".join(streamed) == whole.choices[0].message.content

        pieces = []
        with pytest.raises(ServerError) as caught:
            for piece in plain.stream("Once upon a time", max_tokens=400):
                pieces.append(piece)
                if len(pieces) == 2:
                    doomed.process.kill()
        assert 2 <= len(pieces) < 400
        assert "closed the connection before the answer was complete" in str(caught.value)
    finally:
        doomed.stop()


def test_down_refused_and_wrong_key_are_sentences(server: Server) -> None:
    with pytest.raises(ServerError, match="refused the connection"):
        RemoteGenerator(ServerConfig(f"http://127.0.0.1:{free_port()}/v1"))
    with pytest.raises(ServerError, match=r"refused the API key \(HTTP 401\)"):
        RemoteGenerator(ServerConfig(server.url, "not-the-key"))
    # A listener whose backlog is full: the connection is never accepted.
    with socket.socket() as full:
        full.bind(("127.0.0.1", 0))
        full.listen(0)
        port = full.getsockname()[1]
        waiting: list[socket.socket] = []
        for _ in range(8):  # fill the accept queue until the next connection hangs
            try:
                waiting.append(socket.create_connection(("127.0.0.1", port), timeout=0.5))
            except TimeoutError:
                break
        started = time.monotonic()
        try:
            with pytest.raises(ServerError, match="did not accept a connection within 1 "):
                RemoteGenerator(ServerConfig(f"http://127.0.0.1:{port}", connect_timeout=1.0))
        finally:
            for sock in waiting:
                sock.close()
        assert time.monotonic() - started < 5


def test_nothing_is_contacted_unless_a_server_is_chosen(server: Server,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings()
    settings.set("answer_server_url", server.url)
    assert settings["answer_model"] == "embedded"
    assert server_from_settings(settings) is None
    settings.set("answer_model", "server")
    monkeypatch.setenv("ASSISTANT_ANSWER_KEY", KEY)
    chosen = server_from_settings(settings)
    assert chosen is not None and chosen.model == CALIBRATED_MODEL
    assert server_from_settings(settings, "") is None  # --answer-server "": embedded
    settings.set("answer_server_url", "")
    with pytest.raises(ServerError, match="address is empty"):
        server_from_settings(settings)


def test_the_key_lives_in_the_keyring(memory_keyring, monkeypatch: pytest.MonkeyPatch) -> None:
    import keyring
    from keyring.backends.fail import Keyring as NoKeyring

    from assistant.errors import UserError
    from assistant.llm import server_key

    server_key.save_key("http://team-box:8080/v1/", "s3cret")
    assert server_key.load_key("http://team-box:8080") == "s3cret"  # one key per server
    assert server_key.load_key("http://other-box:8080/v1") is None
    server_key.save_key("http://team-box:8080/v1", "")
    assert memory_keyring.saved == {}
    keyring.set_keyring(NoKeyring())  # a system without a keyring
    with pytest.raises(UserError, match="ASSISTANT_ANSWER_KEY"):
        server_key.save_key("http://team-box:8080/v1", "s3cret")
    monkeypatch.setenv(server_key.ENV_KEY, "from-env")
    assert server_key.load_key("http://team-box:8080/v1") == "from-env"


def test_ask_on_the_command_line_through_the_server(server: Server,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from assistant.cli.main import main

    monkeypatch.setenv("ASSISTANT_ANSWER_KEY", KEY)
    assert main(["ask", "--answer-server", server.url, "--no-docs",
                 "What is the capital of France?"]) == 0
    assert capsys.readouterr().out.strip()
    down = f"http://127.0.0.1:{free_port()}/v1"
    assert main(["ask", "--answer-server", down, "--no-docs", "Hello?"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("assistant: The inference server at 127.0.0.1:") and \
        "Traceback" not in err and err.count("\n") == 1
    assert os.environ.get("ASSISTANT_ANSWER_KEY") == KEY


def test_a_chat_model_gets_messages_and_no_judgement(server: Server) -> None:
    """Served with the grounded adapter, the model is no chat model (it ends at once), so
    the answer is what the checks make of it; chat streaming is checked on the base model."""
    chat = RemoteGenerator(ServerConfig(server.url, KEY, chat=True, n_ctx=2048))
    assert chat.has_chat_template and not chat.logprobs and chat.next_token_logprobs is None
    answer = answer_question("How long is the warranty?", retriever=passages, generator=chat,
                             reader=None, max_tokens=48)
    assert answer.prompt.startswith("<|system|>\nYou answer questions using only the numbered "
                                    "sources")
    assert answer.refusal_probability is None and answer.prompt_tokens <= 2048 - 48
    assert answer.grounding in ("answered", "quoted", "not_found")


def test_a_prompt_over_the_server_s_context_is_a_sentence(server: Server) -> None:
    """The app's context size set above the server's (2048 here)."""
    wide = RemoteGenerator(ServerConfig(server.url, KEY, n_ctx=8192))
    long_text = " ".join(f"Sentence {i} says the warranty lasts two years." for i in range(400))
    long = [Hit(chunk_id=9, document_id=9, path="/docs/long.txt", page=None, start=0,
                end=len(long_text), text=long_text, score=1.0, similarity=0.6)]
    with pytest.raises(ServerError) as caught:
        answer_question("How long is the warranty?", retriever=lambda _q, _k: long,
                        generator=wide, reader=None, focus_words=0)
    assert "too long for its context (HTTP 400); lower Context size in Settings" in str(
        caught.value)


def test_an_untrusted_certificate_is_a_sentence(tmp_path: Path) -> None:
    """https:// is checked against the system's certificates: a self-signed one is refused."""
    import datetime
    import http.server
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    httpd = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        port = httpd.server_address[1]
        with pytest.raises(ServerError, match=r"failed the secure-connection \(TLS\) check"):
            RemoteGenerator(ServerConfig(f"https://127.0.0.1:{port}/v1", connect_timeout=5))
    finally:
        httpd.shutdown()
        httpd.server_close()
