#!/usr/bin/env python3
"""Set up `.venv` at the repository root with everything the app and its tests need.

Why a script and not a plain `pip install -e .`:
- torch must be installed (pinned) before anything that depends on it, or pip pulls a
  multi-gigabyte CUDA build;
- llama-cpp-python compiles llama.cpp from source, and the default `-march=native` build
  crashes on CPUs with AMX. We build it portably, adding AVX-512 only where this CPU has it,
  and keep the wheel in a cache directory named after those flags, so pip's own wheel cache
  can never hand back a build made with other flags;
- a second run must be fast: a stamp records what was installed, and nothing is redone
  while the inputs are unchanged.

Usage: python3 packaging/bootstrap.py [--dev]
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
TORCH = "torch==2.13.0"
LLAMA_VERSION = "0.3.36"
MIN_PYTHON = (3, 11)

BASE_FLAGS = ["-DGGML_NATIVE=OFF", "-DGGML_AMX_TILE=OFF", "-DGGML_AMX_INT8=OFF",
              "-DGGML_AMX_BF16=OFF", "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF"]
AVX2_FLAGS = ["-DGGML_AVX=ON", "-DGGML_AVX2=ON", "-DGGML_FMA=ON", "-DGGML_F16C=ON",
              "-DGGML_BMI2=ON"]
AVX512_FLAGS = ["-DGGML_AVX512=ON", "-DGGML_AVX512_VNNI=ON", "-DGGML_AVX512_VBMI=ON",
                "-DGGML_AVX512_BF16=ON"]


def log(message: str) -> None:
    print(f"[bootstrap] {message}", flush=True)


def venv_python(venv_dir: Path = VENV) -> Path:
    if os.name == "nt":
        return venv_dir / "Scripts" / "python.exe"
    return venv_dir / "bin" / "python"


def cpu_flags() -> set[str]:
    """The CPU's instruction-set flags, as far as this platform lets us read them."""
    try:
        if sys.platform.startswith("linux"):
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
        if sys.platform == "darwin":
            out = subprocess.run(["sysctl", "-n", "machdep.cpu.features",
                                  "machdep.cpu.leaf7_features"],
                                 capture_output=True, text=True, check=False).stdout
            return {flag.lower().replace(".", "_") for flag in out.split()}
    except OSError:
        pass
    return set()


def llama_build() -> tuple[str, list[str]]:
    """A tag naming the build, and the CMake flags for it."""
    machine = platform.machine().lower()
    if machine not in ("x86_64", "amd64"):
        # Arm (Apple silicon, Linux aarch64): llama.cpp's defaults are portable there.
        return f"{machine}-default", []
    flags = cpu_flags()
    if not flags and os.name == "nt":
        flags = {"avx2", "fma", "f16c", "bmi2"}  # every x86-64 CPU of the last decade
    if "avx2" not in flags:
        return "x86_64-baseline", BASE_FLAGS
    wanted = {"avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512vbmi", "avx512_bf16"}
    if wanted <= flags:
        return "x86_64-avx512", BASE_FLAGS + AVX2_FLAGS + AVX512_FLAGS
    return "x86_64-avx2", BASE_FLAGS + AVX2_FLAGS


def portable_llama_build() -> tuple[str, list[str]]:
    """The build an installer ships: AVX2 baseline on x86-64 whatever this CPU has (no
    AVX-512, no AMX, no -march=native); llama.cpp's portable defaults on Arm. Its tag is the
    one `llama_build()` gives on an AVX2-only CPU, so both share one cached wheel."""
    machine = platform.machine().lower()
    if machine not in ("x86_64", "amd64"):
        return f"{machine}-default", []
    return "x86_64-avx2", BASE_FLAGS + AVX2_FLAGS


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "knowledge-assistant"


def run(cmd: list[str], **kwargs: object) -> None:
    log("$ " + " ".join(cmd))
    subprocess.run(cmd, check=True, **kwargs)  # type: ignore[call-overload]


