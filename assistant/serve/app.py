"""The HTTP service: FastAPI routes over one Service. Routes translate HTTP; the Service and the engine decide."""

# No `from __future__ import annotations` here: FastAPI reads the annotations of the routes' dependencies, which
# are closures over the service, at run time.

import asyncio
import base64
import collections
import contextlib
import hashlib
import hmac
import html
import json
import logging
import math
import re
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from dataclasses import dataclass
from importlib import resources
from typing import Annotated, Any

from fastapi import Depends, FastAPI, File, Form, Request, Response, Security, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader, APIKeyQuery, HTTPAuthorizationCredentials, HTTPBearer
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel, Field, ValidationError
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import Receive, Scope, Send

from assistant.core.phrases import BOOKS, Phrases, for_text
from assistant.core.turn import TurnControl
from assistant.core.types import Turn
from assistant.errors import (
    AssistantError,
    BadInputError,
    BusyError,
    NotFoundError,
    RateLimitedError,
    TooLargeError,
    UnauthorizedError,
)
from assistant.serve.service import Client, Event, Question, Reply, Service

_LOGGER = logging.getLogger(__name__)

UNEXPECTED = "Something went wrong inside the assistant. Please try again."


class InferRequest(BaseModel):
    """The seed's request: a prompt about a picture, given by path (inside an allowed folder) or inline."""

    prompt: str = Field(description="The question about the picture.")
    image_path: str | None = Field(None, description="A picture on the server, inside a folder given by --allow-dir.")
    image_base64: str | None = Field(None, description="The picture itself, base64-encoded (JPEG, PNG, WebP…).")


class InferReply(BaseModel):
    text: str
    document: Any = Field(None, description="For 'list the prices' or 'extract the fields': the JSON read.")
    unreadable: list[str] | None = Field(None, description="Where the document's values are null, in words.")


class SettingsReply(BaseModel):
    speech_rate: float = Field(description="This session's speaking speed: 1.0 is the voice's own.")
    detail: str = Field(description="'brief' or 'detailed' answers.")


class AskReply(BaseModel):
    session_id: str
    transcript: str
    answer: str
    preset: str | None
    command: str | None
    interrupted: bool
    timings_ms: dict[str, float]
    route: str | None = Field(None, description="What answered: read, document, text, light, colour or scene.")
    text_read: str | None = Field(None, description="The text read in the picture, exactly, when it was read.")
    document: Any = Field(None, description="The document asked for, whole: a list of rows or an object of fields.")
    unreadable: list[str] | None = Field(None, description="Where the document's values are null, in words.")
    framing: list[str] = Field([], description="Hints about the picture: too dark, blurred, text cut off…")
    instant: str | None = Field(None, description="Said at once, before the model's answer: the text in view…")
    unverified: list[str] | None = Field(
        None, description="Numbers, prices, doses, dates and names in the model's answer that were not read."
    )
    image_sha256: str | None = Field(None, description="The sha256 of the picture's copy the model was given.")
    image_tokens: int | None = Field(None, description="The image tokens the model's encoder made of it.")
    prepared: bool | None = Field(
        None, description="Whether the picture sent at the press was taken in before the question came, and used."
    )
    audio_url: str | None = Field(None, description="The spoken answer as a WAV, kept in memory with the session.")
    audio_base64: str | None = Field(None, description="The same WAV inline, when audio_inline was set.")
    settings: SettingsReply = Field(description="The session's settings after this turn.")
    error: str | None = None
    code: str | None = Field(None, description="The error's code, when the turn ended in one.")


class LiveReply(BaseModel):
    session_id: str
    text: str | None = Field(
        None, description="The text new in this picture, one line to a row; none when nothing is new."
    )
    replaces: bool = Field(False, description="Whether it is a new sign: stop saying what was said about the old one.")
    hint: str | None = Field(None, description="Text runs off an edge: which way to move the camera.")
    audio_url: str | None = Field(None, description="The new text spoken, as a WAV kept in memory with the session.")
    audio_base64: str | None = Field(None, description="The same WAV inline.")
    ocr_ms: float = Field(description="How long reading the picture took.")


