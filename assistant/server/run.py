"""`assistant serve`: the HTTP API on uvicorn; `assistant mcp`: the MCP server on stdio.

The server binds 127.0.0.1 unless told otherwise. Any other address needs an API key: the one
given, else one generated here and shown once (`secrets.token_urlsafe`).
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from assistant.errors import UserError
from assistant.server.http import Limits, RequestRecord, build_app
from assistant.server.library import Library

DEFAULT_PORT = 8763


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass
class ServeConfig:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    api_key: str | None = None
    max_pending: int = 4
    limits: Limits | None = None

    def check(self) -> None:
        """Raise `UserError` for a value no server can run with."""
        if not 1 <= self.port <= 65535:
            raise UserError(f"The port must be between 1 and 65535, not {self.port}.")
        if self.max_pending < 1:
            raise UserError("--max-pending must be at least 1.")
        limits = self.limits
        if limits is not None and (limits.timeout <= 0 or limits.max_body < 1024):
            raise UserError("The time limit must be above 0 s and the body limit at least "
                            "1024 bytes.")

    def resolve_key(self) -> tuple[str | None, bool]:
        """(the key requests must carry, whether it was generated here).

        Off loopback a key is required: the one given, else a fresh one.
        """
        self.check()
        if self.api_key is not None and not self.api_key.strip():
            if not is_loopback(self.host):
                raise UserError("Serving beyond this computer needs an API key; an empty key "
                                "is not one.")
            return None, False
        if self.api_key:
            if len(self.api_key) < 16:
                raise UserError("The API key must be at least 16 characters long.")
            return self.api_key, False
        if is_loopback(self.host):
            return None, False
        return secrets.token_urlsafe(24), True


def url_of(config: ServeConfig) -> str:
    host = f"[{config.host}]" if ":" in config.host else config.host
    return f"http://{host}:{config.port}/v1"


def make_server(config: ServeConfig, library: Library, key: str | None) -> Any:
    """A uvicorn server for the app (not started)."""
    import uvicorn

    app = build_app(library, api_key=key, loopback=is_loopback(config.host),
                    limits=config.limits)
    uv = uvicorn.Config(app, host=config.host, port=config.port, log_level="warning",
                        access_log=False, server_header=False, lifespan="off",
                        timeout_graceful_shutdown=5)
    server = uvicorn.Server(uv)
    server.app_state = app.state.server  # type: ignore[attr-defined]
    return server


def serve(config: ServeConfig, *, library: Library | None = None,
          announce: Callable[[str], None] | None = None) -> int:
    """Run until interrupted; `announce` hears the address (and a generated key) once up."""
    say = announce or (lambda text: print(text, file=sys.stderr, flush=True))
    key, generated = config.resolve_key()
    request_log = logging.getLogger("assistant.server")
    if not request_log.handlers:  # one line a request on stderr; other libraries stay quiet
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        request_log.addHandler(handler)
        request_log.setLevel(logging.INFO)
        request_log.propagate = False
    library = library or Library(max_pending=config.max_pending, warm=True)
    server = make_server(config, library, key)
    original = server.startup

    async def startup(sockets: Any = None) -> None:
        await original(sockets)
        if server.started:
            say(f"Serving the library on {url_of(config)} (OpenAI-compatible; Ctrl-C stops).")
            if generated:
                say(f"API key (send it as 'Authorization: Bearer KEY'): {key}")
            elif key:
                say("Every request must carry the API key given.")

    server.startup = startup
    try:
        server.run()
    except SystemExit:  # uvicorn exits when it cannot bind; its reason is logged already
        pass
    finally:
        library.close()
    if not server.started:
        raise UserError(f"Could not listen on {config.host}:{config.port} (is the port in use?).")
    return 0


class BackgroundServer:
    """The server on a thread of its own, for the desktop app's switch ("Let other apps on
    this computer use my library"): `start`, then `url`, `key` and `requests` (the recent
    request log) to show, and `stop`. Qt-free; the GUI polls `requests`.
    """

    def __init__(self, config: ServeConfig, *, library: Library | None = None) -> None:
        self.config = config
        self.key, self.key_generated = config.resolve_key()
        self.library = library or Library(max_pending=config.max_pending, warm=True)
        self._server = make_server(config, self.library, self.key)
        self._thread = threading.Thread(target=self._run, name="server-http", daemon=True)

    @property
    def url(self) -> str:
        return url_of(self.config)

    @property
    def running(self) -> bool:
        return bool(self._server.started) and self._thread.is_alive()

    @property
    def requests(self) -> list[RequestRecord]:
        """The latest requests, oldest first (at most 200)."""
        return list(self._server.app_state.log)

    def _run(self) -> None:
        try:
            self._server.run()
        except SystemExit:  # cannot bind: `start` says so
            pass

    def start(self, timeout: float = 30.0) -> None:
        """Listen, or raise `UserError` with the reason."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise UserError(f"Could not listen on {self.config.host}:{self.config.port} "
                                "(is the port in use?).")
            time.sleep(0.02)

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
        self.library.close()
