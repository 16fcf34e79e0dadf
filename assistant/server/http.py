"""The OpenAI-compatible HTTP API (Starlette), answers with citations.

Endpoints: `GET /v1/models`, `POST /v1/chat/completions` (plain or `stream: true`, server-sent
events), `POST /v1/embeddings`, `POST /v1/search` (the shape of `assistant search --json`),
`GET /v1/passages/{id}` (an indexed passage, read from the store, never from the disk).

Every error is OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`, with a
sentence for a person; an unexpected failure is logged here and answered with a generic
sentence, never with a traceback. No CORS headers are sent. When an API key is set every
request must carry it (`Authorization: Bearer KEY`); on loopback a request must also name a
loopback host (a web page's DNS-rebinding trick cannot reach the API).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from assistant.errors import UserError
from assistant.server.library import Busy, Library, Slot, State, Target, UnknownModel

log = logging.getLogger("assistant.server")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


@dataclass
class Limits:
    max_body: int = 1 << 20  # bytes of a request body
    timeout: float = 300.0  # seconds a request may take, queueing included
    max_texts: int = 256  # inputs of one embeddings request


@dataclass
class RequestRecord:
    time: float
    method: str
    path: str
    status: int
    seconds: float


@dataclass
class ServerState:
    library: Library
    api_key: str | None = None
    loopback: bool = True
    limits: Limits = field(default_factory=Limits)
    log: deque[RequestRecord] = field(default_factory=lambda: deque(maxlen=200))


class ApiError(Exception):
    def __init__(self, status: int, message: str, *, type_: str = "invalid_request_error",
                 code: str | None = None, param: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = code
        self.param = param
        self.headers = headers or {}


def error_body(message: str, type_: str, code: str | None = None,
               param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def error_response(err: ApiError) -> JSONResponse:
    return JSONResponse(error_body(err.message, err.type, err.code, err.param),
                        status_code=err.status, headers=err.headers)


# --- the request's way in ----------------------------------------------------------------------

async def read_json(request: Request) -> dict[str, Any]:
    limit = state_of(request).limits.max_body
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"The request is larger than {limit} bytes.",
                       code="request_too_large")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise ApiError(413, f"The request is larger than {limit} bytes.",
                           code="request_too_large")
    try:
        data = json.loads(body)
    except ValueError:
        raise ApiError(400, "The request body is not valid JSON.", code="invalid_json") from None
    if not isinstance(data, dict):
        raise ApiError(400, "The request body must be a JSON object.", code="invalid_json")
    return data


def state_of(request: Request) -> ServerState:
    state: ServerState = request.app.state.server
    return state


def submit(request: Request, job: Callable[[State], Any], lane: str,
           cancel: threading.Event | None = None) -> tuple[Future[Any], Slot]:
    library = state_of(request).library
    chosen = library.model_lane if lane == "model" else library.search_lane
    try:
        return chosen.submit(job, cancel)
    except Busy as busy:
        raise ApiError(429, "The server is busy; try again shortly.", type_="rate_limit_error",
                       code="busy", headers={"Retry-After": str(busy.retry_after)}) from None


async def run_job(request: Request, job: Callable[[State], Any], *, lane: str = "search",
                  cancel: threading.Event | None = None) -> Any:
    """Run `job` on a lane and wait for it within the time limit.

    Past the limit, or when the client goes away meanwhile (checked every DISCONNECT_POLL
    seconds), the job's place is given back and `cancel` set at once.
    """
    server = state_of(request)
    future, slot = submit(request, job, lane, cancel)
    waiting = asyncio.wrap_future(future)
    deadline = time.monotonic() + server.limits.timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ApiError(504, f"The request took longer than {server.limits.timeout:g} s.",
                               type_="timeout_error", code="timeout")
            done, _ = await asyncio.wait({waiting}, timeout=min(left, DISCONNECT_POLL))
            if done:
                return waiting.result()
            if await request.is_disconnected():
                raise ApiError(499, "The client went away.", code="client_closed")
    finally:
        slot.release()  # a finished job's slot is free already; a waiting one stops here
        if not waiting.done():
            waiting.cancel()


DISCONNECT_POLL = 0.25


def text_of(content: Any) -> str:
    """A message's text: a string, or the text parts of a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content
                       if isinstance(p, dict) and p.get("type") == "text"
                       and isinstance(p.get("text"), str))
    return ""


