"""A training run put in the background writes its progress to its log (the bar is silent
off a terminal): `nohup assistant train ... > train.log` must say how far it is."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hostile.homes import app_home

from assistant.cli.output import ProgressLog


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_line_per_phase_and_at_most_one_a_minute_while_training() -> None:
    out = io.StringIO()
    log = ProgressLog(out, every=60.0)
    log.update("loading", 0, 10, "Loading the base model")
    log.update("training", 1, 10, "loss 2.000")
    log.update("training", 2, 10, "loss 1.900")  # the same phase within the minute: no line
    log.update("saving", 2, 10, "Saving a checkpoint")
    log.update("training", 3, 10, "loss 1.800")  # back to training: a line
    log.update("training", 10, 10, "loss 1.000")  # the last step: a line
    lines = out.getvalue().splitlines()
    assert [line.split(" ", 2)[2] for line in lines] == [
        "0/10 Loading the base model", "1/10 loss 2.000", "2/10 Saving a checkpoint",
        "3/10 loss 1.800", "10/10 loss 1.000"]
    assert [line.split(" ")[1] for line in lines] == [
        "loading", "training", "saving", "training", "training"]
    assert all(re.match(r"\d\d:\d\d:\d\d ", line) for line in lines)
    every = ProgressLog(out := io.StringIO(), every=0.0)
    for step in range(1, 4):
        every.update("training", step, 10, "")
    assert len(out.getvalue().splitlines()) == 3
    terminal = _Terminal()
    ProgressLog(terminal).update("loading", 0, 10, "x")
    assert terminal.getvalue() == ""  # the bar shows it there


@pytest.mark.slow
def test_assistant_train_writes_its_progress_to_a_log_file(tmp_path: Path,
                                                           default_gguf: Path) -> None:
    home = app_home(tmp_path / "home")  # the dequantised base model is shared
    data = tmp_path / "examples.jsonl"
    data.write_text("\n".join(json.dumps({
        "prompt": f"Where is the {item} kept?", "response": f"On shelf {n}.",
        "sources": [f"The {item} sits on shelf {n}."]})
        for n, item in enumerate(["lamp", "chair", "kettle", "ladder", "drill", "tent",
                                  "mirror", "rope"])) + "\n", encoding="utf-8")
    env = dict(os.environ, ASSISTANT_HOME=str(home))
    log = tmp_path / "train.log"
    with log.open("w", encoding="utf-8") as stream:
        done = subprocess.run(
            [sys.executable, "-m", "assistant", "train", str(data), "--out",
             str(tmp_path / "adapter.gguf"), "--epochs", "1", "--rank", "2", "--batch-size", "2",
             "--max-length", "64", "--threads", "1", "--model", str(default_gguf)],
            stdout=stream, stderr=subprocess.STDOUT, env=env, timeout=600)
    text = log.read_text(encoding="utf-8")
    assert done.returncode == 0, text
    phases = [m.group(1) for m in re.finditer(r"^\d\d:\d\d:\d\d (\w+) \d+/\d+", text, re.M)]
    assert phases[0] == "loading" and "training" in phases and phases[-1] == "done"
    assert re.search(r"^\d\d:\d\d:\d\d training \d+/(\d+) loss \d\.\d{3} · ETA", text, re.M)
    assert re.search(r"^\d\d:\d\d:\d\d saving \d+/\d+ Writing the adapter", text, re.M)
    assert "Wrote " in text and (tmp_path / "adapter.gguf").is_file()
