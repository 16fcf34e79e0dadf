"""Helpers of the answer-path tests: the real generator, grounded or made to write a given
answer (to force the failure a check must catch)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class WrongAnswer:
    """The real generator, made to write a given answer (forcing the failure to catch)."""

    def __init__(self, generator: object, text: str) -> None:
        self._generator = generator
        self._text = text

    def __getattr__(self, name: str) -> object:
        return getattr(self._generator, name)

    def stream(self, *args: object, **kwargs: object) -> Iterator[str]:
        yield self._text


@contextmanager
def grounded_generator(gguf: Path) -> Iterator[Any]:
    """The embedded model with the shipped grounded adapter, as the app answers."""
    from assistant.llm import Generator
    from assistant.llm.grounded import builtin_adapter_path

    adapter = builtin_adapter_path()
    assert adapter is not None
    with Generator(gguf, n_ctx=2048) as generator:
        generator.set_adapter(adapter, 1.0)
        yield generator