def conversation(messages: Any) -> tuple[str, list[tuple[str, str]]]:
    """The last user message is the question; earlier user/assistant pairs are the history."""
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "Give 'messages': a list with at least one user message.",
                       param="messages", code="invalid_messages")
    turns = [(m.get("role"), text_of(m.get("content"))) for m in messages
             if isinstance(m, dict)]
    if not turns or turns[-1][0] != "user" or not turns[-1][1].strip():
        raise ApiError(400, "The last message must be the user's question, and not empty.",
                       param="messages", code="empty_question")
    history: list[tuple[str, str]] = []
    pending: str | None = None
    for role, text in turns[:-1]:
        if role == "user":
            pending = text
        elif role == "assistant" and pending is not None:
            history.append((pending, text))
            pending = None
    return turns[-1][1].strip(), history


def positive_int(data: dict[str, Any], name: str, default: int | None,
                 most: int) -> int | None:
    value = data.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ApiError(400, f"'{name}' must be a positive whole number.", param=name,
                       code="invalid_value")
    return min(value, most)


def optional_str(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is not None and not isinstance(value, str):
        raise ApiError(400, f"'{name}' must be a string.", param=name, code="invalid_value")
    return value or None


# --- endpoints ---------------------------------------------------------------------------------

async def list_models(request: Request) -> Response:
    names = await run_job(request, state_of(request).library.model_names)
    created = int(time.time())
    return JSONResponse({"object": "list", "data": [
        {"id": name, "object": "model", "created": created, "owned_by": "knowledge-assistant"}
        for name in names]})


async def search(request: Request) -> Response:
    data = await read_json(request)
    query = optional_str(data, "query")
    if not query or not query.strip():
        raise ApiError(400, "Give a 'query' to search for.", param="query", code="empty_query")
    k = positive_int(data, "k", 5, 100) or 5
    collection, path = optional_str(data, "collection"), optional_str(data, "path")
    kind = optional_str(data, "type")
    library = state_of(request).library
    result = await run_job(request, lambda s: library.search(s, query, k, collection, path,
                                                             kind))
    return JSONResponse(result)


async def passage(request: Request) -> Response:
    raw = request.path_params["chunk_id"]
    if not raw.isdigit():
        raise ApiError(404, "There is no such passage.", code="not_found")
    library = state_of(request).library
    found = await run_job(request, lambda s: library.passage(s, int(raw)))
    if found is None:
        raise ApiError(404, "There is no such passage.", code="not_found")
    return JSONResponse(found)


async def embeddings(request: Request) -> Response:
    data = await read_json(request)
    server = state_of(request)
    raw = data.get("input")
    texts = [raw] if isinstance(raw, str) else raw
    if not isinstance(texts, list) or not texts or \
            not all(isinstance(t, str) and t.strip() for t in texts):
        raise ApiError(400, "Give 'input': a text or a list of texts, none empty.",
                       param="input", code="invalid_input")
    if len(texts) > server.limits.max_texts:
        raise ApiError(400, f"At most {server.limits.max_texts} texts a request.",
                       param="input", code="too_many_inputs")
    library = server.library
    vectors = await run_job(request, lambda _s: library.embed(texts))
    model = data.get("model") if isinstance(data.get("model"), str) else library.embedder.name
    words = sum(len(t.split()) for t in texts)
    return JSONResponse({
        "object": "list", "model": model,
        "data": [{"object": "embedding", "index": i, "embedding": [float(x) for x in v]}
                 for i, v in enumerate(vectors)],
        "usage": {"prompt_tokens": words, "total_tokens": words}})


def answer_extras(answer: Any) -> dict[str, Any]:
    """What rides beside the text: citations, grounding, consulted passages, not_found."""
    extras = dict(answer.to_json())
    extras.pop("answer", None)
    return extras


def usage(answer: Any) -> dict[str, int]:
    return {"prompt_tokens": answer.prompt_tokens, "completion_tokens": answer.completion_tokens,
            "total_tokens": answer.prompt_tokens + answer.completion_tokens}


def finish_reason(answer: Any, max_tokens: int | None) -> str:
    return "length" if max_tokens and answer.completion_tokens >= max_tokens else "stop"


async def chat_completions(request: Request) -> Response:
    data = await read_json(request)
    model = data.get("model")
    if not isinstance(model, str) or not model:
        raise ApiError(400, "Give a 'model' (GET /v1/models lists them).", param="model",
                       code="invalid_model")
    question, history = conversation(data.get("messages"))
    if data.get("n", 1) not in (1, None):
        raise ApiError(400, "Only one answer a request ('n': 1) is given.", param="n",
                       code="unsupported_value")
    max_tokens = positive_int(data, "max_completion_tokens", None, 4096) or \
        positive_int(data, "max_tokens", None, 4096)
    library = state_of(request).library
    try:
        target: Target = await run_job(request, lambda s: library.target(s, model))
    except UnknownModel as exc:
        raise ApiError(404, str(exc), param="model", code="model_not_found") from None
    ident = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    if data.get("stream") is True:
        options = data.get("stream_options")
        with_usage = isinstance(options, dict) and options.get("include_usage") is True
        return await stream_chat(request, ident, created, model, question, history, target,
                                 max_tokens, with_usage)
    cancel = threading.Event()
    answer = await run_job(
        request, lambda s: library.answer(s, question, target=target, history=history,
                                          max_tokens=max_tokens, cancel=cancel),
        lane="model", cancel=cancel)
    message = {"role": "assistant", "content": answer.text, **answer_extras(answer)}
    return JSONResponse({
        "id": ident, "object": "chat.completion", "created": created, "model": model,
        "choices": [{"index": 0, "message": message,
                     "finish_reason": finish_reason(answer, max_tokens), "logprobs": None}],
        "usage": usage(answer)})


async def stream_chat(request: Request, ident: str, created: int, model: str, question: str,
                      history: list[tuple[str, str]], target: Target, max_tokens: int | None,
                      with_usage: bool) -> Response:
    """Tokens as server-sent events as they are generated; the last event carries the sources.

    As with `assistant ask`, the streamed text is the model's; where the final answer is not
    that text (a quote of a passage, or not found), the final text follows it. The last
    chunk's delta carries `citations`, `grounding` and the rest, and `content_final`: the
    answer as the app shows it when done.
    """
    server = state_of(request)
    library = server.library
    loop = asyncio.get_running_loop()
    pieces: asyncio.Queue[str | None] = asyncio.Queue()
    cancel = threading.Event()

    def on_token(piece: str) -> None:
        loop.call_soon_threadsafe(pieces.put_nowait, piece)

    def job(state: State) -> Any:
        try:
            return library.answer(state, question, target=target, history=history,
                                  max_tokens=max_tokens, on_token=on_token, cancel=cancel)
        finally:
            loop.call_soon_threadsafe(pieces.put_nowait, None)

    future, slot = submit(request, job, "model", cancel)

    def chunk(delta: dict[str, Any], reason: str | None = None) -> str:
        return sse({"id": ident, "object": "chat.completion.chunk", "created": created,
                    "model": model, "choices": [{"index": 0, "delta": delta,
                                                 "finish_reason": reason, "logprobs": None}]})

    async def events() -> AsyncIterator[str]:
        deadline = time.monotonic() + server.limits.timeout
        streamed = False
        try:
            yield chunk({"role": "assistant", "content": ""})
            while True:
                left = deadline - time.monotonic()
                try:
                    piece = await asyncio.wait_for(pieces.get(), max(0.0, left))
                except TimeoutError:
                    slot.release()  # the place is free before the client hears why
                    yield sse(error_body(f"The request took longer than "
                                         f"{server.limits.timeout:g} s.", "timeout_error",
                                         "timeout"))
                    return
                if piece is None:
                    break
                if piece:
                    streamed = True
                    yield chunk({"content": piece})
            try:
                answer = await asyncio.wrap_future(future)
            except UserError as exc:
                slot.release()
                yield sse(error_body(str(exc), "invalid_request_error", "cannot_answer"))
                return
            except Exception:
                slot.release()
                log.exception("a streamed answer failed")
                yield sse(error_body(INTERNAL, "server_error", "internal_error"))
                return
            tail = ""
            if answer.grounding not in ("answered", "model_only") or not streamed:
                tail = ("\n\n" if streamed else "") + answer.text
            delta: dict[str, Any] = {"content": tail} if tail else {}
            delta.update(answer_extras(answer), content_final=answer.text)
            yield chunk(delta, finish_reason(answer, max_tokens))
            if with_usage:
                yield sse({"id": ident, "object": "chat.completion.chunk", "created": created,
                           "model": model, "choices": [], "usage": usage(answer)})
            yield "data: [DONE]\n\n"
        finally:
            slot.release()  # at once, whether done or the client went away

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})