class ErrorReply(BaseModel):
    error: str = Field(description="A sentence saying what went wrong and what to do.")
    code: str = Field(description="What went wrong, for programs: one of the codes in assistant/errors.py.")


STATUS = {
    "bad_input": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "too_large": 413,
    "rate_limited": 429,
    "busy": 503,
    "timed_out": 504,
    "internal": 500,
}
"""The HTTP status of each error code. Any other code is an error met while answering a question that was taken
(nothing heard, no picture, no vision model…): 422."""
UNANSWERED = 422

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorReply} for status in sorted({*STATUS.values(), UNANSWERED} - {500})
}


def status_of(code: str) -> int:
    return STATUS.get(code, UNANSWERED)


SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",  # the page's address may hold the token
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(self), microphone=(self), geolocation=()",
}
"""On every response. HTML pages get a Content-Security-Policy of their own (_page_policy)."""
_INLINE = re.compile(r"<(script|style)>(.*?)</\1>", re.DOTALL)


def _page_policy(page: str) -> str:
    """A Content-Security-Policy for `page`: its own origin, and its inline script and style by their hashes."""
    hashes: dict[str, list[str]] = {"script": [], "style": []}
    for kind, body in _INLINE.findall(page):
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        hashes[kind].append(f"'sha256-{digest}'")
    return (
        "default-src 'self'; "
        f"script-src 'self' {' '.join(hashes['script'])}; style-src 'self' {' '.join(hashes['style'])}; "
        "img-src 'self' data: blob:; media-src 'self' data: blob:; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
    )


class _Guard:
    """Around the whole app: each client address's requests limited to `per_minute` (429 with Retry-After past
    it), and the security headers on every response, Strict-Transport-Security too over TLS."""

    WINDOW_S = 60.0

    def __init__(self, app: Any, per_minute: int, clock: Callable[[], float]) -> None:
        self.app = app
        self.per_minute = per_minute
        self.clock = clock
        self.recent: dict[str, collections.deque[float]] = {}

    def _retry_after(self, client: str) -> float:
        """0 when the request may go ahead (and it is counted), else the seconds until one may."""
        now = self.clock()
        times = self.recent.setdefault(client, collections.deque())
        while times and times[0] <= now - self.WINDOW_S:
            times.popleft()
        if len(times) >= self.per_minute:
            return times[0] + self.WINDOW_S - now
        times.append(now)
        if len(self.recent) > 10_000:  # forget clients that went quiet, so many addresses cannot fill memory
            self.recent = {c: t for c, t in self.recent.items() if t and t[-1] > now - self.WINDOW_S}
        return 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tls = scope.get("scheme") == "https"

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
                if tls:
                    headers["Strict-Transport-Security"] = "max-age=31536000"
            await send(message)

        client = (scope.get("client") or ("unknown",))[0]
        wait = self._retry_after(client) if self.per_minute > 0 else 0.0
        if wait > 0:
            error = RateLimitedError(
                f"Too many requests from this address: at most {self.per_minute} a minute.", math.ceil(wait)
            )
            await _error(error, _book(Headers(scope=scope)))(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)


def _error(error: AssistantError, book: Phrases = BOOKS["en"]) -> JSONResponse:
    """The error's JSON body, its sentence in the book's language."""
    headers = {"Retry-After": str(error.retry_after_s)} if isinstance(error, BusyError) else None
    return JSONResponse(
        {"error": book.explain(error), "code": error.code}, status_code=status_of(error.code), headers=headers
    )


def _book(headers: Headers, question: str | None = None) -> Phrases:
    """The language to answer in: the question's, when it has words; else the one the client prefers most of
    those the assistant speaks (a browser sends its user's in Accept-Language); else English."""
    if question and question.strip():
        return for_text(question)
    preferred = []
    for position, part in enumerate(headers.get("accept-language", "").split(",")):
        tag, _, weight = part.strip().partition(";q=")
        try:
            preferred.append((-float(weight or 1), position, tag.strip().lower()))
        except ValueError:
            continue
    for _, _, tag in sorted(preferred):
        language = tag.split("-")[0]
        if language in BOOKS:
            return BOOKS[language]
    return BOOKS["en"]


