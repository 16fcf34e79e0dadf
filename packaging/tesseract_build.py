"""A small Tesseract for the Linux bundle, built from Debian's own sources.

Debian's `tesseract-ocr` loads libarchive (which pulls libxml2 and ICU, 33 MB) and libcurl
(with its TLS, ssh and LDAP stack, 16 MB): copied into the bundle they made OCR cost 68 MB.
The app needs neither: its models are plain files and it hands Tesseract local images. So
this builds the same versions Debian 12 ships (Leptonica 1.82.0, Tesseract 5.3.0, the
`.orig` tarballs from Debian's pool, checked by SHA-256) without them:

- Leptonica with zlib, PNG, JPEG and TIFF only (no GIF, WebP, OpenJPEG), as a static library;
- Tesseract with autotools like Debian (the CMake build of 5.3.0 compiles some files with
  `-march=native -ffast-math`: not portable), without libarchive, libcurl, OpenMP (the app
  runs it with OMP_THREAD_LIMIT=1), ScrollView or training tools (ICU, pango), linked
  statically against its own library and Leptonica.

The result (`bin/tesseract` and the two licences) is cached under
`~/.cache/knowledge-assistant/tesseract/<versions>-<revision>/`; later builds reuse it.
`python packaging/tesseract_build.py` builds it alone. The English data still comes from
Debian's `tesseract-ocr-eng` (linux.bundle_tesseract).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

TESSERACT_VERSION = "5.3.0"
LEPTONICA_VERSION = "1.82.0"
# bump when the flags below change: the cached result is named after it
REVISION = "r1"
POOL = "http://deb.debian.org/debian/pool/main"
SOURCES = {  # file: (folder in Debian's pool, SHA-256 from the .dsc of 5.3.0-2 / 1.82.0-3)
    f"tesseract_{TESSERACT_VERSION}.orig.tar.gz":
        ("t/tesseract", "7e70870f8341e5ea228af2836ce79a36eefa11b01b56177b4a8997f330c014b8"),
    f"leptonlib_{LEPTONICA_VERSION}.orig.tar.gz":
        ("l/leptonlib", "155302ee914668c27b6fe3ca9ff2da63b245f6d62f3061c8f27563774b8ae2d6"),
}
LEPTONICA_CONFIGURE = ["--disable-shared", "--enable-static", "--disable-programs",
                       "--disable-dependency-tracking", "--without-giflib", "--without-libwebp",
                       "--without-libwebpmux", "--without-libopenjpeg"]
TESSERACT_CONFIGURE = ["--disable-shared", "--enable-static", "--disable-openmp",
                       "--disable-graphics", "--without-archive", "--without-curl",
                       "--without-tensorflow", "--disable-doc", "--disable-tessdata-prefix",
                       "--disable-dependency-tracking"]
# Debian packages the build needs (installed with apt-get when missing, as root or sudo -n)
BUILD_PACKAGES = ["g++", "make", "pkg-config", "autoconf", "automake", "libtool",
                  "autoconf-archive", "zlib1g-dev", "libpng-dev", "libjpeg-dev", "libtiff-dev"]
HEADERS = ["zlib.h", "png.h", "jpeglib.h", "tiffio.h"]
TOOLS = ["cc", "c++", "make", "pkg-config", "autoconf", "automake", "libtoolize", "strip"]


def log(message: str) -> None:
    print(f"[tesseract] {message}", flush=True)


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "knowledge-assistant"


def tag() -> str:
    return f"tesseract-{TESSERACT_VERSION}-leptonica-{LEPTONICA_VERSION}-{REVISION}"


def result_dir() -> Path:
    return cache_root() / "tesseract" / tag()


def cached() -> Path | None:
    """The built program if an earlier build finished (its marker file is written last)."""
    program = result_dir() / "bin" / "tesseract"
    return program if (result_dir() / "BUILD-INFO").is_file() and program.is_file() else None


def missing_prerequisites() -> list[str]:
    tools = [t for t in TOOLS if shutil.which(t) is None]
    headers = [h for h in HEADERS if "cc" not in tools and not has_header(h)]
    if not Path("/usr/share/aclocal/ax_check_compile_flag.m4").is_file():
        headers.append("autoconf-archive's m4 files")
    return tools + headers


def has_header(name: str) -> bool:
    """The C compiler finds `name` (a multiarch folder included)."""
    probe = subprocess.run(["cc", "-E", "-x", "c", "-"], input=f"#include <{name}>\n",
                           capture_output=True, text=True, check=False)
    return probe.returncode == 0


def install_prerequisites() -> None:
    if not missing_prerequisites() or shutil.which("apt-get") is None:
        return
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    log("installing the build's packages with apt-get: " + " ".join(BUILD_PACKAGES))
    subprocess.run([*sudo, "apt-get", "install", "-y", "-q", *BUILD_PACKAGES],
                   stdout=subprocess.DEVNULL, check=False)


def fetch(name: str) -> Path:
    """A source tarball from Debian's pool into the cache, once; its SHA-256 is checked."""
    folder, digest = SOURCES[name]
    path = cache_root() / "sources" / name
    if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != digest:
        path.parent.mkdir(parents=True, exist_ok=True)
        log(f"downloading {POOL}/{folder}/{name}")
        with urllib.request.urlopen(f"{POOL}/{folder}/{name}", timeout=120) as response:
            data = response.read()
        if hashlib.sha256(data).hexdigest() != digest:
            raise RuntimeError(f"{name} from Debian's pool does not match its SHA-256")
        path.write_bytes(data)
    return path


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    log("$ " + " ".join(cmd))
    subprocess.run(cmd, cwd=cwd, env=env, check=True)