def pip(*args: str, env: dict[str, str] | None = None, python: Path | None = None) -> None:
    run([str(python or venv_python()), "-m", "pip", "--disable-pip-version-check", *args],
        env=env)


def find_python() -> str:
    if sys.version_info >= MIN_PYTHON:
        return sys.executable
    for name in ("python3.13", "python3.12", "python3.11"):
        found = shutil.which(name)
        if found:
            return found
    sys.exit("Knowledge Assistant needs Python 3.11 or newer; please install it first.")


def ensure_venv() -> None:
    if venv_python().exists():
        return
    python = find_python()
    log(f"creating {VENV} with {python}")
    if python == sys.executable:
        venv.EnvBuilder(with_pip=True).create(VENV)
    else:
        run([python, "-m", "venv", str(VENV)])
    pip("install", "-q", "--upgrade", "pip", "wheel")


def ensure_llama_wheel(build: tuple[str, list[str]] | None = None,
                       python: Path | None = None) -> Path:
    """The cached llama-cpp-python wheel for `build` (default: tuned to this CPU), compiled
    with `python`'s pip (default: .venv's) the first time."""
    tag, flags = build or llama_build()
    wheel_dir = cache_root() / "wheels" / f"llama-cpp-python-{LLAMA_VERSION}-{tag}"
    wheels = sorted(wheel_dir.glob("llama_cpp_python-*.whl"))
    if wheels:
        return wheels[-1]
    wheel_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["CMAKE_ARGS"] = " ".join(flags)
    env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 2))
    log(f"compiling llama-cpp-python {LLAMA_VERSION} ({tag}); this takes 15-25 minutes once")
    pip("wheel", "--no-deps", "--no-cache-dir", "-w", str(wheel_dir),
        f"llama-cpp-python=={LLAMA_VERSION}", env=env, python=python)
    wheels = sorted(wheel_dir.glob("llama_cpp_python-*.whl"))
    if not wheels:
        sys.exit("llama-cpp-python did not build; see the compiler output above.")
    return wheels[-1]


def stamp_of(dev: bool, wheel: Path) -> str:
    digest = hashlib.sha256()
    for path in (ROOT / "pyproject.toml", Path(__file__)):
        digest.update(path.read_bytes())
    digest.update(f"dev={dev} wheel={wheel.name} tag={wheel.parent.name}".encode())
    return digest.hexdigest()


def ensure_tesseract(dev: bool) -> None:
    """OCR (scanned pages, images) runs the Tesseract program, a system package: the tests
    need it, so a developer set-up installs it where it can (root with apt-get)."""
    if shutil.which("tesseract"):
        return
    if dev and shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0:
        log("installing Tesseract (OCR) with apt-get")
        subprocess.run(["apt-get", "update", "-q"], check=False, stdout=subprocess.DEVNULL)
        done = subprocess.run(["apt-get", "install", "-y", "-q", "tesseract-ocr",
                               "tesseract-ocr-eng"], stdout=subprocess.DEVNULL, check=False)
        if done.returncode == 0:
            return
    log("Tesseract is not installed: reading scanned pages (OCR) needs it "
        "(Debian/Ubuntu: sudo apt install tesseract-ocr; macOS: brew install tesseract)")


def main(argv: list[str]) -> int:
    dev = "--dev" in argv
    ensure_tesseract(dev)
    ensure_venv()
    wheel = ensure_llama_wheel()
    stamp_file = VENV / ".assistant-bootstrap"
    stamp = stamp_of(dev, wheel)
    if stamp_file.exists() and stamp_file.read_text() == stamp:
        log("environment is up to date")
        return 0
    pip("install", "-q", TORCH)  # first, so nothing pulls a CUDA build
    pip("install", "-q", "--force-reinstall", "--no-deps", str(wheel))
    pip("install", "-q", "-e", f"{ROOT}[dev]" if dev else str(ROOT))
    stamp_file.write_text(stamp)
    log("done")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