def _turn_error(turn: Turn) -> AssistantError:
    """The error a turn ended in, with its code, to be answered as any other error is."""
    error = AssistantError(turn.error or "")
    error.code = turn.error_code or AssistantError.code
    return error


def _plain_validation(errors: list[Any]) -> str:
    """FastAPI's validation errors as one sentence a person can act on."""
    problems = []
    for error in errors[:3]:
        where = ".".join(str(part) for part in error.get("loc", ()) if part not in {"body", "query", "path"})
        problems.append(f"{where or 'the request'}: {error.get('msg', 'not valid')}")
    return "The request is not valid. " + "; ".join(problems) + "."


def _too_large(max_body: int) -> TooLargeError:
    return TooLargeError(f"The request is too large: the most I take is {max_body / 1_000_000:g} MB.")


_BEARER = HTTPBearer(auto_error=False, scheme_name="bearer", description="The token as `Authorization: Bearer …`.")
_HEADER = APIKeyHeader(
    name="X-Assistant-Token", auto_error=False, scheme_name="header", description="The token in its own header."
)
_QUERY = APIKeyQuery(
    name="token", auto_error=False, scheme_name="query", description="The token in the address, percent-encoded."
)


def _refusal() -> UnauthorizedError:
    return UnauthorizedError("This service needs its token: add ?token=… to the address, or an Authorization header.")


def _offered(bearer: HTTPAuthorizationCredentials | None, header: str | None, query: str | None) -> str:
    return bearer.credentials if bearer is not None else header or query or ""


def _token_check(token: str) -> Callable[..., Any]:
    """A dependency that refuses any request without the service's token, offered in any of three places. It
    documents the three in the OpenAPI document; _Route asks the same before a body is read."""

    async def check(
        bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)],
        header: Annotated[str | None, Security(_HEADER)],
        query: Annotated[str | None, Security(_QUERY)],
    ) -> None:
        if not hmac.compare_digest(_offered(bearer, header, query).encode(), token.encode()):
            raise _refusal()

    return check


class _Route(APIRoute):
    """FastAPI's route, which refuses, with the service's own JSON and before any of the body is read, a request
    without the token and a body whose Content-Length is over the route's limit. FastAPI reads the body before it
    runs the token's dependency; and when the Content-Length already says too much, Starlette answers in plain text
    before any handler can (a body that turns out too large as it is read reaches the exception handlers)."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = getattr(scope["app"].state, "token", "")
        if token:
            request = Request(scope)
            offered = _offered(await _BEARER(request), await _HEADER(request), await _QUERY(request))
            if not hmac.compare_digest(offered.encode(), token.encode()):
                await _error(_refusal(), _book(request.headers))(scope, receive, send)
                return
        declared = Headers(scope=scope).get("content-length", "")
        if self.max_body_size is not None and declared.isdigit() and int(declared) > self.max_body_size:
            await _error(_too_large(self.max_body_size), _book(Headers(scope=scope)))(scope, receive, send)
            return
        await super().handle(scope, receive, send)


def _wants_events(scope: Scope) -> bool:
    return "text/event-stream" in Headers(scope=scope).get("accept", "")


class _EventStreamRoute(_Route):
    """A route that takes only requests accepting server-sent events: FastAPI streams events from a path operation
    that yields them, and answers JSON from one that returns, so one URL that does both is two routes."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or not _wants_events(scope):
            return Match.NONE, {}
        return super().matches(scope)


