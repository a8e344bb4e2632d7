"""The HTTP service: FastAPI routes over one Service. Routes translate HTTP; the Service and the engine decide."""

from __future__ import annotations

import base64
import hmac
import html
import json
import logging
import queue
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from concurrent.futures import Future
from importlib import resources
from typing import Annotated, Any

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.exceptions import HTTPException

from assistant.core.turn import TurnControl
from assistant.core.types import Turn
from assistant.errors import AssistantError, BadInputError, BusyError, NotFoundError, TooLargeError, UnauthorizedError
from assistant.serve.service import Reply, Service

_LOGGER = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

UNEXPECTED = "Something went wrong inside the assistant. Please try again."


class InferRequest(BaseModel):
    """The seed's request: a prompt about a picture, given by path (inside an allowed folder) or inline."""

    prompt: str = Field(description="The question about the picture.")
    image_path: str | None = Field(None, description="A picture on the server, inside a folder given by --allow-dir.")
    image_base64: str | None = Field(None, description="The picture itself, base64-encoded (JPEG, PNG, WebP…).")


class InferReply(BaseModel):
    text: str
    document: Any = Field(None, description="For 'list the prices' or 'extract the fields': the JSON read.")


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
    framing: list[str] = Field([], description="Hints about the picture: too dark, blurred, text cut off…")
    audio_url: str | None = Field(None, description="The spoken answer as a WAV, kept in memory with the session.")
    audio_base64: str | None = Field(None, description="The same WAV inline, when audio_inline was set.")
    settings: SettingsReply = Field(description="The session's settings after this turn.")
    error: str | None = None
    code: str | None = Field(None, description="The error's code, when the turn ended in one.")


class ErrorReply(BaseModel):
    error: str = Field(description="A sentence saying what went wrong and what to do.")
    code: str = Field(description="What went wrong, for programs: one of the codes in assistant/errors.py.")


