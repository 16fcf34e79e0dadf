"""The server's parts that need no model: the bounded lanes, the key rules, the conversation.

The lanes run real threads; the jobs are plain functions that wait on events.
"""

from __future__ import annotations

import threading

import pytest

from assistant.errors import UserError
from assistant.server.http import ApiError, Limits, conversation
from assistant.server.library import Busy, Lane
from assistant.server.run import ServeConfig, is_loopback


def lane(limit: int) -> Lane:
    return Lane("test", limit, setup=lambda: {"setups": 1})


def test_a_full_lane_refuses_with_a_retry_time_and_a_released_slot_lets_one_in() -> None:
    busy = lane(2)
    try:
        gate, started = threading.Event(), threading.Event()

        def blocking(state: dict) -> str:
            started.set()
            gate.wait(10)
            return "first"

        first, _ = busy.submit(blocking)
        assert started.wait(10)
        ran: list[str] = []
        waiting, waiting_slot = busy.submit(lambda s: ran.append("waiting") or "waiting")
        with pytest.raises(Busy) as refused:
            busy.submit(lambda s: "third")
        assert refused.value.retry_after >= 1
        waiting_slot.release()  # its caller went away before it ran
        third, _ = busy.submit(lambda s: "third")
        gate.set()
        assert first.result(10) == "first" and third.result(10) == "third"
        assert waiting.cancelled() and ran == []
        assert busy.pending == 0
    finally:
        busy.close()


def test_releasing_a_running_job_sets_its_cancel_flag_and_frees_the_place() -> None:
    one = lane(1)
    try:
        cancel = threading.Event()
        started = threading.Event()

        def long_job(state: dict) -> str:
            started.set()
            return "stopped" if cancel.wait(10) else "ran out"

        future, slot = one.submit(long_job, cancel)
        assert started.wait(10)
        slot.release()
        assert one.pending == 0  # at once, before the job has even seen the flag
        assert future.result(10) == "stopped"
        slot.release()  # twice is harmless
        assert one.pending == 0
    finally:
        one.close()


def test_a_failing_job_reaches_its_caller_and_the_lane_goes_on() -> None:
    one = lane(1)
    try:
        failing, _ = one.submit(lambda s: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            failing.result(10)
        fine, _ = one.submit(lambda s: s["setups"])
        assert fine.result(10) == 1
    finally:
        one.close()


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("[::1]", True),
    ("localhost", True), ("0.0.0.0", False), ("192.168.1.20", False), ("::", False),
    ("example.com", False)])
def test_what_counts_as_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_off_loopback_a_key_is_required_and_generated_when_not_given() -> None:
    assert ServeConfig().resolve_key() == (None, False)
    key, generated = ServeConfig(host="0.0.0.0").resolve_key()
    assert generated and key is not None and len(key) >= 24
    assert ServeConfig(host="0.0.0.0").resolve_key()[0] != key  # fresh each time
    assert ServeConfig(host="0.0.0.0", api_key="k" * 20).resolve_key() == ("k" * 20, False)
    with pytest.raises(UserError, match="API key"):
        ServeConfig(host="0.0.0.0", api_key="").resolve_key()
    with pytest.raises(UserError, match="16 characters"):
        ServeConfig(api_key="short").resolve_key()


@pytest.mark.parametrize("config, words", [
    (ServeConfig(port=70000), "port"), (ServeConfig(port=0), "port"),
    (ServeConfig(max_pending=0), "max-pending"),
    (ServeConfig(limits=Limits(timeout=0)), "time limit"),
    (ServeConfig(limits=Limits(max_body=10)), "body limit")])
def test_settings_no_server_can_run_with_are_refused_in_a_sentence(config: ServeConfig,
                                                                   words: str) -> None:
    with pytest.raises(UserError, match=words):
        config.resolve_key()


def test_the_last_user_message_is_the_question_and_earlier_pairs_the_history() -> None:
    question, history = conversation([
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "First?"},
        {"role": "assistant", "content": "One [1]."},
        {"role": "user", "content": [{"type": "text", "text": "Second"},
                                     {"type": "image_url", "image_url": {"url": "x"}},
                                     {"type": "text", "text": "?"}]}])
    assert question == "Second?" and history == [("First?", "One [1].")]


@pytest.mark.parametrize("messages", [
    [], None, "hello", [{"role": "user", "content": "  "}],
    [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "A."}],
    [{"role": "user", "content": 42}]])
def test_a_conversation_without_a_question_is_refused(messages: object) -> None:
    with pytest.raises(ApiError) as refused:
        conversation(messages)
    assert refused.value.status == 400 and refused.value.param == "messages"
