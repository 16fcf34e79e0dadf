"""Mutated GGUF files (models and LoRA adapters), and a runner that loads them in subprocesses.

The mutator parses the GGUF header itself (independently of assistant.llm.gguf_check, so the
two cannot share a blind spot), then changes it the ways real damage and hostile files do:
truncation, bit flips, absurd counts, sizes and offsets, unknown types, another architecture,
broken hyper-parameters and token ids, an adapter for another model.

Model mutants keep the real header (about 6.5 MB of the 253 MB default model) and leave the
tensor data as a sparse hole (zeros): loading only maps the data, so zeros exercise every
load path while each mutant costs a few MB of writes and no disk space for its weights.

`run_batches` loads files in a child process (tests/hostile/gguf_runner.py), many per child;
the child announces each file before touching it, so a crash or a hang names its file, and
the rest continue in a fresh child.
"""

from __future__ import annotations

import json
import math
import random
import selectors
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

RUNNER = Path(__file__).with_name("gguf_runner.py")
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q",
            11: "<q", 12: "<d"}


@dataclass
class Field:
    """A number in the header: where it is and how it is encoded."""

    name: str
    offset: int
    fmt: str
    value: float | int


@dataclass
class Layout:
    fields: list[Field] = field(default_factory=list)
    strings: dict[str, tuple[int, str]] = field(default_factory=dict)  # key -> (offset, value)
    tensor_names: list[tuple[int, str]] = field(default_factory=list)  # (offset of len, name)
    header_end: int = 0
    data_offset: int = 0
    alignment: int = 32

    def named(self, prefix: str) -> list[Field]:
        return [f for f in self.fields if f.name.startswith(prefix)]