STATUS = {
    "bad_input": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "too_large": 413,
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


def _error(error: AssistantError) -> JSONResponse:
    headers = {"Retry-After": str(error.retry_after_s)} if isinstance(error, BusyError) else None
    return JSONResponse(
        {"error": error.spoken(), "code": error.code}, status_code=status_of(error.code), headers=headers
    )


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


class Guard:
    """ASGI middleware: the token on every request, and the body's size capped before any route reads it."""

    def __init__(self, app: Callable[..., Awaitable[None]], token: str, max_body: int) -> None:
        self.app = app
        self.token = token.encode()
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.token and not self._authorised(scope):
            reply = _error(
                UnauthorizedError(
                    "This service needs its token: add ?token=… to the address, or an Authorization header."
                )
            )
            await reply(scope, receive, send)
            return
        body, too_large = await self._read_body(scope, receive)
        if too_large:
            megabytes = self.max_body / 1_000_000
            refusal = TooLargeError(f"The request is too large: the most I take is {megabytes:g} MB.")
            await _error(refusal)(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # after the body: wait for the client to leave
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    def _authorised(self, scope: Scope) -> bool:
        headers = {key.decode("latin-1").lower(): value for key, value in scope.get("headers", [])}
        offered = headers.get("x-assistant-token", b"")
        bearer = headers.get("authorization", b"")
        if bearer.lower().startswith(b"bearer "):
            offered = bearer[7:].strip()
        if not offered:
            for pair in scope.get("query_string", b"").split(b"&"):
                name, _, value = pair.partition(b"=")
                if name == b"token":
                    offered = value
        return hmac.compare_digest(offered, self.token)

    async def _read_body(self, scope: Scope, receive: Receive) -> tuple[bytes, bool]:
        headers = dict(scope.get("headers", []))
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_body:
            return b"", True
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return b"", True
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks), False


def _page(token_required: bool) -> str:
    web = resources.files("assistant.serve") / "web"
    page = (web / "index.html").read_text(encoding="utf-8")
    page = page.replace("/*STYLE*/", (web / "app.css").read_text(encoding="utf-8"))
    page = page.replace("/*SCRIPT*/", (web / "app.js").read_text(encoding="utf-8"))
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
    """The routes, behind the token and body-size guard."""
    app = FastAPI(
        title="Assistant",
        description=(
            'An offline assistant that sees and speaks. Every error is a JSON object {"error": sentence, "code": code}.'
        ),
        version="0.1.0",
        docs_url=None,
        redoc_url=None,
    )
    app.add_middleware(Guard, token=token, max_body=int(service.limits.max_body_mb * 1_000_000))

    @app.exception_handler(AssistantError)
    async def assistant_error(request: Request, error: AssistantError) -> JSONResponse:
        return _error(error)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        body = {"error": _plain_validation(list(error.errors())), "code": "invalid_request"}
        return JSONResponse(body, status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        message = "There is nothing here." if error.status_code == 404 else str(error.detail)
        body = {"error": message, "code": "not_found" if error.status_code == 404 else "http"}
        return JSONResponse(body, status_code=error.status_code, headers=getattr(error, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        _LOGGER.error("unexpected error on %s: %r", request.url.path, error, exc_info=True)
        return _error(AssistantError(UNEXPECTED))

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse(_page(bool(token)), headers={"Cache-Control": "no-store"})

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(_docs_page(app.openapi()))

    @app.get("/api/health", summary="Each part's state, and the queue's")
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
    )
    async def infer(request: Request) -> InferReply:
        """`{"image_path", "prompt"}` returns `{"text"}`. The picture may instead come as `image_base64`, or as a
        multipart upload named `image`. Each call is a conversation of its own; nothing is remembered."""
        prompt, image, image_path = await _infer_request(request)
        frame = None
        if image is not None:
            frame = await run_in_threadpool(service.picture, image)
        elif image_path:
            frame = await run_in_threadpool(service.picture_at, image_path)
        future, control = service.infer(prompt, frame)
        turn = await run_in_threadpool(service.wait, future, control)
        if turn.error:
            raise _turn_error(turn)
        return InferReply(text=turn.answer, document=turn.document)

    @app.post(
        "/api/ask",
        response_model=AskReply,
        responses={**_ERRORS, 200: {"content": {"text/event-stream": {}}}},
        summary="A spoken or typed question about a picture, answered with text and speech",
    )
    async def ask(
        request: Request,
        audio: Annotated[UploadFile | None, File(description="The question, spoken: WAV, WebM, Ogg, MP3…")] = None,
        text: Annotated[str | None, Form(description="The question, typed; used instead of audio if both come")] = None,
        image: Annotated[UploadFile | None, File(description="The picture the question is about")] = None,
        session_id: Annotated[str | None, Form(description="Continue this conversation; a new one if absent")] = None,
        detail: Annotated[str | None, Form(description="'brief' or 'detailed' answers from now on")] = None,
        speech_rate: Annotated[float | None, Form(description="Speaking speed, 0.5 to 2.5")] = None,
        audio_inline: Annotated[bool, Form(description="Return the answer's WAV inline as base64")] = False,
    ) -> Any:
        """Multipart: the question (audio and/or text), a picture, and an optional session_id. With
        `Accept: text/event-stream` the answer comes as server-sent events: `transcript`, one `sentence` per
        sentence with its audio, then `done` (or `error`) with the whole reply."""
        audio_data = await audio.read() if audio is not None else None
        image_data = await image.read() if image is not None else None
        question = await run_in_threadpool(service.question, text, audio_data, image_data, detail, speech_rate)
        session = service.session(session_id)
        if "text/event-stream" in request.headers.get("accept", ""):
            events: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
            future, control = service.ask(session, question, lambda name, data: events.put((name, data)))
            return StreamingResponse(
                _event_stream(service, future, control, events, audio_inline),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-store"},
            )
        future, control = service.ask(session, question)
        reply = await run_in_threadpool(service.wait, future, control)
        body = _reply_json(reply, audio_inline)
        status = status_of(reply.turn.error_code or AssistantError.code) if reply.turn.error else 200
        return JSONResponse(body, status_code=status)

    @app.post("/api/sessions/{session_id}/reset", responses=_ERRORS, summary="Forget a session's conversation")
    def reset(session_id: str) -> dict[str, Any]:
        """The session's earlier turns and answers' audio are forgotten; its id stays usable."""
        service.reset(session_id)
        return {"session_id": session_id, "reset": True}

    @app.get(
        "/api/audio/{session_id}/{name}",
        responses={**_ERRORS, 200: {"content": {"audio/wav": {}}}},
        summary="A recent answer's speech, as WAV",
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
        framing=turn.framing,
        audio_url=audio_url,
        audio_base64=base64.b64encode(reply.audio).decode("ascii") if audio_inline and reply.audio else None,
        settings=SettingsReply(speech_rate=reply.settings.speech_rate, detail=reply.settings.detail),
        error=turn.error,
        code=turn.error_code,
    )
    return body.model_dump(exclude_none=True)


def _sse(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _event_stream(
    service: Service,
    future: Future[Reply],
    control: TurnControl,
    events: queue.Queue[tuple[str, dict[str, Any]]],
    audio_inline: bool,
) -> Iterator[str]:
    """Events as the turn produces them, then its reply; Starlette runs this in a worker thread."""
    deadline = time.monotonic() + service.limits.request_timeout_s
    try:
        while not future.done() and time.monotonic() < deadline:
            try:
                yield _sse(*events.get(timeout=0.05))
            except queue.Empty:
                continue
        try:
            reply = service.wait(future, control, timeout_s=0)
        except AssistantError as e:
            yield _sse("error", {"error": e.spoken(), "code": e.code})
            return
        while not events.empty():
            yield _sse(*events.get())
        body = _reply_json(reply, audio_inline)
        yield _sse("error" if reply.turn.error else "done", body)
    finally:
        if not future.done():  # the client left, or the time ran out: stop the turn
            future.cancel()
            control.cancel.set()
