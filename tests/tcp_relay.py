"""A real TCP relay on loopback, between a client and a server, whose network can be cut.

Why: "the network dropped mid-push" must be a real dropped connection, seen by the driver as
it would be on a real network: the relay closes both ends of every open connection, and
while it is down it closes each new connection at once (the client's reconnects fail).
`cut_after` cuts by itself once that many bytes went from the client to the server, so a
test can drop the network in the middle of a run it does not otherwise control.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from pathlib import Path


def unix_socket_of(url: str) -> str:
    """The Unix socket file of a pgserver URL (`...?host=/dir`)."""
    folder = url.split("host=", 1)[1].split("&", 1)[0]
    found = [p for p in Path(folder).glob(".s.PGSQL.*") if not p.name.endswith(".lock")]
    assert found, f"no PostgreSQL socket in {folder}"
    return str(found[0])


class Relay:
    """Listens on 127.0.0.1 (`port`, a free one unless given) and relays every connection to
    `target` (a Unix socket path, or a (host, port) pair)."""

    def __init__(self, target: str | tuple[str, int], *, cut_after: int | None = None,
                 port: int = 0) -> None:
        self.target = target
        self.cut_after = cut_after
        self.forwarded = 0  # bytes from clients to the server
        self.cuts = 0
        self.up = threading.Event()
        self.up.set()
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", port))  # 0: any free port
        self._listener.listen(32)
        self.port = int(self._listener.getsockname()[1])
        self._closed = False
        threading.Thread(target=self._accept, name="relay-accept", daemon=True).start()

    def _connect(self) -> socket.socket:
        if isinstance(self.target, str):
            server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        else:
            server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.connect(self.target)
        return server

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self.up.is_set():  # the network is down: the connection dies at once
                client.close()
                continue
            try:
                server = self._connect()
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open += [client, server]
            for src, dst, upstream in ((client, server, True), (server, client, False)):
                threading.Thread(target=self._pump, args=(src, dst, upstream),
                                 name="relay-pump", daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, upstream: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if upstream:
                    with self._lock:
                        self.forwarded += len(data)
                        over = self.cut_after is not None and self.forwarded >= self.cut_after
                    if over and self.up.is_set():
                        self.cut()  # this piece never reaches the server
                        break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    s.close()

    def cut(self) -> None:
        """Drop the network: every open connection closed, new ones refused."""
        self.up.clear()
        self.cuts += 1
        with self._lock:
            sockets, self._open = self._open, []
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()

    def restore(self) -> None:
        """The network is back (and cuts no more by itself)."""
        self.cut_after = None
        self.up.set()

    def close(self) -> None:
        self._closed = True
        self.cut()
        with contextlib.suppress(OSError):
            self._listener.close()
