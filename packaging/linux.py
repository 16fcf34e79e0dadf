"""Linux packages of the frozen bundle: a .deb (dpkg-deb) and a portable .tar.gz.

The .deb puts the bundle in /opt/knowledge-assistant, links /usr/bin/assistant and
/usr/bin/knowledge-assistant to its two executables, and installs the desktop entry and the
icon. `Depends` comes from dpkg-shlibdeps over every ELF file of the bundle (the libraries
PyInstaller left to the system, glibc first) plus the libraries Qt's xcb platform plugin
opens at run time, which no ELF file names. The bundle carries Tesseract (OCR) itself, with
its libraries and English data, so the package reads scans with no network. Nothing is
written outside those paths, and the user's data lives in their own data directory, so an
upgrade or a purge never touches it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tesseract_build  # the small Tesseract: built from source, cached

PACKAGE = "knowledge-assistant"
PREFIX = Path("opt") / PACKAGE
ROOT = Path(__file__).resolve().parent.parent
RESOURCES = ROOT / "resources"
MAINTAINER = "Knowledge Assistant maintainers <maintainers@knowledge-assistant.invalid>"
DESCRIPTION = """Chat, fully offline, with your own documents
 Knowledge Assistant indexes your PDF, Word, PowerPoint, Excel, OpenDocument, EPUB, RTF,
 mail, Markdown, HTML and text files, and scans and images (OCR with Tesseract), and answers
 questions about them with a local language model, citing the page, slide, sheet range,
 chapter or message each answer comes from.
 Everything runs on this computer: no account, no network. The embedding model
 (all-MiniLM-L6-v2) and the answer model (Gemma 3 270M, Q4_K_M) are included."""
# Opened by Qt's xcb platform plugin at run time (dlopen): dpkg-shlibdeps cannot see them.
XCB_DEPENDS = ["libxcb-cursor0", "libxcb-icccm4", "libxcb-keysyms1", "libxcb-xinerama0",
               "libxcb-image0", "libxcb-render-util0", "libxcb-shape0", "libxcb-randr0",
               "libxkbcommon-x11-0"]
# OCR of scanned pages and images (on by default) runs the Tesseract program, which the bundle
# carries (bundle_tesseract): the .deb installs and reads scans with no network. The program is
# built from source without libarchive and libcurl (tesseract_build); Debian's packages give
# the English data, and their program is the fallback where that build cannot run.
TESSERACT_PACKAGES = ["tesseract-ocr", "tesseract-ocr-eng"]
# Libraries never copied with Tesseract: glibc, the GCC/C++ runtime and the few others on
# AppImage's excludelist that every Debian/Ubuntu system has (a copied glibc would not match
# the system's loader). The .deb's dpkg-shlibdeps names their packages in `Depends`.
SYSTEM_LIBRARY = re.compile(
    r"(ld-linux.*|lib(c|m|dl|pthread|rt|resolv|util|anl|mvec|nsl|BrokenLocale|thread_db)"
    r"\.so\..*|libnss_.*|libstdc\+\+\.so\..*|libgcc_s\.so\..*|libz\.so\.1|"
    r"libcom_err\.so\.2|libexpat\.so\.1|libgpg-error\.so\.0|libuuid\.so\.1)")
# Desktop integration that Qt looks for but can live without (fonts, GL): recommended.
RECOMMENDS = ["libgl1", "libegl1", "fontconfig", "libxkbcommon0", "libdbus-1-3"]


def log(message: str) -> None:
    print(f"[linux] {message}", flush=True)


def elf_files(root: Path) -> list[Path]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as handle:
                if handle.read(4) == b"\x7fELF":
                    found.append(path)
    return found


def shlib_depends(bundle: Path) -> list[str]:
    """`Depends` for the system libraries the bundle's ELF files need (dpkg-shlibdeps)."""
    files = elf_files(bundle)
    lib_dirs = sorted({str(f.parent) for f in files})
    # dpkg-shlibdeps falls back from a bundled library to the system's copy and its package:
    # the packages of the libraries carried with Tesseract are not dependencies
    carried = sorted(owning_packages([p.name for p in (bundle / "tesseract" / "lib").glob("*")]))
    skipped: set[Path] = set()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "debian").mkdir()
        (Path(tmp) / "debian" / "control").write_text(
            f"Source: {PACKAGE}\n\nPackage: {PACKAGE}\nArchitecture: any\n")
        for _attempt in range(5):
            todo = [str(f) for f in files if f not in skipped]
            proc = subprocess.run(
                ["dpkg-shlibdeps", "-O", "--ignore-missing-info", "--warnings=0",
                 *[f"-l{d}" for d in lib_dirs], *[f"-x{p}" for p in carried], "-e", *todo],
                cwd=tmp, capture_output=True, text=True, check=False)
            if proc.returncode == 0:
                line = next((x for x in proc.stdout.splitlines()
                             if x.startswith("shlibs:Depends=")), "shlibs:Depends=")
                deps = [d.strip() for d in line.split("=", 1)[1].split(",") if d.strip()]
                return deps
            # a library nothing provides (a Qt plugin for a desktop this system lacks):
            # that plugin is optional, so leave its file out of the computation and say so
            needing = set(re.findall(r"needed by (\S+)", proc.stderr))
            if not needing:
                raise RuntimeError("dpkg-shlibdeps failed:\n" + proc.stderr[-3000:])
            for name in sorted(needing):
                log(f"dpkg-shlibdeps: a library of {name} is on no package here; skipped")
            skipped |= {Path(n.rstrip(":")) for n in needing}
    raise RuntimeError("dpkg-shlibdeps kept failing")


