"""pgvector's `vector` type to and from numpy float32 arrays, in psycopg's binary format.

Why our own adapter rather than the `pgvector` package's: its loader builds a Python object
per vector from text; the binary form (dimension, then big-endian float32s) is a byte copy,
which matters when a library of 100,000s of vectors is pushed or pulled.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
from psycopg.adapt import Dumper, Loader
from psycopg.pq import Format
from psycopg.types import TypeInfo

_HEADER = struct.Struct(">HH")


def to_binary(vector: np.ndarray) -> bytes:
    v = np.ascontiguousarray(vector, dtype=">f4").reshape(-1)
    return _HEADER.pack(len(v), 0) + v.tobytes()


def from_binary(data: Any) -> np.ndarray:
    raw = bytes(data)
    dim = _HEADER.unpack_from(raw)[0]
    out: np.ndarray = np.frombuffer(raw, dtype=">f4", count=dim, offset=4).astype(np.float32)
    return out


class _BinaryDumper(Dumper):
    format = Format.BINARY

    def dump(self, obj: Any) -> bytes:
        return to_binary(obj)


class _BinaryLoader(Loader):
    format = Format.BINARY

    def load(self, data: Any) -> np.ndarray:
        return from_binary(data)


class _TextLoader(Loader):
    format = Format.TEXT

    def load(self, data: Any) -> np.ndarray:
        text = bytes(data).decode("ascii").strip("[]")
        return np.array(text.split(","), dtype=np.float32) if text else \
            np.zeros(0, dtype=np.float32)


def register(conn: Any) -> None:
    """Teach one connection the `vector` type (run by the pool on each new connection)."""
    info = TypeInfo.fetch(conn, "vector")
    if info is None:
        raise RuntimeError("the vector extension is not installed in this database")
    info.register(conn)
    dumper = type("VectorDumper", (_BinaryDumper,), {"oid": info.oid})
    conn.adapters.register_dumper(np.ndarray, dumper)
    conn.adapters.register_loader(info.oid, _BinaryLoader)
    conn.adapters.register_loader(info.oid, _TextLoader)