def sse(obj: dict[str, Any]) -> str:
    return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n"


INTERNAL = "The server could not answer this request because of an internal error (logged)."


# --- errors, limits, the key -------------------------------------------------------------------

async def on_api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def on_user_error(_request: Request, exc: Exception) -> Response:
    return error_response(ApiError(400, str(exc), code="cannot_answer"))


async def on_http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = {404: "There is no such endpoint.",
               405: "That method is not allowed here."}.get(exc.status_code, "Bad request.")
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
    return error_response(ApiError(exc.status_code, message, code=code))


async def on_bug(_request: Request, exc: Exception) -> Response:
    log.error("internal error", exc_info=exc)
    return error_response(ApiError(500, INTERNAL, type_="server_error", code="internal_error"))


class Guard:
    """ASGI middleware: the key, the loopback host check, and the request log."""

    def __init__(self, app: ASGIApp, server: ServerState) -> None:
        self.app = app
        self.server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        status = [0]

        async def logged_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        refusal = self.refuse(scope)
        try:
            if refusal is not None:
                await error_response(refusal)(scope, receive, logged_send)
            else:
                await self.app(scope, receive, logged_send)
        finally:
            seconds = time.monotonic() - started
            record = RequestRecord(time.time(), scope.get("method", ""), scope.get("path", ""),
                                   status[0], seconds)
            self.server.log.append(record)
            log.info("%s %s %s %.2f s", record.method, record.path, record.status, seconds)

    def refuse(self, scope: Scope) -> ApiError | None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        if self.server.loopback:
            host = headers.get("host", "")
            name = host.rsplit(":", 1)[0] if not host.startswith("[") else \
                host.split("]")[0] + "]"
            if name not in LOOPBACK_HOSTS:
                return ApiError(403, "This server answers only requests made to this computer.",
                                type_="permission_error", code="host_not_allowed")
        key = self.server.api_key
        if key:
            given = headers.get("authorization", "")
            token = given[7:].strip() if given.lower().startswith("bearer ") else ""
            if not hmac.compare_digest(token.encode(), key.encode()):
                return ApiError(401, "A valid API key is needed (Authorization: Bearer KEY).",
                                type_="authentication_error", code="invalid_api_key")
        return None


