"""Serving the library to other programs on this computer: an OpenAI-compatible HTTP API
(`assistant serve`) and an MCP server on stdio (`assistant mcp`). No Qt here; the GUI and the
CLI start them."""

from assistant.server.http import Limits, RequestRecord, build_app
from assistant.server.library import ALL_MODEL, COLLECTION_PREFIX, PLAIN_MODEL, Busy, Library
from assistant.server.run import (
    DEFAULT_PORT,
    BackgroundServer,
    ServeConfig,
    is_loopback,
    serve,
)

__all__ = [
    "ALL_MODEL",
    "COLLECTION_PREFIX",
    "DEFAULT_PORT",
    "PLAIN_MODEL",
    "BackgroundServer",
    "Busy",
    "Library",
    "Limits",
    "RequestRecord",
    "ServeConfig",
    "build_app",
    "is_loopback",
    "serve",
]
