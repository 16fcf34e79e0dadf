"""What a message shown to a user must not look like: Python exception text or internals."""

from __future__ import annotations

import re

_INTERNALS = [
    (re.compile(r"Traceback \(most recent call last\)"), "a traceback"),
    (re.compile(r"\b[A-Z][A-Za-z]*(Error|Exception|Warning)\b"), "an exception class name"),
    (re.compile(r"object has no attribute|object is not (subscriptable|callable|iterable)"),
     "an AttributeError/TypeError message"),
    (re.compile(r"'[\w.]+' object"), "a type name"),
    (re.compile(r"\b[a-z_]\w*\.[a-z_]\w*\._?\w+\b"), "a dotted module path"),
    (re.compile(r"<[\w.]+ object at 0x"), "an object repr"),
    (re.compile(r"0x[0-9a-fA-F]{6,}"), "an address"),
    (re.compile(r"__\w+__"), "a dunder name"),
    (re.compile(r"\bNoneType\b"), "NoneType"),
    (re.compile(r"\[Errno \d+\]"), "an errno repr"),
    (re.compile(r"line \d+, column \d+"), "a parser position"),
    (re.compile(r"(?<![\w'\"])b['\"][^'\"\s][^'\"]*['\"]"), "a bytes repr"),
    (re.compile(r"\\x[0-9a-f]{2}"), "an escaped byte"),
    (re.compile(r"\b(lxml|pypdf|zipfile|apsw|selectolax|llama_cpp|ggml|torch)\b"),
     "a library name"),
    (re.compile(r"\bError -?\d+\b"), "a C error code"),
]


_NAMES_MAY_SAY = {"a library name"}


def internals_in(message: str, *, files: bool = False) -> list[str]:
    """Why `message` is not a sentence for a user (empty when it is fine).

    `files`: the message may name files, tensors and entries in quotes ('blk.0.attn_q.weight',
    'tokenizer.ggml.model'), so dotted and library-like names inside quotes are allowed.
    """
    quoted = re.sub(r"'[^'\s]*'", "'NAME'", message) if files else message
    problems = [label for pattern, label in _INTERNALS
                if pattern.search(quoted if label in _NAMES_MAY_SAY else message)
                and not (files and label == "a dotted module path")]
    if not message.strip():
        problems.append("empty")
    if len(message) > 400:
        problems.append("too long")
    return problems