def guarded(endpoint: Callable[[Request], Awaitable[Response]]
            ) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint whose bugs become a logged 500 in OpenAI's shape, answered cleanly (the
    catch-all handler answers too, but Starlette raises on after it and the connection drops).
    """
    async def run(request: Request) -> Response:
        try:
            return await endpoint(request)
        except (ApiError, UserError, HTTPException):
            raise
        except Exception as exc:
            log.error("internal error", exc_info=exc)
            raise ApiError(500, INTERNAL, type_="server_error", code="internal_error") from None

    return run


def build_app(library: Library, *, api_key: str | None = None, loopback: bool = True,
              limits: Limits | None = None) -> Starlette:
    server = ServerState(library, api_key=api_key or None, loopback=loopback,
                         limits=limits or Limits())
    routes = [
        Route("/v1/models", guarded(list_models), methods=["GET"]),
        Route("/v1/chat/completions", guarded(chat_completions), methods=["POST"]),
        Route("/v1/embeddings", guarded(embeddings), methods=["POST"]),
        Route("/v1/search", guarded(search), methods=["POST"]),
        Route("/v1/passages/{chunk_id}", guarded(passage), methods=["GET"]),
    ]
    app = Starlette(routes=routes, exception_handlers={
        ApiError: on_api_error, UserError: on_user_error, HTTPException: on_http_error,
        Exception: on_bug})
    app.state.server = server
    app.add_middleware(Guard, server=server)
    return app
