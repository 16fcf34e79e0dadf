"""Read a GGUF file's header in pure Python before llama.cpp ever sees the file.

llama.cpp trusts the file: a truncated download or a file that is not a model can end in a
native crash or a bare "failed to load" message. Reading the header here (magic, version,
metadata, tensor table) and checking that the file is long enough for every tensor turns those
cases into a `ModelError` sentence. Only the header is read (memory-mapped), never tensor data,
so checking the 253 MB default model takes a fraction of a second.
"""

from __future__ import annotations

import math
import mmap
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.errors import ModelError

GGUF_MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32
GGML_MAX_DIMS = 4

# Sanity bounds: a real header is far below these; a corrupt one usually blows past them.
_MAX_TENSORS = 1_000_000
_MAX_KV = 1_000_000
_MAX_PLAUSIBLE_BYTES = 1 << 40  # a "required size" beyond 1 TB is a damaged table, not a cut

# GGUF metadata value types (gguf.GGUFValueType), with the struct format of the scalar ones.
_UINT8, _INT8, _UINT16, _INT16, _UINT32, _INT32, _FLOAT32, _BOOL = range(8)
_STRING, _ARRAY, _UINT64, _INT64, _FLOAT64 = 8, 9, 10, 11, 12
_SCALAR_FORMATS: dict[int, str] = {
    _UINT8: "<B", _INT8: "<b", _UINT16: "<H", _INT16: "<h", _UINT32: "<I", _INT32: "<i",
    _FLOAT32: "<f", _BOOL: "<?", _UINT64: "<Q", _INT64: "<q", _FLOAT64: "<d",
}
_SCALAR_SIZES = {kind: struct.calcsize(fmt) for kind, fmt in _SCALAR_FORMATS.items()}
_U64 = struct.Struct("<Q")
# Entries llama.cpp reads with unchecked getters (an assert that aborts the process, or an
# array read as floats or ints whatever it holds): (value type, array item type or None).
_REQUIRED_TYPES: dict[str, tuple[int, int | None]] = {
    "general.alignment": (_UINT32, None),
    "general.architecture": (_STRING, None),
    "general.type": (_STRING, None),
    "adapter.type": (_STRING, None),
    "adapter.lora.alpha": (_FLOAT32, None),
    "tokenizer.ggml.model": (_STRING, None),
    "tokenizer.ggml.pre": (_STRING, None),
    "tokenizer.chat_template": (_STRING, None),
    "tokenizer.ggml.tokens": (_ARRAY, _STRING),
    "tokenizer.ggml.scores": (_ARRAY, _FLOAT32),
    "tokenizer.ggml.token_type": (_ARRAY, _INT32),
    "tokenizer.ggml.merges": (_ARRAY, _STRING),
}
# Arrays up to this length are kept in `metadata`; longer ones (the vocabulary) are skipped.
_KEEP_ARRAY_ITEMS = 64


def _quant_sizes() -> dict[int, tuple[int, int]]:
    """ggml type id -> (elements per block, bytes per block), from the `gguf` package."""
    from gguf import GGML_QUANT_SIZES

    return {int(kind): (int(block), int(size)) for kind, (block, size) in
            GGML_QUANT_SIZES.items()}


@dataclass(frozen=True)
class TensorInfo:
    """One entry of the tensor table; `shape` is in ggml order (ne0 first)."""

    name: str
    shape: tuple[int, ...]
    ggml_type: int
    offset: int  # relative to the start of the data section
    n_bytes: int


@dataclass(frozen=True)
class GGUFInfo:
    """What the app needs to know about a GGUF file, read without loading it."""

    path: Path
    version: int
    architecture: str
    file_type: str  # general.type: "model" (the default when absent) or "adapter"
    name: str
    adapter_type: str | None
    lora_alpha: float | None
    chat_template: str | None
    context_length: int | None
    alignment: int
    data_offset: int
    file_size: int
    required_size: int
    tensors: tuple[TensorInfo, ...] = field(repr=False)
    metadata: dict[str, Any] = field(repr=False)

    @property
    def has_chat_template(self) -> bool:
        return bool(self.chat_template)

    @property
    def is_adapter(self) -> bool:
        return self.file_type == "adapter"

    def tensor_shapes(self) -> dict[str, tuple[int, ...]]:
        return {tensor.name: tensor.shape for tensor in self.tensors}


class _Truncated(Exception):
    """The header runs past the end of the file."""


class _Corrupt(Exception):
    """The header holds values no valid GGUF file has."""