class _Handoff:
    """A turn's events, handed from the worker thread to the event loop as they come, then None when it ends."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._events: asyncio.Queue[Event | None] = asyncio.Queue()

    def put(self, name: str, data: dict[str, Any]) -> None:
        self._hand((name, data))

    def end(self, future: Future[Any]) -> None:
        self._hand(None)

    def _hand(self, item: Event | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is listening any more
            self._loop.call_soon_threadsafe(self._events.put_nowait, item)

    async def next(self, deadline: float) -> Event | None:
        """The next event, waiting as long as it takes up to `deadline` (the loop's clock); TimeoutError after."""
        async with asyncio.timeout_at(deadline):
            return await self._events.get()


@dataclass
class _Asked:
    """POST /api/ask's form, decoded and checked."""

    session: Client
    question: Question
    audio_inline: bool
    book: Phrases
    """The language its errors are told in, until its question is heard."""


@dataclass
class _Streamed:
    """A turn taken by the worker, whose events the reply streams."""

    future: Future[Reply]
    control: TurnControl
    handoff: _Handoff
    deadline: float
    audio_inline: bool
    book: Phrases


def _html(page: str) -> HTMLResponse:
    return HTMLResponse(page, headers={"Cache-Control": "no-store", "Content-Security-Policy": _page_policy(page)})


_PLACE = re.compile(r"\{\{(\w+)\}\}")


def _page(token_required: bool, language: str = "en") -> str:
    """The page in `language`: its words from web/strings.<language>.json, in the HTML and for its script."""
    web = resources.files("assistant.serve") / "web"
    strings = json.loads((web / f"strings.{language}.json").read_text(encoding="utf-8"))
    page = (web / "index.html").read_text(encoding="utf-8")
    page = _PLACE.sub(lambda found: html.escape(strings[found.group(1)]), page)
    page = page.replace("/*STYLE*/", (web / "app.css").read_text(encoding="utf-8"))
    page = page.replace("/*SCRIPT*/", (web / "app.js").read_text(encoding="utf-8"))
    script_strings = json.dumps(strings, ensure_ascii=False).replace("</", "<\\/")
    page = page.replace("__STRINGS__", script_strings)
    return page.replace("__TOKEN_REQUIRED__", "true" if token_required else "false")


def _docs_page(schema: dict[str, Any]) -> str:
    """The API described as plain, accessible HTML, with no scripts from elsewhere."""
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Assistant API</title>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        "<style>body{font:1.1rem/1.5 system-ui,sans-serif;max-width:50rem;margin:1rem auto;padding:0 1rem}"
        "code{background:#eee;padding:0 .2em}</style></head><body><main>",
        "<h1>Assistant API</h1><p>The machine-readable schema is at <a href='/openapi.json'>/openapi.json</a>.</p>",
    ]
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            parts.append(f"<h2><code>{method.upper()} {html.escape(path)}</code></h2>")
            parts.append(f"<p>{html.escape(operation.get('description') or operation.get('summary', ''))}</p>")
            codes = ", ".join(sorted(operation.get("responses", {})))
            parts.append(f"<p>Answers with status {codes}.</p>")
    parts.append("</main></body></html>")
    return "".join(parts)


