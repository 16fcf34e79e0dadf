"""`python -m assistant` is the same as the `assistant` command."""

from assistant.cli import main

if __name__ == "__main__":  # guarded: indexing workers re-import this module when spawned
    raise SystemExit(main())