def parse_layout(buf: bytes) -> Layout:
    lay = Layout()
    pos = 4

    def num(name: str, fmt: str) -> int | float:
        nonlocal pos
        (value,) = struct.unpack_from(fmt, buf, pos)
        lay.fields.append(Field(name, pos, fmt, value))
        pos += struct.calcsize(fmt)
        return value  # type: ignore[no-any-return]

    def string(name: str) -> str:
        nonlocal pos
        start = pos
        n = int(num(f"{name}#len", "<Q"))
        text = buf[pos:pos + n].decode("utf-8", errors="replace")
        pos += n
        lay.strings[name] = (start, text)
        return text

    num("version", "<I")
    n_tensors = int(num("tensor_count", "<Q"))
    n_kv = int(num("kv_count", "<Q"))
    for _ in range(n_kv):
        key_start = pos
        (klen,) = struct.unpack_from("<Q", buf, pos)
        key = buf[pos + 8:pos + 8 + klen].decode()
        pos += 8 + klen
        lay.strings[f"key:{key}"] = (key_start, key)
        vtype = int(num(f"kv:{key}#type", "<I"))
        if vtype in _SCALARS:
            value = num(f"kv:{key}", _SCALARS[vtype])
            if key == "general.alignment":
                lay.alignment = int(value)
        elif vtype == 8:
            string(f"kv:{key}")
        elif vtype == 9:
            itype = int(num(f"kv:{key}#itemtype", "<I"))
            count = int(num(f"kv:{key}#count", "<Q"))
            if itype == 8:
                for _ in range(count):
                    (n,) = struct.unpack_from("<Q", buf, pos)
                    pos += 8 + n
            else:
                pos += count * struct.calcsize(_SCALARS[itype])
        else:
            raise ValueError(f"value type {vtype}")
    for t in range(n_tensors):
        name_start = pos
        (nlen,) = struct.unpack_from("<Q", buf, pos)
        name = buf[pos + 8:pos + 8 + nlen].decode()
        lay.tensor_names.append((name_start, name))
        lay.fields.append(Field(f"tensor{t}:{name}#namelen", pos, "<Q", nlen))
        pos += 8 + nlen
        dims = int(num(f"tensor{t}:{name}#ndims", "<I"))
        for d in range(dims):
            num(f"tensor{t}:{name}#dim{d}", "<Q")
        num(f"tensor{t}:{name}#type", "<I")
        num(f"tensor{t}:{name}#offset", "<Q")
    lay.header_end = pos
    lay.data_offset = -(-pos // lay.alignment) * lay.alignment
    return lay


def _put(buf: bytearray, f: Field, value: float | int) -> None:
    fmt = f.fmt
    if fmt in ("<f", "<d"):
        struct.pack_into(fmt, buf, f.offset, float(value))
        return
    bits = struct.calcsize(fmt) * 8
    value = int(value)
    if fmt[1].islower() or fmt == "<?":  # signed (and bool, stored as a byte)
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        if fmt == "<?":
            struct.pack_into("<B", buf, f.offset, value & 0xFF)
            return
        value = max(lo, min(hi, value))
    else:
        value &= (1 << bits) - 1
    struct.pack_into(fmt, buf, f.offset, value)


def _interesting(f: Field, rng: random.Random) -> float | int:
    if f.fmt in ("<f", "<d"):
        return rng.choice([0.0, -1.0, 1e38, -1e38, math.inf, -math.inf, math.nan, 1e-45,
                           float(f.value) * 1000])
    v = int(f.value)
    return rng.choice([0, 1, 2, 3, v + 1, v - 1, v * 2, v * 1000, v // 2, 255, 65535,
                       2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**40, 2**63 - 1, 2**63, 2**64 - 1,
                       -1])


def _splice_string(buf: bytes, start: int, new: str) -> bytes:
    (n,) = struct.unpack_from("<Q", buf, start)
    raw = new.encode()
    return buf[:start] + struct.pack("<Q", len(raw)) + raw + buf[start + 8 + n:]


@dataclass
class Mutant:
    name: str
    header: bytes  # the bytes to write
    size: int  # the file's final size (sparse beyond `header`)


def _resized(header: bytes, old_layout: Layout, data_size: int) -> Mutant:
    """A header whose length changed: re-align the data section and size the file to match."""
    try:
        lay = parse_layout(header)
        data_offset = lay.data_offset
    except Exception:
        data_offset = old_layout.data_offset + (len(header) - old_layout.header_end)
    head = header[:data_offset] if len(header) >= data_offset else \
        header + bytes(data_offset - len(header))
    return Mutant("", head, data_offset + data_size)


ARCHS = ["llama", "gemma2", "gemma", "bert", "qwen2", "mamba", "t5", "rwkv6", "", "x" * 40,
         "gemma3\x00", "GEMMA3"]
HPARAM_KEYS = ("context_length", "embedding_length", "block_count", "feed_forward_length",
               "attention.head_count", "attention.head_count_kv", "attention.key_length",
               "attention.value_length", "attention.sliding_window", "rope.freq_base",
               "attention.layer_norm_rms_epsilon")


def mutants(original: bytes, file_size: int, rng: random.Random, count: int,
            *, adapter: bool = False) -> Iterator[Mutant]:
    """`count` mutants of a GGUF whose first bytes (at least the header) are `original`."""
    lay = parse_layout(original)
    header = original[:lay.data_offset] if not adapter else original
    data_size = file_size - lay.data_offset
    arch = lay.strings.get("kv:general.architecture", (0, ""))[1]
    ops = ["truncate", "bitflip", "bitflip_field", "field", "field", "hparam", "token_id",
           "tensor_dim", "tensor_type", "tensor_offset", "tensor_ndims", "count", "arch",
           "general_type", "kv_type", "tensor_name", "array_count", "version"]
    if adapter:
        ops += ["adapter_meta", "bitflip_data", "bitflip_data", "truncate"]
    for i in range(count):
        op = ops[i % len(ops)] if i < len(ops) else rng.choice(ops)
        buf = bytearray(header)
        size = file_size
        if op == "truncate":
            cut = rng.choice([rng.randint(1, 64), rng.randint(1, lay.header_end),
                              rng.randint(lay.header_end, file_size - 1)])
            yield Mutant(f"{i:03d}_truncate_{cut}", bytes(buf[:cut]), cut)
            continue
        if op in ("bitflip", "bitflip_data"):
            lo = lay.data_offset if op == "bitflip_data" and len(buf) > lay.data_offset else 4
            for _ in range(rng.randint(1, 8)):
                pos = rng.randrange(lo, len(buf))
                buf[pos] ^= 1 << rng.randrange(8)
        elif op == "bitflip_field":
            for _ in range(rng.randint(1, 3)):
                f = rng.choice(lay.fields)
                pos = f.offset + rng.randrange(struct.calcsize(f.fmt))
                buf[pos] ^= 1 << rng.randrange(8)
        elif op == "field":
            f = rng.choice(lay.fields)
            _put(buf, f, _interesting(f, rng))
            op = f"field_{f.name.split('#')[0][:40]}"
        elif op == "hparam":
            candidates = [f for f in lay.fields if any(f.name == f"kv:{arch}.{k}"
                                                       for k in HPARAM_KEYS)]
            f = rng.choice(candidates or lay.fields)
            _put(buf, f, _interesting(f, rng))
            op = f"hparam_{f.name.rsplit('.', 1)[-1]}"
        elif op == "token_id":
            ids = lay.named("kv:tokenizer.ggml.") or lay.fields
            ids = [f for f in ids if f.name.endswith("_token_id")] or ids
            f = rng.choice(ids)
            _put(buf, f, rng.choice([262144, 262145, 2**31 - 1, 2**32 - 1, -1, 10**9]))
        elif op.startswith("tensor_") and op != "tensor_name":
            part = {"tensor_dim": "#dim", "tensor_type": "#type", "tensor_offset": "#offset",
                    "tensor_ndims": "#ndims"}[op]
            candidates = [f for f in lay.fields if f.name.startswith("tensor") and part in f.name]
            if not candidates:
                candidates = lay.fields
            f = rng.choice(candidates)
            if part == "#type":
                value: float | int = rng.choice([0, 1, 2, 8, 10, 12, 14, 16, 20, 30, 39, 99,
                                                 2**31])
            elif part == "#offset":
                others = [g.value for g in candidates]
                value = rng.choice([int(f.value) + 1, int(f.value) + 16, 0, rng.choice(others),
                                    data_size, data_size * 2, 2**63, 2**64 - 32])
            elif part == "#ndims":
                value = rng.choice([0, 3, 4, 5, 1000, 2**32 - 1])
            else:
                value = _interesting(f, rng)
            _put(buf, f, value)
            op = f"{op}_{value}"
        elif op == "count":
            f = rng.choice(lay.named("tensor_count") + lay.named("kv_count"))
            _put(buf, f, int(f.value) + rng.choice([-2, -1, 1, 2, 1000, 2**20]))
            op = f"count_{f.name}"
        elif op == "version":
            _put(buf, lay.fields[0], rng.choice([0, 1, 2, 4, 99, 2**31]))
        elif op == "kv_type":
            f = rng.choice([f for f in lay.fields if f.name.endswith("#type")
                            and f.name.startswith("kv:")])
            _put(buf, f, rng.choice([0, 4, 6, 8, 9, 10, 12, 13, 255]))
        elif op == "array_count":
            f = rng.choice([f for f in lay.fields if f.name.endswith("#count")] or lay.fields)
            _put(buf, f, _interesting(f, rng))
        elif op in ("arch", "general_type", "tensor_name", "adapter_meta"):
            if op == "arch":
                start = lay.strings["kv:general.architecture"][0]
                new_arch = rng.choice(ARCHS)
                edited = _splice_string(bytes(buf), start, new_arch)
                op = f"arch_{new_arch[:12]!r}"
            elif op == "general_type":
                key = "kv:general.type"
                if key not in lay.strings:
                    continue
                edited = _splice_string(bytes(buf), lay.strings[key][0],
                                        rng.choice(["adapter", "model", "", "vocab", "ADAPTER"]))
            elif op == "tensor_name":
                start, name = rng.choice(lay.tensor_names)
                other = rng.choice(lay.tensor_names)[1]
                new = rng.choice([other, "", name.replace("blk.", "blk.9"),
                                  name + ".extra", "token_embd.weight", "x" * 300])
                edited = _splice_string(bytes(buf), start, new)
            else:  # adapter metadata: type and alpha
                key = rng.choice(["kv:adapter.type", "kv:adapter.lora.alpha"])
                if key == "kv:adapter.type" and key in lay.strings:
                    edited = _splice_string(bytes(buf), lay.strings[key][0],
                                            rng.choice(["lora", "control_vector", "", "LORA"]))
                else:
                    alpha = [f for f in lay.fields if f.name == "kv:adapter.lora.alpha"]
                    if not alpha:
                        continue
                    _put(buf, alpha[0], rng.choice([0.0, -8.0, math.nan, math.inf, 1e30]))
                    edited = bytes(buf)
            if adapter:
                yield Mutant(f"{i:03d}_{op}", edited, len(edited))
            else:
                m = _resized(edited, lay, data_size)
                yield Mutant(f"{i:03d}_{op}", m.header, m.size)
            continue
        name = f"{i:03d}_{op}"
        if adapter:
            yield Mutant(name, bytes(buf), len(buf))
        else:
            yield Mutant(name, bytes(buf), size)


def write_mutant(folder: Path, mutant: Mutant, suffix: str = ".gguf") -> Path:
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in mutant.name)[:80]
    path = folder / f"{safe}{suffix}"
    with path.open("wb") as fh:
        fh.write(mutant.header[:mutant.size])
        if mutant.size > len(mutant.header):
            fh.truncate(mutant.size)  # a hole: zeros that take no disk space
    return path


