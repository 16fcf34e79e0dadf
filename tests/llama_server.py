"""A real OpenAI-compatible inference server for tests and benchmarks: llama-cpp-python's own
(`python -m llama_cpp.server`) on a free loopback port, serving the embedded GGUF with the
shipped grounded adapter under the name that tells the app so (`CALIBRATED_MODEL`).

llama.cpp's `llama-server` is not on the package registries this project can reach (only as
source to compile), so this server stands in for it: the same OpenAI endpoints, completions
with log-probabilities, SSE streaming and an API key.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from assistant.llm.grounded import builtin_adapter_path
from assistant.llm.remote import CALIBRATED_MODEL

KEY = "test-key-5d1c"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A llama-cpp-python server process on loopback, started and stopped by a fixture."""

    def __init__(self, gguf: Path, log: Path, *, key: str | None = KEY,
                 logprobs: bool = True, adapter: bool = True) -> None:
        """`logprobs` False: the server refuses log-probabilities; `adapter` False: the
        base model alone, under its file name."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        command = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf),
                   "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", "2048",
                   "--n_threads", "2", "--n_threads_batch", "2", "--verbose", "False",
                   "--logits_all", str(logprobs)]
        if adapter:
            path = builtin_adapter_path()
            assert path is not None, "the shipped grounded adapter is missing"
            command += ["--lora_path", str(path), "--model_alias", CALIBRATED_MODEL]
        if key:
            command += ["--api_key", key]
        self.log = log.open("wb")
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while True:
            assert self.process.poll() is None, log.read_text(errors="replace")[-2000:]
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline, "the inference server did not start"
                time.sleep(0.3)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
        self.process.wait(30)
        self.log.close()