def unpack(tarball: Path, into: Path, folder: str) -> Path:
    source = into / folder
    if not source.is_dir():
        run(["tar", "xf", str(tarball)], cwd=into)
    return source


def build() -> Path:
    """Build Leptonica and Tesseract into the cache and return the program. Raises on any
    failure (a missing compiler, no network for the sources, a compile error)."""
    install_prerequisites()
    if missing := missing_prerequisites():
        raise RuntimeError("the build machine lacks " + ", ".join(missing))
    work = cache_root() / "build" / tag()
    prefix = work / "prefix"
    work.mkdir(parents=True, exist_ok=True)
    jobs = f"-j{os.cpu_count() or 1}"
    flags = {"CFLAGS": "-O2", "CXXFLAGS": "-O2"}
    env = dict(os.environ, **flags)

    lept = unpack(fetch(f"leptonlib_{LEPTONICA_VERSION}.orig.tar.gz"), work,
                  f"leptonica-{LEPTONICA_VERSION}")
    if not (prefix / "lib" / "liblept.a").is_file():
        run(["./configure", f"--prefix={prefix}", *LEPTONICA_CONFIGURE], lept, env)
        run(["make", jobs], lept, env)
        run(["make", "install"], lept, env)

    tess = unpack(fetch(f"tesseract_{TESSERACT_VERSION}.orig.tar.gz"), work,
                  f"tesseract-{TESSERACT_VERSION}")
    if not (tess / "configure").is_file():
        run(["./autogen.sh"], tess, env)
    # Leptonica is static: name its own dependencies (its .pc file has only -llept)
    env.update(PKG_CONFIG_PATH=str(prefix / "lib" / "pkgconfig"),
               LEPTONICA_CFLAGS=f"-I{prefix / 'include' / 'leptonica'}",
               LEPTONICA_LIBS=f"-L{prefix / 'lib'} -llept -ltiff -ljpeg -lpng -lz -lm")
    if not (tess / "config.status").is_file():
        run(["./configure", f"--prefix={prefix}", *TESSERACT_CONFIGURE], tess, env)
    run(["make", jobs], tess, env)

    out = result_dir()
    if out.exists():
        shutil.rmtree(out)
    (out / "bin").mkdir(parents=True)
    (out / "licenses").mkdir()
    shutil.copy2(tess / "tesseract", out / "bin" / "tesseract")
    run(["strip", "--strip-unneeded", str(out / "bin" / "tesseract")], out)
    shutil.copy2(tess / "LICENSE", out / "licenses" / "tesseract (Apache-2.0)")
    shutil.copy2(lept / "leptonica-license.txt", out / "licenses" / "leptonica (BSD-2-Clause)")
    version = check(out / "bin" / "tesseract")
    (out / "BUILD-INFO").write_text(
        f"{tag()}\nsources: {', '.join(SOURCES)} (Debian's pool)\n"
        f"leptonica: ./configure {' '.join(LEPTONICA_CONFIGURE)}\n"
        f"tesseract: ./configure {' '.join(TESSERACT_CONFIGURE)}\n{flags}\n\n{version}")
    log(f"built {out / 'bin' / 'tesseract'}")
    return out / "bin" / "tesseract"


def check(program: Path) -> str:
    """`tesseract --version` runs and names neither libarchive nor libcurl."""
    version = subprocess.run([str(program), "--version"], capture_output=True, text=True,
                             check=True)
    text = version.stdout + version.stderr
    if "libarchive" in text or "libcurl" in text or TESSERACT_VERSION not in text:
        raise RuntimeError("the built Tesseract is not the one asked for:\n" + text)
    return text


def built_tesseract() -> Path | None:
    """The small Tesseract: cached, else built now (minutes). None, with the reason logged,
    where it cannot be built here; the caller then copies Debian's package instead."""
    if found := cached():
        log(f"using the cached build {found}")
        return found
    if not sys.platform.startswith("linux"):
        return None
    try:
        return build()
    except (OSError, RuntimeError, subprocess.CalledProcessError) as err:
        log(f"the small Tesseract could not be built ({err}); the bundle carries Debian's "
            "tesseract-ocr with all its libraries instead (68 MB rather than 13)")
        return None


if __name__ == "__main__":
    program = built_tesseract()
    print(program or "not built")
    sys.exit(0 if program else 1)
