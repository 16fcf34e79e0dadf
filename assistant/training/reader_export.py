"""A trained reader written as the app reads it: an int8 ONNX file and its manifest."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from assistant.answer.reader import MANIFEST_FILE, READER_FILE, READER_RECIPE


def export_reader(model: Any, out_dir: Path, *, max_length: int, max_question_tokens: int,
                  max_answer_tokens: int) -> tuple[Path, Path]:
    """The trained model as an int8 ONNX file (MatMul weights per channel, lookup tables in
    fp16: the embedder's recipe) plus its manifest (the input limits it was trained with,
    and whether it has a judge head), written atomically."""
    import hashlib
    import warnings

    import torch

    from assistant.search.embedding import half_embedding_tables, quantize_int8

    model = model.float().eval()
    # Eager attention exports as a plain graph (SDPA's decomposition ran slower: embedding.py)
    model.encoder.config._attn_implementation = "eager"
    names = ["input_ids", "attention_mask", "token_type_ids"]
    outputs = ["answer_logit", "start_logits", "end_logits"]
    judge = getattr(model, "judge", None) is not None
    if judge:  # the decision's own head (`ReaderConfig.judge_head`)
        outputs.append("judge_logit")
    ids = torch.ones((2, 16), dtype=torch.long)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".export-") as tmp:
        fp32, int8 = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (ids, torch.ones_like(ids), torch.zeros_like(ids)),
                              str(fp32), input_names=names, output_names=outputs,
                              dynamic_axes={**{n: {0: "batch", 1: "tokens"} for n in names},
                                            "answer_logit": {0: "batch"},
                                            "start_logits": {0: "batch", 1: "tokens"},
                                            "end_logits": {0: "batch", 1: "tokens"},
                                            **({"judge_logit": {0: "batch"}} if judge
                                               else {})},
                              opset_version=17, dynamo=False)
        quantize_int8(fp32, int8)
        half_embedding_tables(int8)
        target = out_dir / READER_FILE
        os.replace(int8, target)
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    manifest = {"recipe": READER_RECIPE, "sha256": digest, "max_length": max_length,
                "max_question_tokens": max_question_tokens,
                "max_answer_tokens": max_answer_tokens,
                "base_model": "all-MiniLM-L6-v2", "judge": judge}
    manifest_path = out_dir / MANIFEST_FILE
    manifest_path.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return target, manifest_path