def create_app(service: Service, token: str = "") -> FastAPI:
    """The routes; with a token, every one of them needs it. Every route caps the request's body."""
    max_body = int(service.limits.max_body_mb * 1_000_000)
    app = FastAPI(
        title="Assistant",
        description=(
            'An offline assistant that sees and speaks. Every error is a JSON object {"error": sentence, "code": code}.'
        ),
        version="0.1.0",
        openapi_url=None,  # served below, as a route, so that it needs the token too
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(_token_check(token))] if token else None,
    )
    # The body's limit is set on each route rather than on the app: Starlette's app-wide limit answers a
    # Content-Length over it in plain text, past every handler; a route's limit lets _Route answer first.
    app.router.route_class = _Route
    app.state.token = token
    app.add_middleware(_Guard, per_minute=service.limits.requests_per_minute, clock=service.clock)
    if service.limits.allowed_origins:  # closed by default: no other page may read the API's answers
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(service.limits.allowed_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "X-Assistant-Token", "Content-Type", "Accept"],
        )

    @app.exception_handler(AssistantError)
    async def assistant_error(request: Request, error: AssistantError) -> JSONResponse:
        return _error(error, _book(request.headers, getattr(request.state, "question", None)))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        body = {"error": _plain_validation(list(error.errors())), "code": "invalid_request"}
        return JSONResponse(body, status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        if error.status_code == 413:  # FastAPI's body limit, met while reading
            return _error(_too_large(max_body), _book(request.headers))
        message = "There is nothing here." if error.status_code == 404 else str(error.detail)
        body = {"error": message, "code": "not_found" if error.status_code == 404 else "http"}
        return JSONResponse(body, status_code=error.status_code, headers=getattr(error, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        _LOGGER.error("unexpected error on %s: %r", request.url.path, error, exc_info=True)
        return _error(AssistantError(UNEXPECTED), _book(request.headers, getattr(request.state, "question", None)))

    @app.get("/", response_class=HTMLResponse, include_in_schema=False, max_body_size=max_body)
    def page(request: Request, lang: str | None = None) -> HTMLResponse:
        """In the language asked for with ?lang=en or ?lang=zh, else the one the browser prefers."""
        language = lang if lang in BOOKS else _book(request.headers).language
        return _html(_page(bool(token), language))

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False, max_body_size=max_body)
    def docs() -> HTMLResponse:
        return _html(_docs_page(app.openapi()))

    @app.get("/openapi.json", include_in_schema=False, max_body_size=max_body)
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/api/health", summary="Each part's state, and the queue's", max_body_size=max_body)
    def health() -> dict[str, Any]:
        """Whether speech recognition, speech and the vision model are loaded, and how many requests wait."""
        return service.health()

    @app.post(
        "/infer",
        response_model=InferReply,
        response_model_exclude_none=True,
        responses=_ERRORS,
        summary="The seed's API: a prompt about a picture, answered as text",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": InferRequest.model_json_schema()},
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "required": ["prompt"],
                            "properties": {
                                "prompt": {"type": "string"},
                                "image": {"type": "string", "format": "binary"},
                            },
                        }
                    },
                },
            }
        },
        max_body_size=max_body,
    )
    async def infer(request: Request) -> InferReply:
        """`{"image_path", "prompt"}` returns `{"text"}`. The picture may instead come as `image_base64`, or as a
        multipart upload named `image`. Each call is a conversation of its own; nothing is remembered."""
        prompt, image, image_path = await _infer_request(request)
        request.state.question = prompt
        frame = None
        if image is not None:
            frame = await run_in_threadpool(service.picture, image)
        elif image_path:
            frame = await run_in_threadpool(service.picture_at, image_path)
        future, control = service.infer(prompt, frame)
        turn = await run_in_threadpool(service.wait, future, control)
        if turn.error:
            raise _turn_error(turn)
        return InferReply(text=turn.answer, document=turn.document, unreadable=turn.unreadable or None)

    async def ask_form(
        request: Request,
        audio: Annotated[UploadFile | None, File(description="The question, spoken: WAV, WebM, Ogg, MP3…")] = None,
        text: Annotated[str | None, Form(description="The question, typed; used instead of audio if both come")] = None,
        image: Annotated[UploadFile | None, File(description="The picture the question is about")] = None,
        session_id: Annotated[str | None, Form(description="Continue this conversation; a new one if absent")] = None,
        detail: Annotated[str | None, Form(description="'brief' or 'detailed' answers from now on")] = None,
        speech_rate: Annotated[float | None, Form(description="Speaking speed, 0.5 to 2.5")] = None,
        audio_inline: Annotated[bool, Form(description="Return the answer's WAV inline as base64")] = False,
    ) -> _Asked:
        """POST /api/ask's form, decoded and checked: a BadInputError says what is wrong."""
        request.state.question = text
        audio_data = await audio.read() if audio is not None else None
        image_data = await image.read() if image is not None else None
        question = await run_in_threadpool(service.question, text, audio_data, image_data, detail, speech_rate)
        client = service.session(session_id)
        return _Asked(client, question, audio_inline, _book(request.headers, text) if text else client.session.book)

    async def streamed(asked: Annotated[_Asked, Depends(ask_form)], response: Response) -> AsyncIterator[_Streamed]:
        """The turn, queued before the stream begins (so that a full queue is still a 503), and stopped if the
        request ends before it does: the client left, or the time ran out."""
        handoff = _Handoff()
        future, control = service.ask(asked.session, asked.question, handoff.put)
        future.add_done_callback(handoff.end)
        response.headers["Cache-Control"] = "no-store"
        deadline = asyncio.get_running_loop().time() + service.limits.request_timeout_s
        try:
            yield _Streamed(future, control, handoff, deadline, asked.audio_inline, asked.book)
        finally:
            if not future.done():
                future.cancel()
                control.cancel.set()

    async def ask_events(turn: Annotated[_Streamed, Depends(streamed)]) -> AsyncIterator[ServerSentEvent]:
        """POST /api/ask with `Accept: text/event-stream`."""
        async for event in _events(service, turn):
            yield event

    app.router.add_api_route(
        "/api/ask",
        ask_events,
        methods=["POST"],
        response_class=EventSourceResponse,
        include_in_schema=False,  # described with the JSON route below, whose URL it shares
        route_class_override=_EventStreamRoute,
        max_body_size=max_body,
    )

    @app.post(
        "/api/ask",
        response_model=AskReply,
        responses={**_ERRORS, 200: {"content": {"text/event-stream": {}}}},
        summary="A spoken or typed question about a picture, answered with text and speech",
        max_body_size=max_body,
    )
    async def ask(asked: Annotated[_Asked, Depends(ask_form)]) -> Any:
        """Multipart: the question (audio and/or text), a picture, and an optional session_id. With
        `Accept: text/event-stream` the answer comes as server-sent events: `transcript`, one `sentence` per
        sentence with its audio, then `done` (or `error`) with the whole reply."""
        future, control = service.ask(asked.session, asked.question)
        reply = await run_in_threadpool(service.wait, future, control)
        body = _reply_json(reply, asked.audio_inline)
        status = status_of(reply.turn.error_code or AssistantError.code) if reply.turn.error else 200
        return JSONResponse(body, status_code=status)

    @app.post(
        "/api/sessions/{session_id}/reset",
        responses=_ERRORS,
        summary="Forget a session's conversation",
        max_body_size=max_body,
    )
    def reset(session_id: str) -> dict[str, Any]:
        """The session's earlier turns and answers' audio are forgotten; its id stays usable."""
        service.reset(session_id)
        return {"session_id": session_id, "reset": True}

    @app.post(
        "/api/sessions/{session_id}/frame",
        status_code=202,
        responses=_ERRORS,
        summary="The picture for the session's next question, sent when the talk button goes down",
        max_body_size=max_body,
    )
    async def frame(
        session_id: str,
        image: Annotated[UploadFile, File(description="The picture the coming question will be about")],
    ) -> dict[str, Any]:
        """The service takes the picture in while the person is still speaking, so that the answer need not wait
        for it. The next question of this session uses it when it brings no picture, or one of the same view;
        a session id not seen before starts a session."""
        picture = await run_in_threadpool(service.picture, await image.read())
        client = service.session(session_id)
        service.prepare(client, picture)
        return {"session_id": client.id, "preparing": True}

    @app.post(
        "/api/sessions/{session_id}/live",
        response_model=LiveReply,
        response_model_exclude_none=True,
        responses=_ERRORS,
        summary="One picture of live reading: the text new in it, spoken",
        max_body_size=max_body,
    )
    async def live_picture(
        session_id: str,
        image: Annotated[UploadFile, File(description="The camera's picture now")],
        restart: Annotated[
            bool, Form(description="The first picture of a new live reading: forget what was said")
        ] = False,
        speech_rate: Annotated[float | None, Form(description="Speaking speed, 0.5 to 2.5")] = None,
    ) -> dict[str, Any]:
        """Text is read as it comes into view: each new text once while it stays, a new sign in place of the old,
        with a hint when it runs off an edge. The page sends a picture a second while live reading is on; a
        session id not seen before starts a session."""
        picture = await run_in_threadpool(service.picture, await image.read())
        client = service.session(session_id)
        news = await run_in_threadpool(service.read_live, client, picture, restart, speech_rate)
        return {
            "session_id": news.session_id,
            "text": news.text,
            "replaces": news.replaces,
            "hint": news.hint or None,
            "audio_url": f"/api/audio/{news.session_id}/{news.audio_name}" if news.audio_name else None,
            "audio_base64": base64.b64encode(news.audio).decode("ascii") if news.audio else None,
            "ocr_ms": round(news.ocr_ms, 1),
        }

    @app.get(
        "/api/audio/{session_id}/{name}",
        responses={**_ERRORS, 200: {"content": {"audio/wav": {}}}},
        summary="A recent answer's speech, as WAV",
        max_body_size=max_body,
    )
    def audio_file(session_id: str, name: str) -> Response:
        """The spoken answers of a session's latest turns, kept in memory only."""
        data = service.existing(session_id).audio.get(name)
        if data is None:
            raise NotFoundError("That answer's audio is no longer kept.")
        return Response(data, media_type="audio/wav", headers={"Cache-Control": "no-store"})

    return app