def system_tesseract() -> Path:
    """The build machine's `tesseract`, installed with apt-get (as root or with sudo) when
    missing."""
    found = shutil.which("tesseract")
    if found is None and shutil.which("apt-get"):
        sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
        log("installing Tesseract with apt-get, to copy it into the bundle")
        subprocess.run([*sudo, "apt-get", "install", "-y", "-q", *TESSERACT_PACKAGES],
                       stdout=subprocess.DEVNULL, check=False)
        found = shutil.which("tesseract")
    if found is None:
        raise RuntimeError("Tesseract is not installed on this build machine: "
                           "run sudo apt-get install tesseract-ocr tesseract-ocr-eng.")
    return Path(found).resolve()


def system_tessdata(program: Path) -> Path:
    """The folder of the build machine's `eng.traineddata`: Tesseract 5 names it in
    `--list-langs`; 4.1 (Ubuntu 22.04) does not, so the usual places are tried too."""
    listing = subprocess.run([str(program), "--list-langs"], capture_output=True, text=True,
                             check=False)
    named = re.search(r'"(.+?)"', listing.stdout + listing.stderr)
    candidates = [Path(named.group(1))] if named else []
    candidates += sorted(Path("/usr/share").glob("tesseract-ocr/*/tessdata"), reverse=True)
    for folder in [*candidates, Path("/usr/share/tessdata")]:
        if (folder / "eng.traineddata").is_file():
            return folder
    raise RuntimeError("Tesseract's English data is not installed on this build machine: "
                       "run sudo apt-get install tesseract-ocr-eng.")


def bundle_tesseract(bundle: Path, program: Path | None = None, build: bool = True) -> int:
    """Copy Tesseract into `<bundle>/tesseract`: `bin/tesseract`, the libraries it loads that a
    base system lacks (`lib/`, from ldd) and the English data (`tessdata/`), so the installed
    app reads scans with no network and no system package. The app points the program at
    them (assistant.ingest.ocr.tesseract_command). The program is the small build of
    tesseract_build (cached, else compiled now) unless `build` is False or that build fails:
    then Debian's, with ICU and the curl stack (68 MB rather than 13). Returns the bytes
    added."""
    system = system_tesseract()  # Debian's: the English data, and the fallback program
    if program is None and build:
        program = tesseract_build.built_tesseract()
    program = program or system
    log(f"Tesseract: {program}")
    tessdata = system_tessdata(system)
    target = bundle / "tesseract"
    if target.exists():
        shutil.rmtree(target)
    for sub in ("bin", "lib", "tessdata"):
        (target / sub).mkdir(parents=True)
    shutil.copy2(program, target / "bin" / "tesseract")
    originals = [program]
    ldd = subprocess.run(["ldd", str(program)], capture_output=True, text=True,
                         check=True).stdout
    for name, path in re.findall(r"^\s*(\S+) => (\S+)", ldd, re.MULTILINE):
        if path == "not":
            raise RuntimeError(f"Tesseract needs {name}, which this build machine lacks.")
        if not SYSTEM_LIBRARY.fullmatch(name):
            originals.append(Path(path).resolve())
            shutil.copy2(originals[-1], target / "lib" / name)
    # osd.traineddata (11 MB) stays out: it serves only page segmentation modes 0 and 1
    # (orientation and script detection), and the app runs mode 3
    shutil.copy2(tessdata / "eng.traineddata", target / "tessdata")
    for name in ("configs", "tessconfigs"):  # `tsv` (word boxes) is a config file
        if (tessdata / name).is_dir():
            shutil.copytree(tessdata / name, target / "tessdata" / name)
    copy_licences([*originals, tessdata / "eng.traineddata"], target)
    built_licences = program.parent.parent / "licenses"
    if program != system and built_licences.is_dir():  # Tesseract's and Leptonica's own
        for path in built_licences.iterdir():
            shutil.copy2(path, target / "licenses" / path.name)
    size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    log(f"Tesseract in the bundle: {size / 1e6:.0f} MB")
    return size


def owning_packages(names: list[str]) -> set[str]:
    """The Debian packages that install a file of one of these names (dpkg -S)."""
    if not names or not shutil.which("dpkg"):
        return set()
    found = subprocess.run(["dpkg", "-S", *[f"*/{name}" for name in names]],
                           capture_output=True, text=True, check=False).stdout
    return {line.split(":")[0] for line in found.splitlines()
            if ":" in line and not line.startswith("diversion")}