# --------------------------------------------------------------------------------------------
# running them
# --------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    path: Path
    status: str  # refused (a ModelError sentence) | loaded | crashed | hung | exception
    message: str = ""
    seconds: float = 0.0


def run_batches(kind: str, files: list[Path], base: Path, *, per_file_timeout: float = 60.0,
                env: dict[str, str] | None = None) -> list[Outcome]:
    """Load every file in child processes; a crash or hang is charged to the file it was on."""
    outcomes: dict[Path, Outcome] = {}
    todo = list(files)
    while todo:
        folder = Path(tempfile.mkdtemp(prefix="gguf-fuzz-"))
        listing, errors = folder / "files.json", folder / "stderr.txt"
        listing.write_text(json.dumps([str(p) for p in todo]), encoding="utf-8")
        with errors.open("w") as err_file:
            proc = subprocess.Popen(
                [sys.executable, str(RUNNER), kind, str(base), str(listing)],
                stdout=subprocess.PIPE, stderr=err_file, env=env, text=True, bufsize=1)
        assert proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        current: Path | None = None
        started = time.monotonic()
        ready_deadline = time.monotonic() + 300  # the base model loads first, for adapters
        hung = False
        while True:
            limit = per_file_timeout if current is not None else \
                max(1.0, ready_deadline - time.monotonic())
            events = sel.select(timeout=limit)
            if not events:
                hung = True
                break
            line = proc.stdout.readline()
            if not line:
                break
            tag, _, rest = line.rstrip("\n").partition(" ")
            if tag == "BEGIN":
                current = Path(rest)
                started = time.monotonic()
            elif tag in ("REFUSED", "LOADED", "EXCEPTION") and current is not None:
                status = {"REFUSED": "refused", "LOADED": "loaded",
                          "EXCEPTION": "exception"}[tag]
                outcomes[current] = Outcome(current, status, json.loads(rest) if rest else "",
                                            time.monotonic() - started)
                current = None
        if hung:
            proc.kill()
        code = proc.wait()
        sel.close()
        stderr_tail = errors.read_text(errors="replace")[-2000:]
        shutil.rmtree(folder, ignore_errors=True)
        if current is not None:  # it died or hung on this file
            why = "hung" if hung else "crashed"
            detail = f"signal {-code}" if code < 0 else f"exit code {code}"
            if code < 0:
                detail += f" ({signal.Signals(-code).name})"
            outcomes[current] = Outcome(current, why, detail, time.monotonic() - started)
        remaining = [p for p in todo if p not in outcomes]
        if len(remaining) == len(todo):
            raise RuntimeError(f"the fuzz runner made no progress (exit code {code}):\n"
                               f"{stderr_tail}")
        if code != 0 and current is None and not remaining:
            raise RuntimeError(f"the fuzz runner ended with exit code {code} after its files:\n"
                               f"{stderr_tail}")
        todo = remaining
    return [outcomes[p] for p in files]