async def _infer_request(request: Request) -> tuple[str, bytes | None, str | None]:
    """prompt, picture bytes and image_path, from a JSON body or a multipart form."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        async with request.form() as form:
            prompt, upload = form.get("prompt"), form.get("image")
            if not isinstance(prompt, str):
                raise BadInputError("The form needs a text field named prompt.")
            image = await upload.read() if upload is not None and not isinstance(upload, str) else None
        return prompt, image, None
    try:
        body = InferRequest.model_validate_json(await request.body())
    except ValidationError as e:
        raise BadInputError(_plain_validation(list(e.errors()))) from e
    image = None
    if body.image_base64 is not None:
        try:
            image = base64.b64decode(body.image_base64, validate=True)
        except ValueError as e:
            raise BadInputError("image_base64 is not valid base64.") from e
    return body.prompt, image, body.image_path


def _reply_json(reply: Reply, audio_inline: bool) -> dict[str, Any]:
    turn = reply.turn
    audio_url = f"/api/audio/{reply.session_id}/{reply.audio_name}" if reply.audio_name else None
    body = AskReply(
        session_id=reply.session_id,
        transcript=turn.transcript,
        answer=turn.answer,
        preset=turn.preset,
        command=turn.command,
        interrupted=turn.interrupted,
        timings_ms={name: round(ms, 1) for name, ms in turn.timings_ms.items()},
        route=turn.route,
        text_read=turn.text_read,
        document=turn.document,
        unreadable=turn.unreadable or None,
        framing=turn.framing,
        instant=turn.instant,
        unverified=turn.unverified or None,
        image_sha256=turn.image_sha256,
        image_tokens=turn.image_tokens,
        prepared=turn.prepared,
        audio_url=audio_url,
        audio_base64=base64.b64encode(reply.audio).decode("ascii") if audio_inline and reply.audio else None,
        settings=SettingsReply(speech_rate=reply.settings.speech_rate, detail=reply.settings.detail),
        error=turn.error,
        code=turn.error_code,
    )
    return body.model_dump(exclude_none=True)


async def _events(service: Service, turn: _Streamed) -> AsyncIterator[ServerSentEvent]:
    """The turn's events as it produces them, then `done` or `error` with its reply. Past the time allowed, the turn
    is stopped and the last event says so."""
    try:
        while (event := await turn.handoff.next(turn.deadline)) is not None:
            yield ServerSentEvent(event=event[0], data=event[1])
        reply = service.wait(turn.future, turn.control, timeout_s=0)  # it has ended: at once
    except TimeoutError:
        error: AssistantError = service.give_up(turn.future, turn.control, service.limits.request_timeout_s)
    except AssistantError as e:
        error = e
    except Exception as e:  # the stream has begun: the client hears of it as an event, not as a 500
        _LOGGER.error("unexpected error in a streamed turn: %r", e, exc_info=True)
        error = AssistantError(UNEXPECTED)
    else:
        body = _reply_json(reply, turn.audio_inline)
        yield ServerSentEvent(event="error" if reply.turn.error else "done", data=body)
        return
    yield ServerSentEvent(event="error", data={"error": turn.book.explain(error), "code": error.code})
