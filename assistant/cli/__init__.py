"""The command line: `main`, terminal output helpers, and every command."""

from assistant.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