class _Reader:
    """A cursor over the mapped file that raises `_Truncated` instead of reading past the end."""

    def __init__(self, buf: mmap.mmap | bytes) -> None:
        self.buf = buf
        self.size = len(buf)
        self.pos = 0

    def take(self, n: int) -> int:
        start = self.pos
        if n < 0 or start + n > self.size:
            raise _Truncated
        self.pos = start + n
        return start

    def scalar(self, kind: int) -> Any:
        fmt = _SCALAR_FORMATS[kind]
        return struct.unpack_from(fmt, self.buf, self.take(_SCALAR_SIZES[kind]))[0]

    def u32(self) -> int:
        return int(struct.unpack_from("<I", self.buf, self.take(4))[0])

    def u64(self) -> int:
        return int(struct.unpack_from("<Q", self.buf, self.take(8))[0])

    def string(self) -> str:
        length = self.u64()
        if length > self.size:
            raise _Truncated
        start = self.take(length)
        return bytes(self.buf[start:start + length]).decode("utf-8", errors="replace")

    def skip_string(self) -> None:
        length = self.u64()
        if length > self.size:
            raise _Truncated
        self.take(length)

    def skip_strings(self, count: int) -> None:
        """Skip `count` strings (the 262,144-entry vocabulary): one tight loop, no objects."""
        buf, pos, size = self.buf, self.pos, self.size
        unpack = _U64.unpack_from
        for _ in range(count):
            if pos + 8 > size:
                raise _Truncated
            pos += 8 + unpack(buf, pos)[0]
            if pos > size:
                raise _Truncated
        self.pos = pos

    def value(self, kind: int) -> Any:
        if kind in _SCALAR_FORMATS:
            return self.scalar(kind)
        if kind == _STRING:
            return self.string()
        if kind == _ARRAY:
            item_kind = self.u32()
            count = self.u64()
            if count > self.size:
                raise _Truncated
            if item_kind in _SCALAR_SIZES:
                if count > _KEEP_ARRAY_ITEMS:
                    self.take(count * _SCALAR_SIZES[item_kind])
                    return ArraySummary(item_kind, count)
                return [self.scalar(item_kind) for _ in range(count)]
            if item_kind == _STRING:
                if count > _KEEP_ARRAY_ITEMS:
                    self.skip_strings(count)
                    return ArraySummary(item_kind, count)
                return [self.string() for _ in range(count)]
            if item_kind == _ARRAY:  # nested arrays exist in the spec, never in practice
                return [self.value(_ARRAY) for _ in range(count)]
            raise _Corrupt(f"an unknown metadata array type ({item_kind})")
        raise _Corrupt(f"an unknown metadata value type ({kind})")


@dataclass(frozen=True)
class ArraySummary:
    """Stands in for a long metadata array (the vocabulary) that was skipped, not read."""

    item_type: int
    count: int


def _size(n: int) -> str:
    """'253.1 MB', '136.2 KB', '12 bytes' (decimal units, as file managers show them)."""
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f} MB"
    if n >= 1000:
        return f"{n / 1000:.1f} KB"
    return f"{n} bytes"


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ufffd]")


def _shown(name: str) -> str:
    """A tensor or key name as it may appear in a message: printable, and not too long."""
    clean = _CONTROL.sub("?", name)
    return clean if len(clean) <= 60 else clean[:57] + "..."


def read_gguf_info(path: str | Path) -> GGUFInfo:
    """Read and check the header of `path`; raise ModelError with a sentence if it is unusable."""
    path = Path(path)
    label = f"'{path.name}'"
    try:
        file_size = path.stat().st_size
    except FileNotFoundError:
        raise ModelError(f"The model file {path} does not exist.") from None
    except OSError as err:
        raise ModelError(f"The model file {path} cannot be read: {err.strerror or err}.") from err
    if path.is_dir():
        raise ModelError(f"{path} is a folder, not a GGUF model file.")
    if file_size < 4:
        raise ModelError(f"{label} is not a GGUF model file (it is {file_size} bytes long).")
    try:
        with path.open("rb") as handle:
            if handle.read(4) != GGUF_MAGIC:
                raise ModelError(f"{label} is not a GGUF model file.")
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                return _parse(path, mapped, file_size)
    except ModelError:
        raise
    except OSError as err:
        raise ModelError(f"The model file {path} cannot be read: {err.strerror or err}.") from err


