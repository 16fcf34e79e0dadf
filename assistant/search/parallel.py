"""Run a function over items on a few threads, one item per call.

The int8 ONNX models (the embedder and the reader) run each text alone: they scale their
activations by the whole input, so batching made one text's result depend on its neighbours.
Several single-threaded runs at once, one core each, keep them fast (ONNX Runtime sessions
take concurrent runs).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def each_alone(function: Callable[[T], R], items: Sequence[T], workers: int) -> list[R]:
    """`[function(item) for item in items]`, on up to `workers` threads, in order."""
    workers = min(workers, len(items))
    if workers <= 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(workers, thread_name_prefix="each-alone") as pool:
        return list(pool.map(function, items))
