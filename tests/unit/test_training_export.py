"""GGUF LoRA export: names, shapes, metadata, as llama.cpp expects them (no model needed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from assistant.errors import ModelError
from assistant.training.export import (
    export_peft_adapter,
    lora_tensor_names,
    write_lora_gguf,
    write_training_report,
)


def test_gemma3_names() -> None:
    names = lora_tensor_names(
        ["model.layers.0.self_attn.q_proj", "model.layers.17.self_attn.o_proj",
         "model.layers.3.mlp.gate_proj", "model.layers.3.mlp.down_proj"], "gemma3", 18)
    assert names == {"model.layers.0.self_attn.q_proj": "blk.0.attn_q",
                     "model.layers.17.self_attn.o_proj": "blk.17.attn_output",
                     "model.layers.3.mlp.gate_proj": "blk.3.ffn_gate",
                     "model.layers.3.mlp.down_proj": "blk.3.ffn_down"}
    with pytest.raises(ModelError, match=r"No llama\.cpp tensor"):
        lora_tensor_names(["model.layers.0.self_attn.nonsense"], "gemma3", 18)


def _peft_state(rank: int = 4) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    shapes = {"self_attn.q_proj": (1024, 640), "mlp.down_proj": (640, 2048)}
    state = {}
    for layer in (0, 1):
        for module, (out_f, in_f) in shapes.items():
            key = f"base_model.model.model.layers.{layer}.{module}"
            state[f"{key}.lora_A.weight"] = rng.standard_normal((rank, in_f), dtype=np.float32)
            state[f"{key}.lora_B.weight"] = rng.standard_normal((out_f, rank), dtype=np.float32)
    return state


def test_written_gguf_has_llama_cpp_layout(tmp_path: Path) -> None:
    import gguf

    state = _peft_state()
    path = write_lora_gguf(state, tmp_path / "a.gguf", alpha=8, n_layers=18, name="t")
    reader = gguf.GGUFReader(str(path))
    fields = {name: reader.fields[name].contents() for name in
              ("general.architecture", "general.type", "adapter.type", "adapter.lora.alpha")}
    assert fields == {"general.architecture": "gemma3", "general.type": "adapter",
                      "adapter.type": "lora", "adapter.lora.alpha": 8.0}
    tensors = {t.name: t for t in reader.tensors}
    assert len(tensors) == 8
    a, b = tensors["blk.1.attn_q.weight.lora_a"], tensors["blk.1.attn_q.weight.lora_b"]
    # ggml order (ne0 first): base attn_q is [640, 1024]; a must be [640, r], b [r, 1024].
    assert list(a.shape) == [640, 4] and list(b.shape) == [4, 1024]
    assert a.tensor_type == gguf.GGMLQuantizationType.F32
    np.testing.assert_array_equal(
        np.asarray(a.data).reshape(4, 640),
        state["base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight"])
    assert list(tensors["blk.0.ffn_down.weight.lora_a"].shape) == [2048, 4]
    assert list(tensors["blk.0.ffn_down.weight.lora_b"].shape) == [4, 640]
    assert not list(tmp_path.glob("*.tmp"))


def test_peft_folder_export_and_refusals(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    folder = tmp_path / "adapter"
    folder.mkdir()
    save_file(_peft_state(), str(folder / "adapter_model.safetensors"))
    config = {"peft_type": "LORA", "r": 4, "lora_alpha": 8, "use_rslora": False,
              "rank_pattern": {}, "alpha_pattern": {}}
    (folder / "adapter_config.json").write_text(json.dumps(config), encoding="utf-8")
    out = export_peft_adapter(folder, tmp_path / "out.gguf", n_layers=18)
    assert out.stat().st_size > 4 * 4 * (640 + 1024 + 2048 + 640) * 2

    (folder / "adapter_config.json").write_text(
        json.dumps({**config, "rank_pattern": {"q_proj": 8}}), encoding="utf-8")
    with pytest.raises(ModelError, match="per-layer"):
        export_peft_adapter(folder, tmp_path / "x.gguf", n_layers=18)
    with pytest.raises(ModelError, match="cannot be read"):
        export_peft_adapter(tmp_path / "missing", tmp_path / "y.gguf", n_layers=18)
    bad = _peft_state()
    bad["base_model.model.model.layers.0.mlp.down_proj.modules_to_save.weight"] = \
        np.zeros((2, 2), np.float32)
    with pytest.raises(ModelError, match="not a LoRA"):
        write_lora_gguf(bad, tmp_path / "z.gguf", alpha=8, n_layers=18)


def test_report_is_json(tmp_path: Path) -> None:
    path = write_training_report(tmp_path / "r" / "report.json", {"a": 1, "p": Path("x")})
    assert json.loads(path.read_text(encoding="utf-8")) == {"a": 1, "p": "x"}