def _parse(path: Path, buf: mmap.mmap, file_size: int) -> GGUFInfo:
    label = f"'{path.name}'"
    reader = _Reader(buf)
    reader.take(4)  # magic, checked by the caller
    try:
        version = reader.u32()
        if version not in SUPPORTED_VERSIONS:
            if int.from_bytes(version.to_bytes(4, "little"), "big") in (1, 2, 3):
                raise ModelError(f"{label} is a big-endian GGUF file, which this app cannot use.")
            raise ModelError(
                f"{label} is GGUF version {version}; only versions 2 and 3 are supported.")
        tensor_count = reader.u64()
        kv_count = reader.u64()
        if tensor_count > _MAX_TENSORS or kv_count > _MAX_KV:
            raise ModelError(
                f"{label} is damaged: its header claims {tensor_count} tensors and "
                f"{kv_count} metadata entries.")
        metadata: dict[str, Any] = {}
        for _ in range(kv_count):
            key = reader.string()
            kind = reader.u32()
            expected = _REQUIRED_TYPES.get(key)
            if expected is not None:
                item = struct.unpack_from("<I", buf, reader.pos)[0] \
                    if kind == _ARRAY and reader.pos + 4 <= reader.size else None
                if (kind, item) != expected:
                    raise ModelError(f"{label} is damaged: its entry '{_shown(key)}' holds "
                                     "the wrong kind of value.")
            metadata[key] = reader.value(kind)
        alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
        if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
            raise ModelError(f"{label} is damaged: its alignment ({alignment}) is invalid.")
        sizes = _quant_sizes()
        tensors: list[TensorInfo] = []
        for _ in range(tensor_count):
            name = reader.string()
            n_dims = reader.u32()
            if not 1 <= n_dims <= GGML_MAX_DIMS:
                raise ModelError(f"{label} is damaged: tensor '{_shown(name)}' has {n_dims} "
                                 "dimensions.")
            shape = tuple(reader.u64() for _ in range(n_dims))
            ggml_type = reader.u32()
            offset = reader.u64()
            if ggml_type not in sizes:
                raise ModelError(
                    f"{label} uses a tensor type ({ggml_type}) this app does not know; "
                    "it may need a newer version.")
            block, type_size = sizes[ggml_type]
            if any(dim < 1 for dim in shape) or shape[0] % block:
                raise ModelError(f"{label} is damaged: tensor '{_shown(name)}' has shape "
                                 f"{shape}.")
            n_elements = 1
            for dim in shape:
                n_elements *= dim
            if n_elements >= 1 << 60:
                raise ModelError(f"{label} is damaged: tensor '{_shown(name)}' has an "
                                 f"impossible shape {shape}.")
            tensors.append(TensorInfo(name, shape, ggml_type, offset,
                                      n_elements // block * type_size))
        header_end = reader.pos
    except _Truncated:
        raise ModelError(
            f"{label} is truncated ({_size(file_size)}; its header is incomplete).") from None
    except _Corrupt as err:
        raise ModelError(f"{label} is damaged: it contains {err}.") from None

    data_offset = -(-header_end // alignment) * alignment
    seen: set[str] = set()
    for tensor in tensors:
        if tensor.name in seen:
            raise ModelError(f"{label} is damaged: it holds the tensor '{_shown(tensor.name)}' "
                             "twice.")
        seen.add(tensor.name)
        if tensor.offset % alignment:
            raise ModelError(f"{label} is damaged: the data of tensor '{_shown(tensor.name)}' "
                             "is not where the format requires (misaligned).")
    required = data_offset + max((t.offset + t.n_bytes for t in tensors), default=0)
    if file_size < required:
        if required > _MAX_PLAUSIBLE_BYTES:
            raise ModelError(f"{label} is damaged: its tensor table points far beyond the end "
                             f"of the file ({_size(required)}).")
        raise ModelError(
            f"{label} is truncated ({_size(file_size)} of {_size(required)}); "
            "download or copy it again.")

    def text(key: str) -> str | None:
        value = metadata.get(key)
        return value if isinstance(value, str) else None

    architecture = text("general.architecture") or ""
    context = metadata.get(f"{architecture}.context_length")
    alpha = metadata.get("adapter.lora.alpha")
    template = text("tokenizer.chat_template")
    return GGUFInfo(
        path=path,
        version=version,
        architecture=architecture,
        file_type=text("general.type") or "model",
        name=text("general.name") or path.stem,
        adapter_type=text("adapter.type"),
        lora_alpha=float(alpha) if isinstance(alpha, int | float) else None,
        chat_template=template or None,
        context_length=int(context) if isinstance(context, int) else None,
        alignment=alignment,
        data_offset=data_offset,
        file_size=file_size,
        required_size=required,
        tensors=tuple(tensors),
        metadata=metadata,
    )


def check_model_file(path: str | Path) -> GGUFInfo:
    """Check that `path` is a loadable GGUF *model* (not an adapter, with an architecture)."""
    info = read_gguf_info(path)
    label = f"'{info.path.name}'"
    if info.is_adapter:
        raise ModelError(
            f"{label} is a LoRA adapter, not a model; choose it as the adapter instead.")
    if not info.architecture:
        raise ModelError(f"{label} does not say which model architecture it is.")
    if not info.tensors:
        raise ModelError(f"{label} contains no weights.")
    _check_hyperparameters(info)
    _check_vocabulary(info)
    return info


# Bounds of the hyper-parameters llama.cpp trusts: values outside them (a flipped bit, a
# hostile file) made it abort (block_count over its 512-layer limit) or divide by zero.
_POSITIVE_LIMITS = {  # key: (what it is, in words; the largest plausible value)
    "block_count": ("number of layers", 512),  # LLAMA_MAX_LAYERS
    "embedding_length": ("embedding width", 1 << 20),
    "feed_forward_length": ("feed-forward width", 1 << 24),
    "context_length": ("context length", 1 << 31),
    "attention.head_count": ("number of attention heads", 1 << 14),
    "attention.head_count_kv": ("number of key/value heads", 1 << 14),
    "attention.key_length": ("attention key size", 1 << 16),
    "attention.value_length": ("attention value size", 1 << 16),
}
_FLOAT_KEYS = {"rope.freq_base": "rotary frequency base",
               "rope.freq_scale": "rotary frequency scale",
               "attention.layer_norm_rms_epsilon": "normalisation epsilon",
               "attention.layer_norm_epsilon": "normalisation epsilon"}
_BLOCK = re.compile(r"^blk\.(\d+)\.")


def _values(value: Any) -> list[Any]:
    """A hyper-parameter is one number, or one per layer (a short array)."""
    return value if isinstance(value, list) else [value]


def _check_hyperparameters(info: GGUFInfo) -> None:
    label = f"'{info.path.name}'"
    arch = info.architecture
    for key, (words, limit) in _POSITIVE_LIMITS.items():
        value = info.metadata.get(f"{arch}.{key}")
        if value is None or isinstance(value, ArraySummary):
            continue
        for item in _values(value):
            if isinstance(item, bool) or not isinstance(item, int) or not 1 <= item <= limit:
                raise ModelError(f"{label} is damaged: its {words} ({key}) is {item!r}, "
                                 "which no working model has.")
    for key, words in _FLOAT_KEYS.items():
        value = info.metadata.get(f"{arch}.{key}")
        if isinstance(value, int | float) and not isinstance(value, bool) and (
                not math.isfinite(value) or value < 0):
            raise ModelError(f"{label} is damaged: its {words} ({key}) is {value!r}.")
    heads = info.metadata.get(f"{arch}.attention.head_count")
    kv_heads = info.metadata.get(f"{arch}.attention.head_count_kv")
    if isinstance(heads, int) and isinstance(kv_heads, int) and kv_heads and heads % kv_heads:
        raise ModelError(f"{label} is damaged: {heads} attention heads cannot be shared by "
                         f"{kv_heads} key/value heads.")
    blocks = info.metadata.get(f"{arch}.block_count")
    layers = {int(m.group(1)) for t in info.tensors if (m := _BLOCK.match(t.name))}
    if isinstance(blocks, int) and layers and layers != set(range(blocks)):
        raise ModelError(f"{label} is damaged: it says it has {blocks} layers but holds "
                         f"weights for {len(layers)} (up to layer {max(layers)}).")
    shapes = info.tensor_shapes()
    width = info.metadata.get(f"{arch}.embedding_length")
    embedding = shapes.get("token_embd.weight")
    if isinstance(width, int) and embedding is not None and embedding[0] != width:
        raise ModelError(f"{label} is damaged: its embedding width is {width} but its token "
                         f"embeddings are {embedding[0]} wide.")


def _check_vocabulary(info: GGUFInfo) -> None:
    """The token list and its per-token arrays must agree (llama.cpp indexes one by the other)."""
    label = f"'{info.path.name}'"
    tokens = info.metadata.get("tokenizer.ggml.tokens")
    if tokens is None:
        return
    count = tokens.count if isinstance(tokens, ArraySummary) else len(tokens)
    if count == 0:
        raise ModelError(f"{label} is damaged: its vocabulary is empty.")
    for key in ("tokenizer.ggml.scores", "tokenizer.ggml.token_type"):
        other = info.metadata.get(key)
        if other is None:
            continue
        n = other.count if isinstance(other, ArraySummary) else len(other)
        if n != count:
            raise ModelError(f"{label} is damaged: its vocabulary has {count} tokens but "
                             f"{n} {'scores' if key.endswith('scores') else 'token types'}.")
    embedding = info.tensor_shapes().get("token_embd.weight")
    if embedding is not None and len(embedding) == 2 and embedding[1] < count:
        raise ModelError(f"{label} is damaged: its vocabulary has {count} tokens but "
                         f"embeddings for only {embedding[1]}.")
