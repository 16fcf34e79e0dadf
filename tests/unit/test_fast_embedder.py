"""The int8 ONNX runtime: close to the fp32 reference, cached, rebuilt when damaged."""

from __future__ import annotations

import shutil

import numpy as np

from assistant.search.embedding import Embedder, OnnxRuntimeEncoder

TEXTS = ["The kettle has a two-year warranty covering the heating element.",
         "Lighthouse keepers wound the clockwork that turned the lens.",
         "How long do I have to upload receipts after a trip?",
         "café crème brûlée " * 40]


def test_int8_vectors_match_fp32(embedder):
    fast = embedder if embedder.runtime == "onnx-int8" else Embedder(runtime="onnx-int8")
    ref = Embedder(runtime="torch-fp32")
    a, b = fast.embed_batch(TEXTS), ref.embed_batch(TEXTS)
    assert a.shape == b.shape == (len(TEXTS), 384)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-4)
    cos = (a * b).sum(axis=1)
    assert cos.min() > 0.97, cos
    assert fast.identity != ref.identity


def test_a_texts_vector_depends_on_its_own_text_alone(embedder):
    """The int8 model scales its activations by the whole input: batched, a passage's vector
    moved with its batch-mates (up to 0.03 a component), so two indexings of one folder
    ordered near-equal search scores differently. Each text now runs alone."""
    fast = embedder if embedder.runtime == "onnx-int8" else Embedder(runtime="onnx-int8")
    together = fast.embed_batch(TEXTS)
    reversed_ = fast.embed_batch(TEXTS[::-1])[::-1]
    assert np.array_equal(together, reversed_)
    for text, vector in zip(TEXTS, together, strict=True):
        assert np.array_equal(fast.embed(text), vector)  # the query of the same words


def test_damaged_cache_is_rebuilt_with_a_sentence(tmp_path, embedder):
    messages: list[str] = []
    first = OnnxRuntimeEncoder(embedder.model_path, cache_dir=tmp_path, notice=messages.append)
    assert first.cache_ok() and messages and "Preparing" in messages[0]
    v = first.encode(TEXTS[:2])
    data = bytearray(first.file.read_bytes())
    data[len(data) // 2: len(data) // 2 + 4096] = b"\0" * 4096
    first.file.write_bytes(bytes(data))
    assert not first.cache_ok()
    messages.clear()
    second = OnnxRuntimeEncoder(embedder.model_path, cache_dir=tmp_path, notice=messages.append)
    assert messages and "damaged" in messages[0]
    assert np.allclose(second.encode(TEXTS[:2]), v, atol=1e-5)
    first.manifest.write_text("{not json", encoding="utf-8")
    third = OnnxRuntimeEncoder(embedder.model_path, cache_dir=tmp_path, notice=messages.append)
    assert third.cache_ok()


def test_an_installers_export_is_read_in_place_and_a_damaged_one_left_alone(
        tmp_path, monkeypatch, embedder):
    """An installer ships the export it made at build time (packaging/build.py): the app
    uses it where it lies, without preparing or copying anything; a damaged one is never
    used, nor touched, and the app's own cache serves instead."""
    made = embedder.onnx if embedder.runtime == "onnx-int8" else \
        Embedder(runtime="onnx-int8").onnx
    shipped = tmp_path / "resources" / "models" / "embedder"
    shipped.mkdir(parents=True)
    for f in (made.file, made.manifest):
        shutil.copy2(f, shipped / f.name)
    monkeypatch.setenv("ASSISTANT_RESOURCES", str(tmp_path / "resources"))
    monkeypatch.setenv("ASSISTANT_HOME", str(tmp_path / "home"))
    messages: list[str] = []
    enc = OnnxRuntimeEncoder(embedder.model_path, notice=messages.append)
    assert enc.shipped and enc.file.parent == shipped and messages == []
    assert not list((tmp_path / "home").rglob("*.onnx"))
    assert np.allclose(enc.encode(TEXTS[:2]), made.encode(TEXTS[:2]), atol=1e-6)

    # damaged in place: not used; the user's cache (here already prepared) answers instead
    data = bytearray((shipped / made.file.name).read_bytes())
    data[len(data) // 2: len(data) // 2 + 4096] = b"\0" * 4096
    (shipped / made.file.name).write_bytes(bytes(data))
    damaged = (shipped / made.file.name).read_bytes()
    cache = tmp_path / "home" / "models" / "embedder"
    cache.mkdir(parents=True)
    for f in (made.file, made.manifest):
        shutil.copy2(f, cache / f.name)
    again = OnnxRuntimeEncoder(embedder.model_path, notice=messages.append)
    assert not again.shipped and again.file.parent == cache and messages == []
    assert (shipped / made.file.name).read_bytes() == damaged
    assert np.allclose(again.encode(TEXTS[:2]), made.encode(TEXTS[:2]), atol=1e-6)
