"""Fuzzed model and adapter files: each loaded in a subprocess the way the app loads them.

Several hundred mutants of the embedded Gemma GGUF and of a small real LoRA adapter (written
by the app's own exporter), plus hand-made hostile ones: absurd layer counts, zero heads, an
adapter for another model size, another architecture, another layer. Every one must end in a
`ModelError` sentence or a working load (a mutation can be harmless): never a crash, a hang,
or an exception that is not a sentence. Crashes are attributed to their file (see
tests/hostile/gguf_fuzz.py).
"""

from __future__ import annotations

import random
import struct
import threading
from pathlib import Path

import numpy as np
import pytest
from hostile import gguf_fuzz as fuzz
from hostile.sentences import internals_in

pytestmark = pytest.mark.slow

MODEL_MUTANTS = 120
ADAPTER_MUTANTS = 200
SEED = 7


def _adapter_state(shapes: dict[str, tuple[int, int]], layers: tuple[int, ...],
                   rank: int = 4) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    state = {}
    for layer in layers:
        for module, (out_f, in_f) in shapes.items():
            key = f"base_model.model.model.layers.{layer}.{module}"
            state[f"{key}.lora_A.weight"] = rng.normal(0, 0.01, (rank, in_f)).astype(np.float32)
            state[f"{key}.lora_B.weight"] = rng.normal(0, 0.01, (out_f, rank)).astype(np.float32)
    return state


GEMMA_SHAPES = {"self_attn.q_proj": (1024, 640), "mlp.down_proj": (640, 2048)}


def _hand_made_adapters(folder: Path) -> list[Path]:
    """Adapters a user might really pick by mistake, or a hostile one."""
    from assistant.training.export import write_lora_gguf

    out = [
        # another model size: Gemma 3 1B's projections (1152 wide)
        write_lora_gguf(_adapter_state({"self_attn.q_proj": (1024, 1152)}, (0, 1)),
                        folder / "gemma3_1b_adapter.gguf", alpha=8, n_layers=26),
        # a layer the 18-layer model does not have
        write_lora_gguf(_adapter_state(GEMMA_SHAPES, (25,)), folder / "layer25.gguf",
                        alpha=8, n_layers=26),
        # another architecture with llama's tensor names
        write_lora_gguf(_adapter_state({"self_attn.q_proj": (4096, 4096)}, (0,), rank=2),
                        folder / "llama_adapter.gguf", alpha=8, architecture="llama",
                        n_layers=32),
        # ranks that do not match between A and B
        write_lora_gguf({**_adapter_state(GEMMA_SHAPES, (0,)), **{
            "base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight":
                np.zeros((4, 640), np.float32),
            "base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight":
                np.zeros((1024, 4), np.float32)}}, folder / "ok_two_layers.gguf", alpha=8,
                        n_layers=18),
    ]
    return out


def _hand_made_models(original: bytes, size: int, folder: Path) -> list[Path]:
    """Hyper-parameters llama.cpp trusts, set to values that made it abort or divide by 0."""
    lay = fuzz.parse_layout(original)
    header = original[:lay.data_offset]
    by_name = {f.name: f for f in lay.fields}
    cases = {
        "block_count_1000": ("kv:gemma3.block_count", 1000),
        "block_count_513": ("kv:gemma3.block_count", 513),
        "block_count_0": ("kv:gemma3.block_count", 0),
        "block_count_19": ("kv:gemma3.block_count", 19),
        "heads_0": ("kv:gemma3.attention.head_count", 0),
        "kv_heads_0": ("kv:gemma3.attention.head_count_kv", 0),
        "kv_heads_3": ("kv:gemma3.attention.head_count_kv", 3),
        "key_length_0": ("kv:gemma3.attention.key_length", 0),
        "embedding_0": ("kv:gemma3.embedding_length", 0),
        "embedding_huge": ("kv:gemma3.embedding_length", 2**31),
        "context_0": ("kv:gemma3.context_length", 0),
        "ffn_0": ("kv:gemma3.feed_forward_length", 0),
        "sliding_window_0": ("kv:gemma3.attention.sliding_window", 0),
        "bos_out_of_range": ("kv:tokenizer.ggml.bos_token_id", 300_000),
        "eos_out_of_range": ("kv:tokenizer.ggml.eos_token_id", 2**32 - 1),
        "scores_short": ("kv:tokenizer.ggml.scores#count", 1000),
        "token_type_short": ("kv:tokenizer.ggml.token_type#count", 1000),
    }
    out = []
    for name, (key, value) in cases.items():
        buf = bytearray(header)
        fuzz._put(buf, by_name[key], value)
        out.append(fuzz.write_mutant(folder, fuzz.Mutant(f"hand_{name}", bytes(buf), size)))
    # the header's tensor count one short: the last tensor's data is then unaccounted for
    buf = bytearray(header)
    fuzz._put(buf, by_name["tensor_count"], int(by_name["tensor_count"].value) - 1)
    out.append(fuzz.write_mutant(folder, fuzz.Mutant("hand_tensor_count_short", bytes(buf),
                                                     size)))
    # an adapter's type on a model
    start = lay.strings["kv:general.type"][0]
    edited = fuzz._splice_string(header, start, "adapter")
    out.append(fuzz.write_mutant(folder, fuzz.Mutant("hand_type_adapter", edited, size)))
    return out


