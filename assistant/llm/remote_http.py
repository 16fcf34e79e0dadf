"""The HTTP side of answers from an inference server: JSON requests and SSE streams.

Built on the standard library (`http.client`) rather than the `openai` client: the app needs
endpoints outside the OpenAI API (each server's tokenizer), exact control of the two timeouts
and of cancellation (closing the socket from another thread), and no extra runtime package in
the frozen app. Every failure becomes one `ServerError` sentence that names the server and what
to do; no exception text reaches the user. There are no retries: a repeated request could
double an answer, and a person can simply ask again.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from assistant.errors import ModelError

CONNECT_TIMEOUT = 5.0  # seconds to open the connection (TLS included)
READ_TIMEOUT = 60.0  # seconds without a byte from the server, while it answers
_MAX_ERROR_BODY = 64 * 1024
_MAX_LINE = 4 * 1024 * 1024  # one server-sent-event line; a longer one is not a token event


class ServerError(ModelError):
    """The inference server cannot be used (down, too slow, refused, broken reply).

    `status` is the HTTP status where the server answered with an error.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def split_url(url: str) -> tuple[str, str]:
    """(root, API base) of a server address: `http://h:8080/v1/` -> (`http://h:8080`, `.../v1`).

    People paste either the server's address or its OpenAI base (ending in /v1); both work.
    """
    text = url.strip().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ServerError(f"'{url}' is not a server address; it should look like "
                          "http://127.0.0.1:8080/v1.")
    root = text[:-3] if text.endswith("/v1") else text
    return root, root + "/v1"


