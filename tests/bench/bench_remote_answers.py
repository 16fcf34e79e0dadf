"""Answer latency: the embedded model against the same model behind an inference server.

Run on demand: `.venv/bin/python tests/bench/bench_remote_answers.py [--runs N] [--no-logprobs]`.
Starts llama-cpp-python's OpenAI server on loopback (tests/llama_server.py) serving the
embedded GGUF with the grounded adapter, loads the same pair in-process, and asks the same
questions through `answer_question` both ways, alternating, so background load falls on both
alike. Both run on the same two threads of this machine, so the difference is the cost of the
HTTP hops (tokenizer calls, the judgement's completion, SSE) and of the server's own way of
computing, not of better hardware. Prints p50 of the whole answer and of the first token, and
checks the answers agree.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from llama_server import KEY, Server

from assistant.answer import answer_question
from assistant.llm.generator import Generator
from assistant.llm.grounded import builtin_adapter_path
from assistant.llm.models import ensure_default_model
from assistant.llm.remote import RemoteGenerator, ServerConfig
from assistant.search import Hit

PASSAGES = [
    ("/docs/manual.pdf", "The Zephyr X200 coffee machine has a 1.8 litre water tank and heats up "
     "in 45 seconds. The warranty lasts two years from the date of purchase."),
    ("/docs/travel.txt", "The Louvre museum in Paris is closed on Tuesdays. Tickets cost 22 "
     "euros and can be bought online."),
    ("/docs/report.pdf", "Acme Corporation was founded in 1987 by Maria Lopez in Denver. It "
     "employs 4,200 people."),
]
QUESTIONS = ["How long is the warranty?", "Which day is the Louvre closed?",
             "Who founded Acme Corporation?", "How many people does Acme employ?",
             "How much does a Louvre ticket cost?", "How big is the water tank?",
             "Where was Acme founded?", "What is the capital of Peru?"]
HITS = [Hit(chunk_id=i, document_id=i, path=path, page=None, start=0, end=len(text),
            text=text, score=1.0 / i, similarity=0.6)
        for i, (path, text) in enumerate(PASSAGES, 1)]


def p50(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=len(QUESTIONS))
    parser.add_argument("--no-logprobs", action="store_true", dest="no_logprobs",
                        help="start the server without log-probabilities (llama-cpp-python "
                        "computes them only with logits for every prompt token, which costs "
                        "a softmax over 262k tokens each): the answers then get no judgement")
    args = parser.parse_args()
    gguf = ensure_default_model()
    adapter = builtin_adapter_path()
    assert adapter is not None
    log = Path(tempfile.mkdtemp()) / "server.log"
    server = Server(gguf, log, logprobs=not args.no_logprobs)
    try:
        remote = RemoteGenerator(ServerConfig(server.url, KEY, n_ctx=2048))
        with Generator(gguf, n_ctx=2048, n_threads=2) as local:
            local.set_adapter(adapter, 1.0)
            times: dict[str, list[float]] = {"embedded": [], "server": []}
            firsts: dict[str, list[float]] = {"embedded": [], "server": []}
            agree = 0
            for i in range(args.runs):
                question = QUESTIONS[i % len(QUESTIONS)]
                texts = {}
                order = [("embedded", local), ("server", remote)]
                for name, generator in order if i % 2 == 0 else order[::-1]:
                    started = time.perf_counter()
                    # Without log-probabilities the server's answers get no judgement; the
                    # embedded model then goes without it too, so both take the same path.
                    answer = answer_question(question, retriever=lambda q, k: HITS[:k],
                                             generator=generator, reader=None,
                                             judge=not args.no_logprobs)
                    times[name].append(time.perf_counter() - started)
                    if answer.first_token_seconds is not None:
                        firsts[name].append(answer.first_token_seconds)
                    texts[name] = answer.text
                agree += texts["embedded"] == texts["server"]
                print(f"{question!r}: {texts['server']!r} "
                      f"({times['embedded'][-1]:.2f} s here, {times['server'][-1]:.2f} s "
                      "through the server)", flush=True)
    finally:
        server.stop()
    for name in ("embedded", "server"):
        first = f"{p50(firsts[name]):.2f} s" if firsts[name] else "-"
        print(f"{name:9s} answer p50 {p50(times[name]):.2f} s, first token p50 {first} "
              f"({len(times[name])} answers)")
    print(f"same answer both ways: {agree}/{args.runs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
