"""Child process of tests/hostile/gguf_fuzz.py: load GGUF files the way the app does.

    python gguf_runner.py model|adapter BASE_MODEL LIST.json

For each file it prints `BEGIN path` (flushed) before touching it, then one of
`REFUSED "sentence"` (a ModelError, the app's way to refuse), `LOADED` (loaded and generated a
token) or `EXCEPTION "text"` (any other exception: a bug). A crash or a hang shows as a BEGIN
without its answer. Models are loaded with `Generator` (header check, then llama.cpp, then
one generated token); adapters are applied with `Generator.set_adapter` to one real base model.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main() -> int:
    kind, base, listing = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    files = [Path(p) for p in json.loads(listing.read_text(encoding="utf-8"))]
    from assistant.errors import ModelError
    from assistant.llm.generator import Generator

    host = Generator(base, n_ctx=128, n_threads=1) if kind == "adapter" else None
    print("READY", flush=True)
    for path in files:
        print(f"BEGIN {path}", flush=True)
        try:
            if host is None:
                with Generator(path, n_ctx=128, n_threads=1) as generator:
                    generator.complete("The capital of France is", max_tokens=2)
            else:
                try:
                    host.set_adapter(path, 1.0)
                    host.complete("The capital of France is", max_tokens=2)
                finally:
                    host.set_adapter(None)
        except ModelError as exc:
            print(f"REFUSED {json.dumps(str(exc))}", flush=True)
        except Exception as exc:
            print(f"EXCEPTION {json.dumps(f'{type(exc).__name__}: {exc}')}", flush=True)
        else:
            print("LOADED", flush=True)
    print("DONE", flush=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    sys.exit(main())