def _run_parallel(jobs: list[tuple[str, list[Path]]], base: Path) -> list[fuzz.Outcome]:
    """The two kinds side by side (one child each: the machine has two cores)."""
    results: list[list[fuzz.Outcome]] = [[] for _ in jobs]
    errors: list[BaseException] = []

    def work(i: int, kind: str, files: list[Path]) -> None:
        try:
            results[i] = fuzz.run_batches(kind, files, base)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i, kind, files))
               for i, (kind, files) in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return [o for r in results for o in r]


def test_fuzzed_models_and_adapters_never_crash(default_gguf: Path, tmp_path: Path) -> None:
    from assistant.training.export import write_lora_gguf

    rng = random.Random(SEED)
    size = default_gguf.stat().st_size
    with default_gguf.open("rb") as fh:
        original = fh.read(8_000_000)  # the header (about 6.5 MB) and a little data
    models_dir = tmp_path / "models"
    adapters_dir = tmp_path / "adapters"
    models_dir.mkdir()
    adapters_dir.mkdir()
    model_files = [fuzz.write_mutant(models_dir, m) for m in
                   fuzz.mutants(original, size, rng, MODEL_MUTANTS)]
    model_files += _hand_made_models(original, size, models_dir)

    base_adapter = write_lora_gguf(_adapter_state(GEMMA_SHAPES, (0, 1, 17)),
                                   tmp_path / "base_adapter.gguf", alpha=8, n_layers=18)
    data = base_adapter.read_bytes()
    adapter_files = [fuzz.write_mutant(adapters_dir, m) for m in
                     fuzz.mutants(data, len(data), rng, ADAPTER_MUTANTS, adapter=True)]
    adapter_files += _hand_made_adapters(adapters_dir)
    adapter_files.append(base_adapter)
    # not GGUF at all, and an empty file
    (adapters_dir / "zeros.gguf").write_bytes(bytes(4096))
    (adapters_dir / "empty.gguf").write_bytes(b"")
    (adapters_dir / "gguf_magic_only.gguf").write_bytes(b"GGUF" + struct.pack("<I", 3))
    adapter_files += [adapters_dir / n for n in ("zeros.gguf", "empty.gguf",
                                                 "gguf_magic_only.gguf")]

    outcomes = _run_parallel([("model", model_files), ("adapter", adapter_files)],
                             default_gguf)
    by_status: dict[str, list[fuzz.Outcome]] = {}
    for outcome in outcomes:
        by_status.setdefault(outcome.status, []).append(outcome)
    bad = [f"{o.path.name}: {o.status} {o.message}" for o in outcomes
           if o.status in ("crashed", "hung", "exception")]
    assert bad == [], "\n".join(bad)
    unclear = [f"{o.path.name}: {o.message} ({internals_in(o.message, files=True)})"
               for o in by_status.get("refused", []) if internals_in(o.message, files=True)]
    assert unclear == [], "\n".join(unclear)
    status = {o.path.name: o.status for o in outcomes}
    assert status["base_adapter.gguf"] == "loaded"
    assert status["ok_two_layers.gguf"] == "loaded"
    for name in ("gemma3_1b_adapter.gguf", "layer25.gguf", "llama_adapter.gguf", "zeros.gguf",
                 "empty.gguf", "gguf_magic_only.gguf"):
        assert status[name] == "refused", name
    for name in ("block_count_1000", "block_count_513", "block_count_0", "heads_0",
                 "embedding_0", "scores_short", "token_type_short", "type_adapter"):
        assert status[f"hand_{name}.gguf"] == "refused", name
    n_models, n_adapters = len(model_files), len(adapter_files)
    print(f"\nfuzzed GGUF: {n_models} models + {n_adapters} adapters tried, "
          f"{len(by_status.get('refused', []))} refused with a sentence, "
          f"{len(by_status.get('loaded', []))} loaded and generated, "
          f"{len(bad)} crashed or hung")