def copy_licences(originals: list[Path], target: Path) -> None:
    """The copyright file of each copied file's Debian package, to `tesseract/licenses/`:
    the licences (Apache, BSD, LGPL) ask that their text travels with the binaries."""
    licences = target / "licenses"
    licences.mkdir()
    for package in owning_packages([p.name for p in originals]):
        source = Path("/usr/share/doc") / package / "copyright"
        if source.is_file():
            shutil.copy2(source, licences / package)


def merge_depends(found: list[str], extra: list[str]) -> str:
    names = {re.split(r"[\s(]", d, maxsplit=1)[0] for d in found}
    return ", ".join([*found, *[e for e in extra if e not in names]])


def installed_size_kib(root: Path) -> int:
    return sum(-(-p.stat().st_size // 1024) for p in root.rglob("*")
               if p.is_file() and not p.is_symlink()) + 4


def write_md5sums(stage: Path) -> None:
    lines = []
    for path in sorted(stage.rglob("*")):
        if path.is_file() and not path.is_symlink() and "DEBIAN" not in path.parts:
            digest = hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()
            lines.append(f"{digest}  {path.relative_to(stage)}\n")
    (stage / "DEBIAN" / "md5sums").write_text("".join(lines))


def stage_tree(bundle: Path, stage: Path) -> None:
    if stage.exists():
        shutil.rmtree(stage)
    app = stage / PREFIX
    app.parent.mkdir(parents=True)
    try:  # hard links: instant, and dpkg-deb reads them like files
        subprocess.run(["cp", "-al", str(bundle), str(app)], check=True)
    except (OSError, subprocess.CalledProcessError):
        shutil.copytree(bundle, app, symlinks=True)
    (stage / "usr" / "bin").mkdir(parents=True)
    for exe in ("assistant", "knowledge-assistant"):
        os.symlink(f"/{PREFIX}/{exe}", stage / "usr" / "bin" / exe)
    share = stage / "usr" / "share"
    (share / "applications").mkdir(parents=True)
    shutil.copy2(RESOURCES / "knowledge-assistant.desktop", share / "applications")
    icons = share / "icons" / "hicolor" / "scalable" / "apps"
    icons.mkdir(parents=True)
    shutil.copy2(RESOURCES / "knowledge-assistant.svg", icons)
    doc = share / "doc" / PACKAGE
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(
        "Knowledge Assistant: MIT licence.\n"
        "Bundled: Python and its libraries, Qt 6 and PySide6 (LGPLv3), PyTorch (BSD),\n"
        "llama.cpp (MIT), SQLite (public domain), sqlite-vec (MIT/Apache-2.0),\n"
        "all-MiniLM-L6-v2 (Apache-2.0), Gemma 3 270M (Gemma Terms of Use),\n"
        "the grounded-answer adapter (trained on SQuAD 2.0, CC BY-SA 4.0),\n"
        "Tesseract OCR and its English data (Apache-2.0), Leptonica (BSD-2-Clause) and the\n"
        "libraries they load (built from Debian's sources, and Debian's image libraries),\n"
        "in tesseract/ (their licences: tesseract/licenses).\n"
        "Each library's licence is in /opt/knowledge-assistant/_internal/*.dist-info.\n")
    for path in [stage, *stage.rglob("*")]:
        if path.is_dir() and not path.is_symlink():
            path.chmod(0o755)


def build_deb(bundle: Path, dist: Path, version: str, arch: str) -> Path:
    stage = ROOT / "build" / "deb" / f"{PACKAGE}_{version}_{arch}"
    log(f"staging {stage}")
    stage_tree(bundle, stage)
    depends = merge_depends(shlib_depends(stage / PREFIX), XCB_DEPENDS)
    (stage / "DEBIAN").mkdir()
    control = (f"Package: {PACKAGE}\nVersion: {version}\nArchitecture: {arch}\n"
               f"Maintainer: {MAINTAINER}\nInstalled-Size: {installed_size_kib(stage)}\n"
               f"Depends: {depends}\nRecommends: {', '.join(RECOMMENDS)}\n"
               f"Section: utils\nPriority: optional\nDescription: {DESCRIPTION}\n")
    (stage / "DEBIAN" / "control").write_text(control)
    write_md5sums(stage)
    out = dist / f"{PACKAGE}_{version}_{arch}.deb"
    log(f"Depends: {depends}")
    # xz -9 on every core: 2.7% smaller than -6 on libtorch (the bulk of the package).
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zxz", "-z9",
                    f"--threads-max={os.cpu_count() or 1}", "--build", str(stage), str(out)],
                   check=True)
    log(f"{out.name}: {out.stat().st_size / 1e6:.0f} MB")
    return out


def build_tarball(bundle: Path, dist: Path, version: str) -> Path:
    """The same bundle as a portable archive: unpack anywhere, run ./knowledge-assistant."""
    import platform

    out = dist / f"{PACKAGE}-{version}-linux-{platform.machine().lower()}.tar.gz"
    compressor = "pigz -6" if shutil.which("pigz") else "gzip -6"
    subprocess.run(f"tar -C '{bundle.parent}' -cf - '{bundle.name}' | {compressor} > '{out}'",
                   shell=True, check=True)
    log(f"{out.name}: {out.stat().st_size / 1e6:.0f} MB")
    return out
