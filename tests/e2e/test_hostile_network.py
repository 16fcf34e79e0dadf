"""No network, ever: index, search, ask, train and the desktop app's start-up, watched.

Every Python process of a run (the extraction worker too) loads a small sitecustomize that
installs `sys.addaudithook` and records each socket connect, bind, sendto, name lookup and
urllib request to a file; the test asserts the file stays empty. As root, the commands
run inside a network namespace with no interfaces (`unshare -n`), where they
must all still work. Native code (llama.cpp, torch, tokenizers) is not seen by the hook; the
namespace is what covers it. As root the two are one run: the hook inside the namespace.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hostile.homes import app_home

pytestmark = pytest.mark.slow

GUARD = textwrap.dedent("""
    import json, os, sys

    _LOG = os.environ.get("KA_NETWORK_LOG")
    _WATCHED = {"socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg",
                "socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr",
                "socket.getnameinfo", "urllib.Request", "http.client.connect",
                "ftplib.connect", "smtplib.connect", "webbrowser.open"}

    def _hook(event, args):
        if _LOG and event in _WATCHED:
            line = json.dumps({"pid": os.getpid(), "event": event, "args": repr(args)[:300],
                               "argv": sys.argv[:4]})
            fd = os.open(_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, (line + "\\n").encode())
            finally:
                os.close(fd)

    sys.addaudithook(_hook)
""")

QUESTION = "How long is the guarantee on the Zephyr X200 kettle?"


def _env(home: Path, guard_dir: Path, log: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    env.update(ASSISTANT_HOME=str(home), KA_NETWORK_LOG=str(log), QT_QPA_PLATFORM="offscreen",
               PYTHONPATH=os.pathsep.join(filter(None, [str(guard_dir),
                                                        env.get("PYTHONPATH", "")])),
               # a user's shell that says "online": the app must stay offline regardless
               HF_HUB_OFFLINE="0", TRANSFORMERS_OFFLINE="0", ASSISTANT_QUIT_AFTER_MS="4000")
    return env


def _commands(docs: Path, data: Path, model: Path, out: Path) -> list[tuple[str, list[str]]]:
    assistant = [sys.executable, "-m", "assistant"]
    return [
        ("index", [*assistant, "index", str(docs), "--json"]),
        ("search", [*assistant, "search", "kettle warranty months", "--json"]),
        ("ask", [*assistant, "ask", QUESTION, "--json", "--model", str(model)]),
        ("train", [*assistant, "train", str(data), "--out", str(out), "--epochs", "1",
                   "--rank", "2", "--batch-size", "4", "--max-length", "64", "--threads", "1",
                   "--model", str(model), "--json"]),
        ("app", [*assistant, "app"]),
    ]


def _run_all(tmp: Path, name: str, data_dir: Path, model: Path,
             prefix: list[str]) -> tuple[list[dict], dict[str, subprocess.CompletedProcess]]:
    root = tmp / name
    home, guard_dir, log = root / "home", root / "guard", root / "network.log"
    guard_dir.mkdir(parents=True)
    (guard_dir / "sitecustomize.py").write_text(GUARD, encoding="utf-8")
    docs = root / "docs"
    shutil.copytree(data_dir / "docs", docs, ignore=shutil.ignore_patterns("__pycache__"))
    app_home(home)  # the prepared models are shared, not rebuilt
    data = root / "examples.jsonl"
    data.write_text("\n".join(json.dumps({
        "prompt": f"Where is the {item} kept?", "response": f"On shelf {n}.",
        "sources": [f"The {item} sits on shelf {n}."]})
        for n, item in enumerate(["lamp", "chair", "kettle", "ladder", "drill", "tent"])) + "\n",
        encoding="utf-8")
    env = _env(home, guard_dir, log)
    results = {}
    for label, command in _commands(docs, data, model, root / "adapter.gguf"):
        results[label] = subprocess.run([*prefix, *command], env=env, text=True,
                                        capture_output=True, timeout=900, cwd=root)
    attempts = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()] \
        if log.exists() else []
    return attempts, results


def _check(results: dict[str, subprocess.CompletedProcess]) -> None:
    for label, proc in results.items():
        assert proc.returncode == 0, f"{label} failed:\n{proc.stderr[-3000:]}"
    hits = json.loads(results["search"].stdout.splitlines()[-1])["hits"]
    assert hits and any(h["path"].endswith("handbook.pdf") for h in hits)
    answer = json.loads(results["ask"].stdout.splitlines()[-1])
    assert answer["answer"].strip()
    assert json.loads(results["train"].stdout.splitlines()[-1])["steps"] >= 1


def _namespace() -> tuple[list[str], str]:
    """`unshare -n` when this machine allows it (root), else nothing; and why not."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return [], "not root"
    probe = subprocess.run(["unshare", "-n", sys.executable, "-c",
                            "import socket; print([n for _, n in socket.if_nameindex()])"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        return [], f"unshare -n failed: {probe.stderr.strip()[:200]}"
    assert probe.stdout.strip() == "['lo']", probe.stdout  # no interface but a down loopback
    return ["unshare", "-n"], ""


def test_no_network_call_in_any_command(tmp_path: Path, data_dir: Path,
                                        default_gguf: Path) -> None:
    """One run does both checks where it can: the hook watches every Python process, inside
    a namespace without network interfaces (so native code cannot reach out either, and
    everything must work offline). Without root the hook alone watches."""
    prefix, why_not = _namespace()
    attempts, results = _run_all(tmp_path, "watched", data_dir, default_gguf, prefix)
    _check(results)
    assert attempts == [], "\n".join(json.dumps(a) for a in attempts)
    where = "inside unshare -n" if prefix else f"with the network present ({why_not})"
    print(f"\nno network: {len(results)} commands watched {where}, "
          f"{len(attempts)} connection attempts")
