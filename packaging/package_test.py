#!/usr/bin/env python3
"""`make package-test`: build the .deb, install it as a user would, use it, remove it.

Runs as root on a Debian/Ubuntu machine (apt-get installs the package and its Depends):
1. build the .deb (packaging/build.py --only deb; the freeze is reused when up to date);
2. install a stand-in *older* package first, then `apt-get install ./knowledge-assistant_*.deb`
   over it: an upgrade, which must replace the old files;
3. with ASSISTANT_HOME in a temp dir and no network (a fresh network namespace when
   `unshare` is there): the installed `assistant index tests/data/docs`, `search --json`
   (the kettle guarantee on page 2 of handbook.pdf) and `ask --json` (an answer with "27"
   citing that page); the bundled GGUF and the embedder's int8 export are read in place,
   never prepared or copied into ASSISTANT_HOME;
4. one training step of the installed `assistant train` (torch, the base model's conversion,
   the adapter's export to GGUF), then the installed windowed app's `--self-test` offscreen: window, a PDF opened at page 2, one
   question answered; its timings (start to window, start to first answer) are reported;
5. the window started with the xcb platform and one xcb library hidden: a sentence naming
   that library, exit 1, no Qt plugin error;
6. `apt-get install --reinstall` and a search again: the user's data is untouched;
7. always (even after a failure): `apt-get purge`, then nothing left in /opt or /usr/bin.
Prints one JSON summary line (sizes, timings) at the end; exit 0 when every check passed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import build  # noqa: E402
import linux  # noqa: E402

PACKAGE = linux.PACKAGE
QUESTION = "How long is the guarantee on the Zephyr X200 kettle?"
LEFTOVERS = [Path("/opt/knowledge-assistant"), Path("/usr/bin/assistant"),
             Path("/usr/bin/knowledge-assistant"),
             Path("/usr/share/applications/knowledge-assistant.desktop")]
summary: dict[str, object] = {}


def log(message: str) -> None:
    print(f"[package-test] {message}", flush=True)


def sh(cmd: list[str], *, env: dict[str, str] | None = None, check: bool = True,
       timeout: float = 900) -> subprocess.CompletedProcess[str]:
    log("$ " + " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout,
                          check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd[0]} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n"
                             f"{proc.stderr[-3000:]}")
    return proc


def apt(*args: str) -> None:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    sh(["apt-get", "-y", "-q", "-o", "Dpkg::Use-Pty=0", *args], env=env)


def offline(cmd: list[str]) -> list[str]:
    """`cmd` in a network namespace of its own (no interface but loopback, which is down)."""
    if shutil.which("unshare") and os.geteuid() == 0 and \
            subprocess.run(["unshare", "-n", "true"], check=False).returncode == 0:
        return ["unshare", "-n", *cmd]
    return cmd


def last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def fake_old_deb(work: Path) -> Path:
    """A tiny knowledge-assistant 0.0.1 with a file the real package does not have."""
    stage = work / "old"
    (stage / "DEBIAN").mkdir(parents=True)
    (stage / "opt" / PACKAGE).mkdir(parents=True)
    (stage / "opt" / PACKAGE / "OLD-VERSION").write_text("0.0.1\n")
    (stage / "usr" / "bin").mkdir(parents=True)
    script = stage / "opt" / PACKAGE / "assistant"
    script.write_text("#!/bin/sh\necho old\n")
    script.chmod(0o755)
    os.symlink(f"/opt/{PACKAGE}/assistant", stage / "usr" / "bin" / "assistant")
    (stage / "DEBIAN" / "control").write_text(
        f"Package: {PACKAGE}\nVersion: 0.0.1\nArchitecture: {build.deb_arch()}\n"
        f"Maintainer: {linux.MAINTAINER}\nDescription: an older stand-in for the upgrade test\n")
    out = work / f"{PACKAGE}_0.0.1_{build.deb_arch()}.deb"
    sh(["dpkg-deb", "--root-owner-group", "-Zzstd", "--build", str(stage), str(out)])
    return out


def check_cli(home: Path, docs: Path, env: dict[str, str]) -> None:
    started = time.monotonic()
    proc = sh(offline(["/usr/bin/assistant", "index", str(docs), "--json"]), env=env)
    summary["cli_index_s"] = round(time.monotonic() - started, 1)
    assert "Preparing" not in proc.stderr, \
        f"the installed app prepared its own embedder instead of the shipped one: {proc.stderr}"
    assert not list(home.rglob("*.onnx")), "the shipped embedder export was copied"
    out = last_json(proc.stdout)
    assert out["indexed"] >= 5 and not [f for f in out["failed"]
                                        if not f["path"].endswith(".pdf")], out
    res = last_json(sh(offline(["/usr/bin/assistant", "search", "How long is the kettle "
                                "guarantee?", "-k", "3", "--json"]), env=env).stdout)
    hit = res["hits"][0]
    assert hit["path"].endswith("handbook.pdf") and hit["page"] == 2, hit
    assert "27 months" in " ".join(hit["text"].split()), hit
    started = time.monotonic()
    proc = sh(offline(["/usr/bin/assistant", "ask", QUESTION, "--json"]), env=env)
    summary["cli_ask_s"] = round(time.monotonic() - started, 1)
    out = last_json(proc.stdout)
    assert out["not_found"] is False and "27" in out["answer"], out
    cited = out["citations"][0]
    assert cited["path"].endswith("handbook.pdf") and cited["page"] == 2, cited
    assert "27 months" in " ".join(cited["text"].split()), cited
    assert "Traceback" not in proc.stderr
    copied = list(home.rglob("*.gguf"))
    assert not copied, f"the bundled model was copied into the user's folder: {copied}"
    log("CLI: indexed, found page 2, answered '27 months' citing handbook.pdf p. 2")


def check_training(work: Path, env: dict[str, str]) -> None:
    """One real training step with the installed app, ending in a GGUF adapter (torch inside)."""
    out = work / "tiny-adapter.gguf"
    examples = ROOT / "tests" / "data" / "qa" / "heldout_grounded.jsonl"
    started = time.monotonic()
    proc = sh(offline(["/usr/bin/assistant", "train", str(examples), "--out", str(out),
                       "--stop-after", "1", "--batch-size", "2", "--max-length", "512",
                       "--json"]), env=env, timeout=1200)
    summary["cli_train_step_s"] = round(time.monotonic() - started, 1)
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert out.is_file() and out.read_bytes()[:4] == b"GGUF", "no adapter was written"
    log("training: one step, adapter written")


def check_self_test(docs: Path, env: dict[str, str]) -> None:
    gui_env = dict(env, QT_QPA_PLATFORM="offscreen")
    proc = sh(offline(["/usr/bin/knowledge-assistant", "--self-test", "--pdf",
                       str(docs / "handbook.pdf"), "--page", "2", "--question", QUESTION]),
              env=gui_env, check=False, timeout=600)
    assert proc.returncode == 0, f"self-test exited {proc.returncode}:\n{proc.stdout[-2000:]}" \
                                 f"\n{proc.stderr[-3000:]}"
    out = last_json(proc.stdout)
    assert out["ok"] and out["pdf_page"] == 2, out
    summary["window_s"] = out["window_s"]
    summary["first_answer_s"] = out["answer_s"]
    summary["gui_answer"] = out["answer"]
    summary["gui_citations"] = out["citations"]
    log(f"self-test: window after {out['window_s']} s, first answer after {out['answer_s']} s")


def check_missing_library(env: dict[str, str]) -> None:
    """Hide one xcb library (bind-mount /dev/null over it) and start the window on xcb."""
    lib = next((p for d in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
                            "/usr/lib") for p in [Path(d) / "libxcb-icccm.so.4"]
                if p.exists()), None)
    if lib is None or not shutil.which("unshare"):
        log("missing-library check skipped (no libxcb-icccm.so.4 or no unshare)")
        return
    xenv = {k: v for k, v in env.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    xenv["DISPLAY"] = ":99"
    script = (f"mount --bind /dev/null {lib.resolve()} && "
              "exec /usr/bin/knowledge-assistant")
    proc = sh(["unshare", "-m", "-n", "sh", "-c", script], env=xenv, check=False,
              timeout=120)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 1, (proc.returncode, text[-2000:])
    assert "libxcb-icccm.so.4" in text and "libxcb-icccm4" in text, text[-2000:]
    assert "qt.qpa" not in text and "Traceback" not in text, text[-2000:]
    log("missing library: named in a sentence (libxcb-icccm.so.4, package libxcb-icccm4)")


def purge() -> list[str]:
    subprocess.run(["apt-get", "-y", "-q", "purge", PACKAGE], check=False,
                   env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"),
                   stdout=subprocess.DEVNULL)
    left = [str(p) for p in LEFTOVERS if p.exists() or p.is_symlink()]
    if subprocess.run(["dpkg", "-s", PACKAGE], capture_output=True, check=False).returncode \
            == 0:
        left.append(f"dpkg still lists {PACKAGE}")
    return left


def main() -> int:
    if os.geteuid() != 0:
        print("make package-test installs a package: run it as root (or with sudo).")
        return 2
    if subprocess.run(["dpkg", "-s", PACKAGE], capture_output=True, check=False).returncode \
            == 0:
        print(f"{PACKAGE} is already installed here; remove it first "
              f"(apt-get purge {PACKAGE}), the test installs and purges its own.")
        return 2
    started = time.monotonic()
    build.main(["--only", "deb"])
    summary["build_s"] = round(time.monotonic() - started)
    deb = build.DIST / f"{PACKAGE}_{build.version()}_{build.deb_arch()}.deb"
    summary["deb_mb"] = round(deb.stat().st_size / 1e6)
    failure = None
    with tempfile.TemporaryDirectory(prefix="package-test-") as tmp:
        work = Path(tmp)
        home = work / "home"
        docs = work / "docs"
        shutil.copytree(ROOT / "tests" / "data" / "docs", docs,
                        ignore=shutil.ignore_patterns("__pycache__"))
        env = {k: v for k, v in os.environ.items()
               if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "LD_LIBRARY_PATH")}
        env.update(ASSISTANT_HOME=str(home), HOME=str(work / "user"),
                   PATH="/usr/bin:/bin:/usr/sbin:/sbin")
        # no pip, PyPI or hub to fall back on: the bundle must hold everything
        env.pop("HF_HOME", None)
        try:
            apt("install", str(fake_old_deb(work)))
            assert Path(f"/opt/{PACKAGE}/OLD-VERSION").exists()
            apt("install", str(deb.resolve()))
            assert not Path(f"/opt/{PACKAGE}/OLD-VERSION").exists(), "upgrade left old files"
            status = sh(["dpkg-query", "-W", "-f", "${Version} ${Installed-Size}", PACKAGE])
            version, size_kib = status.stdout.split()
            assert version == build.version(), version
            summary["installed_mb"] = round(int(size_kib) / 1024)
            check_cli(home, docs, env)
            check_training(work, env)
            check_self_test(docs, env)
            check_missing_library(env)
            apt("install", "--reinstall", str(deb.resolve()))
            res = last_json(sh(offline(["/usr/bin/assistant", "search", "kettle guarantee",
                                        "--json"]), env=env).stdout)
            assert res["hits"] and res["hits"][0]["page"] == 2, "user data lost on reinstall"
            log("reinstall kept the user's library")
        except (AssertionError, subprocess.SubprocessError, OSError, ValueError,
                KeyError) as exc:
            failure = exc
        finally:
            left = purge()
    if left:
        failure = failure or AssertionError(f"left after purge: {', '.join(left)}")
    summary["ok"] = failure is None
    summary["total_s"] = round(time.monotonic() - started)
    if failure is not None:
        log(f"FAILED: {failure}")
    else:
        log("purged; nothing left in /opt or /usr/bin")
    print(json.dumps(summary), flush=True)
    return 0 if failure is None else 1


if __name__ == "__main__":
    raise SystemExit(main())