class HttpClient:
    """Requests to one server, each on its own connection, with both timeouts applied."""

    def __init__(self, url: str, api_key: str | None = None, *,
                 connect_timeout: float = CONNECT_TIMEOUT,
                 read_timeout: float = READ_TIMEOUT) -> None:
        self.root, self.api = split_url(url)
        parts = urlsplit(self.root)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if self.https else 80)
        self.prefix = parts.path.rstrip("/")
        self.where = f"{self.host}:{self.port}"
        self.api_key = api_key or None
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout

    # ------------------------------------------------------------------ one request
    def _say(self, what: str, status: int | None = None) -> ServerError:
        return ServerError(f"The inference server at {self.where} {what}", status)

    def _connect(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection
        if self.https:
            conn = http.client.HTTPSConnection(self.host, self.port, timeout=self.connect_timeout,
                                               context=ssl.create_default_context())
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.connect_timeout)
        try:
            conn.connect()
        except ssl.SSLError:
            conn.close()
            raise self._say("failed the secure-connection (TLS) check; check its certificate "
                            "or use its http:// address.") from None
        except TimeoutError:
            conn.close()
            raise self._say(f"did not accept a connection within {self.connect_timeout:g} "
                            "seconds; check the address, or that the server is up.") from None
        except ConnectionRefusedError:
            conn.close()
            raise self._say("refused the connection: it is not running, or listens on another "
                            "port. Start it, or choose the embedded model in Settings.") from None
        except socket.gaierror:
            conn.close()
            raise ServerError(f"The inference server's address '{self.host}' could not be "
                              "found; check it in Settings.") from None
        except OSError:
            conn.close()
            raise self._say("cannot be reached from this computer; check the address and "
                            "the network.") from None
        assert conn.sock is not None
        conn.sock.settimeout(self.read_timeout)
        return conn

    def _send(self, method: str, path: str, body: dict[str, Any] | None,
              ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        conn = self._connect()
        headers = {"Accept": "application/json, text/event-stream"}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        try:
            conn.request(method, self.prefix + path, body=data, headers=headers)
            response = conn.getresponse()
        except BaseException as err:
            conn.close()
            raise self._failure(err) from None
        return conn, response

    def _failure(self, err: BaseException) -> BaseException:
        """The sentence for an exception raised while talking to the server."""
        if isinstance(err, TimeoutError):
            return self._say(f"sent nothing for {self.read_timeout:g} seconds; it may be "
                             "overloaded or stuck. Try again, or raise the timeout in Settings.")
        if isinstance(err, OSError | http.client.HTTPException):
            return self._say("closed the connection before the answer was complete; it may "
                             "have stopped or restarted. Try again.")
        return err  # not a network failure: let it through unchanged

    def _check_status(self, response: http.client.HTTPResponse, path: str) -> None:
        status = response.status
        if status == 200:
            return
        try:
            detail = response.read(_MAX_ERROR_BODY).decode("utf-8", "replace").lower()
        except Exception:
            detail = ""
        code = f"HTTP {status}"
        if status in (401, 403):
            what = f"refused the API key ({code}); enter the right key in Settings."
        elif status == 404:
            what = (f"has no {path} endpoint ({code}); check the address (it usually ends in "
                    "/v1) and the model name.")
        elif status == 400 and "context" in detail:
            what = (f"found the question and its sources too long for its context ({code}); "
                    "lower Context size in Settings to the server's.")
        elif status < 500:
            what = f"rejected the request ({code}); it may not be OpenAI-compatible."
        else:
            what = f"failed with an error of its own ({code}); see the server's log."
        raise self._say(what, status)

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """The decoded JSON reply of `path` (relative to the server's root)."""
        conn, response = self._send(method, path, body)
        try:
            self._check_status(response, path)
            raw = response.read()
        except ServerError:
            raise
        except BaseException as err:
            raise self._failure(err) from None
        finally:
            conn.close()
        try:
            return json.loads(raw)
        except ValueError:
            raise self._say(f"sent a reply to {path} that is not JSON; is it an "
                            "OpenAI-compatible server?") from None

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.request("POST", path, body)

    # ------------------------------------------------------------------ streams
    def stream(self, path: str, body: dict[str, Any],
               cancel: threading.Event | None = None) -> Iterator[dict[str, Any]]:
        """The JSON events of a server-sent-event stream, until `data: [DONE]`.

        Setting `cancel` closes the socket, so a wait for the next event ends at once (the
        iteration then just stops). A stream that ends without [DONE] (the server stopped or
        restarted mid-answer) raises a ServerError.
        """
        conn, response = self._send("POST", path, body)
        done = threading.Event()
        watcher = None
        if cancel is not None:
            watcher = threading.Thread(target=_close_on_cancel, args=(conn, cancel, done),
                                       name="answer-stream-cancel", daemon=True)
            watcher.start()
        try:
            self._check_status(response, path)
            yield from self._events(response, path, cancel)
        finally:
            done.set()
            conn.close()
            if watcher is not None:
                watcher.join(1.0)

    def _events(self, response: http.client.HTTPResponse, path: str,
                cancel: threading.Event | None) -> Iterator[dict[str, Any]]:
        data: list[str] = []
        while True:
            try:
                line = response.readline(_MAX_LINE)
            except BaseException as err:
                if cancel is not None and cancel.is_set():
                    return
                raise self._failure(err) from None
            if not line:
                if cancel is not None and cancel.is_set():
                    return
                raise self._say("closed the connection before the answer was complete; it "
                                "may have stopped or restarted. Try again.")
            if len(line) >= _MAX_LINE and not line.endswith(b"\n"):
                raise self._say(f"sent a stream from {path} with a line over "
                                f"{_MAX_LINE >> 20} MB; is it an OpenAI-compatible server?")
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            if text.startswith("data:"):
                data.append(text[5:].removeprefix(" "))
                continue
            if text or not data:  # comments (": ping"), other fields, blank keep-alives
                continue
            payload = "\n".join(data)
            data = []
            if payload.strip() == "[DONE]":
                return
            try:
                event = json.loads(payload)
            except ValueError:
                raise self._say(f"sent a stream from {path} that is not JSON; is it an "
                                "OpenAI-compatible server?") from None
            if isinstance(event, dict) and event.get("error"):
                raise self._say("stopped the answer with an error of its own; see the "
                                "server's log.")
            if isinstance(event, dict):
                yield event


def _close_on_cancel(conn: http.client.HTTPConnection, cancel: threading.Event,
                     done: threading.Event) -> None:
    """Shut the socket when `cancel` is set, which ends a blocking read in the stream."""
    while not done.is_set():
        if cancel.wait(0.1):
            sock = conn.sock
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            return
