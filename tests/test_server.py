"""The HTTP service through FastAPI's test client, on the real whisper, Piper and tiny VLM."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import io
import json
import os
import re
import socket
import subprocess
import threading
import time
import urllib.request
import wave
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import av
import cv2
import httpx
import numpy as np
import pytest
import uvicorn
from conftest import QUESTION
from fastapi.testclient import TestClient
from helpers import free_port, normalise, running_service, scene
from renders import render

from assistant.cli.main import main
from assistant.config import Config
from assistant.core.phrases import BOOKS
from assistant.core.turn import TurnControl
from assistant.hear.audio import decode_audio_bytes
from assistant.serve.app import create_app, status_of
from assistant.serve.service import Service

PROJECT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def pictures(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("allowed")
    cv2.imwrite(str(folder / "scene.png"), scene(1))
    return folder


@pytest.fixture(scope="module")
def base_config(stack_config: Config, pictures: Path) -> Config:
    return stack_config.with_overrides(
        {
            "server.allowed_dirs": (str(pictures),),
            "server.max_image_pixels": 2_000_000,
            "server.max_audio_s": 10.0,
            "server.max_body_mb": 2.0,
        }
    )


@pytest.fixture(scope="module")
def service(base_config: Config) -> Iterator[Service]:
    with running_service(base_config) as service:
        yield service


@pytest.fixture(scope="module")
def client(service: Service) -> TestClient:
    return TestClient(create_app(service))


def jpeg(index: int = 0) -> bytes:
    ok, data = cv2.imencode(".jpg", scene(index))
    assert ok
    return data.tobytes()


def webm_opus(wav: Path) -> bytes:
    """The question as a browser's MediaRecorder sends it: Opus in WebM, encoded by PyAV."""
    with wave.open(str(wav), "rb") as reader:
        rate = reader.getframerate()
        samples = np.frombuffer(reader.readframes(reader.getnframes()), "<i2")
    out = io.BytesIO()
    with av.open(out, "w", format="webm") as container:
        stream = container.add_stream("libopus", rate=48000)
        frame = av.AudioFrame.from_ndarray(samples[None, :], format="s16", layout="mono")
        frame.sample_rate = rate
        resampler = av.AudioResampler(format="s16", layout="mono", rate=48000)
        for part in [*resampler.resample(frame), *resampler.resample(None)]:
            for packet in stream.encode(part):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out.getvalue()


def wav_seconds(data: bytes) -> float:
    with wave.open(io.BytesIO(data), "rb") as reader:
        return reader.getnframes() / reader.getframerate()


def events(text: str) -> list[tuple[str, dict]]:  # type: ignore[type-arg]
    found = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        found.append((lines["event"], json.loads(lines["data"])))
    return found


def test_health_reports_each_part(client: TestClient) -> None:
    health = client.get("/api/health").json()
    assert health["status"] == "ok"
    assert {name: part["state"] for name, part in health["parts"].items()} == {
        "speech_recognition": "ready",
        "speech": "ready",
        "vision": "ready",
        "text_reading": "ready",
    }
    assert health["queue"] == {"waiting": 0, "capacity": 4}


def test_spoken_question_in_webm_goes_through_whisper(client: TestClient, question_wav: Path) -> None:
    reply = client.post(
        "/api/ask",
        files={"audio": ("q.webm", webm_opus(question_wav), "audio/webm"), "image": ("p.jpg", jpeg(), "image/jpeg")},
    )
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert normalise(body["transcript"]) == normalise(QUESTION)
    assert body["answer"] and body["preset"] == "describe"
    assert {"stt", "vlm_first_token", "first_audio"} <= set(body["timings_ms"])
    audio = client.get(body["audio_url"])
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/wav"
    assert wav_seconds(audio.content) > 0.3


def test_typed_question_with_inline_audio(client: TestClient) -> None:
    reply = client.post(
        "/api/ask",
        data={"text": "Read the sign.", "audio_inline": "true"},
        files={"image": ("p.png", cv2.imencode(".png", scene(2))[1].tobytes(), "image/png")},
    )
    body = reply.json()
    assert reply.status_code == 200 and body["transcript"] == "Read the sign."
    inline = base64.b64decode(body["audio_base64"])
    assert inline == client.get(body["audio_url"]).content


def test_sse_streams_transcript_sentences_then_done(client: TestClient) -> None:
    reply = client.post(
        "/api/ask",
        data={"text": "What is in front of me?"},
        files={"image": ("p.jpg", jpeg(), "image/jpeg")},
        headers={"Accept": "text/event-stream"},
    )
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/event-stream")
    stream = events(reply.text)
    names = [name for name, _ in stream]
    assert names[0] == "transcript" and names[-1] == "done"
    assert set(names[1:-1]) == {"sentence"}, names
    sentences = [data for name, data in stream if name == "sentence"]
    assert all(wav_seconds(base64.b64decode(s["audio_base64"])) > 0.1 for s in sentences)
    assert sentences and all(s["text"] for s in sentences)
    assert stream[-1][1]["answer"] and stream[-1][1]["session_id"]


def test_sse_is_written_as_event_and_data_lines_and_not_stored(client: TestClient) -> None:
    stream_headers = {"Accept": "text/event-stream"}
    reply = client.post("/api/ask", data={"text": "What can I say?"}, headers=stream_headers)
    assert reply.status_code == 200 and "no-store" in reply.headers["cache-control"]
    blocks = reply.text.strip().split("\n\n")
    assert all(re.fullmatch(r"event: (transcript|sentence|done)\ndata: \{.*\}", block) for block in blocks), blocks
    assert blocks[0] == 'event: transcript\ndata: {"text": "What can I say?"}'
    assert blocks[-1].startswith("event: done\n")


def test_sse_turn_that_ends_in_an_error_sends_error_with_the_whole_reply(client: TestClient, silent_wav: Path) -> None:
    reply = client.post(
        "/api/ask",
        files={"audio": ("q.wav", silent_wav.read_bytes(), "audio/wav")},
        headers={"Accept": "text/event-stream"},
    )
    assert reply.status_code == 200
    name, body = events(reply.text)[-1]
    assert name == "error" and body["error"] == "I didn't hear a question." and body["code"] == "nothing_heard"
    assert body["session_id"] and wav_seconds(client.get(body["audio_url"]).content) > 0.3


def test_sse_refusals_before_the_turn_are_json_with_their_status(service: Service) -> None:
    stream_headers = {"Accept": "text/event-stream"}
    with blocked(service, max_queue=1, timeout_s=5) as (busy, client):
        bad = client.post("/api/ask", data={"text": "Hi", "detail": "verbose"}, headers=stream_headers)
        assert bad.status_code == 400 and bad.json()["code"] == "bad_input"
        busy.submit(lambda control: None)  # fills the queue
        full = client.post("/api/ask", data={"text": "What is it?"}, headers=stream_headers)
        assert full.status_code == 503 and full.json()["code"] == "busy"
        assert int(full.headers["retry-after"]) >= 1


def recording_turns(service: Service, monkeypatch: pytest.MonkeyPatch) -> list[Future[Any]]:
    """The futures of the turns the service is asked for, from now on."""
    futures: list[Future[Any]] = []
    ask = service.ask

    def recorded(*args: Any, **kwargs: Any) -> Any:
        future, control = ask(*args, **kwargs)
        futures.append(future)
        return future, control

    monkeypatch.setattr(service, "ask", recorded)
    return futures


def test_sse_past_its_time_ends_with_an_error_event_and_stops_the_turn(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    with blocked(service, max_queue=2, timeout_s=0.3) as (held, client):
        turns = recording_turns(held, monkeypatch)
        reply = client.post("/api/ask", data={"text": "What is it?"}, headers={"Accept": "text/event-stream"})
        assert reply.status_code == 200
        error = {"error": "The answer took longer than 0.3 seconds, so I stopped it.", "code": "timed_out"}
        assert events(reply.text) == [("error", error)]
        assert len(turns) == 1 and turns[0].cancelled()


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """The app behind a real uvicorn, for what the test client cannot do: leave early. The socket listens before
    uvicorn starts, so a request made at once waits in its backlog."""
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{listening.getsockname()[1]}"
        finally:
            server.should_exit = True
            thread.join(10)


def test_a_client_that_leaves_the_stream_stops_its_turn(service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    with blocked(service, max_queue=2, timeout_s=30) as (held, _), serving(create_app(held)) as url:
        turns = recording_turns(held, monkeypatch)
        question, accept = {"text": "What is it?"}, {"Accept": "text/event-stream"}
        with httpx.stream("POST", f"{url}/api/ask", data=question, headers=accept, timeout=10) as reply:
            assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/event-stream")
        # the connection is closed with the turn still waiting behind the held worker
        assert len(turns) == 1
        stopped = threading.Event()
        turns[0].add_done_callback(lambda future: stopped.set())
        assert stopped.wait(10) and turns[0].cancelled()


def test_sessions_remember_only_their_own_turns(client: TestClient, service: Service) -> None:
    picture = {"image": ("p.jpg", jpeg(), "image/jpeg")}
    first = client.post("/api/ask", data={"text": "What is on the table?"}, files=picture).json()
    session = first["session_id"]
    client.post("/api/ask", data={"text": "Is it red?", "session_id": session})
    other = client.post("/api/ask", data={"text": "Where am I?"}, files=picture).json()
    assert other["session_id"] != session

    def questions(session_id: str) -> list[str]:
        # what the model was told before each question (the text already said) is left out
        return [e.question.split("\n\n")[-1] for e in service.sessions[session_id].session.conversation.exchanges]

    assert questions(session) == ["What is on the table?", "Is it red?"]
    assert questions(other["session_id"]) == ["Where am I?"]

    assert client.post(f"/api/sessions/{session}/reset").json() == {"session_id": session, "reset": True}
    assert questions(session) == []
    assert client.get(first["audio_url"]).status_code == 404
    assert questions(other["session_id"]) == ["Where am I?"]


@pytest.mark.slow
def test_one_sessions_slower_leaves_another_at_the_default_rate(client: TestClient, base_config: Config) -> None:
    default = base_config.tts.speech_rate
    slowed = client.post("/api/ask", data={"text": "Slower."}).json()
    assert slowed["command"] == "slower"
    assert slowed["settings"] == {"speech_rate": default - 0.25, "detail": "detailed"}
    again = client.post("/api/ask", data={"text": "Slower.", "session_id": slowed["session_id"]}).json()
    assert again["settings"]["speech_rate"] == default - 0.5, "a session keeps its own rate"
    other = client.post("/api/ask", data={"text": "What can I say?"}).json()
    assert other["session_id"] != slowed["session_id"]
    assert other["settings"] == {"speech_rate": default, "detail": "detailed"}, "a new session starts at the default"
    brief = client.post("/api/ask", data={"text": "Shorter.", "session_id": other["session_id"]}).json()
    assert brief["settings"] == {"speech_rate": default, "detail": "brief"}
    assert client.post("/api/ask", data={"text": "Help"}).json()["settings"]["detail"] == "detailed"


def test_sessions_expire_when_idle(base_config: Config, service: Service) -> None:
    now = [0.0]
    short = Service(service.engine, base_config.server, clock=lambda: now[0])
    first = short.session("kitchen")
    assert short.session("kitchen") is first
    now[0] += base_config.server.session_idle_s + 1
    assert short.session("kitchen") is not first


def test_infer_is_seed_compatible(client: TestClient, pictures: Path) -> None:
    reply = client.post("/infer", json={"image_path": str(pictures / "scene.png"), "prompt": "What is this?"})
    assert reply.status_code == 200, reply.text
    assert list(reply.json()) == ["text"] and reply.json()["text"]
    inline = {"image_base64": base64.b64encode(jpeg()).decode(), "prompt": "What is this?"}
    assert client.post("/infer", json=inline).status_code == 200
    upload = client.post("/infer", data={"prompt": "What is this?"}, files={"image": ("p.jpg", jpeg(), "image/jpeg")})
    assert upload.status_code == 200 and upload.json()["text"]


def test_infer_refuses_paths_outside_the_allowed_folders(client: TestClient, pictures: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.png"
    cv2.imwrite(str(outside), scene(3))
    link = pictures / "link.png"
    link.symlink_to(outside)
    try:
        escapes = [str(pictures / ".." / outside.parent.name / "outside.png"), str(outside), str(link), "/etc/passwd"]
        escapes.append(os.path.relpath(outside))
        for path in escapes:
            reply = client.post("/infer", json={"image_path": path, "prompt": "What is this?"})
            assert reply.status_code == 403, (path, reply.text)
            assert "outside the folders" in reply.json()["error"]
    finally:
        link.unlink()
    missing = client.post("/infer", json={"image_path": str(pictures / "none.png"), "prompt": "What?"})
    assert missing.status_code == 404


def _not_image() -> dict[str, Any]:
    return {"image": ("p.jpg", b"this is not a picture", "image/jpeg")}


def _huge_image() -> dict[str, Any]:
    return {"image": ("h.png", cv2.imencode(".png", np.zeros((1500, 1500, 3), np.uint8))[1].tobytes())}


def _inline(prompt: str, image_base64: str | None = None) -> dict[str, Any]:
    return {
        "prompt": prompt,
        "image_base64": base64.b64encode(jpeg()).decode() if image_base64 is None else image_base64,
    }


Call = Callable[[TestClient, Path], Any]
BAD_INPUT = [
    pytest.param(
        lambda c, wav: c.post("/api/ask", data={"text": "What is it?"}, files=_not_image()),
        400,
        "not an image",
        "bad_input",
        id="picture-not-an-image",
    ),
    pytest.param(
        lambda c, wav: c.post("/api/ask", files={"audio": ("q.wav", b"RIFF....garbage", "audio/wav")}),
        400,
        "not audio",
        "bad_input",
        id="recording-not-audio",
    ),
    pytest.param(lambda c, wav: c.post("/api/ask", data={"text": "   "}), 400, "no question", "bad_input", id="blank"),
    pytest.param(
        lambda c, wav: c.post("/api/ask", data={"text": "Hi", "session_id": "../../etc"}),
        400,
        "session_id",
        "bad_input",
        id="session-id-a-path",
    ),
    pytest.param(
        lambda c, wav: c.post("/api/ask", data={"text": "Hi", "detail": "verbose"}),
        400,
        "brief",
        "bad_input",
        id="detail-unknown",
    ),
    pytest.param(
        lambda c, wav: c.post("/api/ask", data={"text": "Hi", "speech_rate": "9"}),
        400,
        "speech_rate",
        "bad_input",
        id="speech-rate-out-of-range",
    ),
    pytest.param(
        lambda c, wav: c.post("/api/ask", data={"text": "Hi", "speech_rate": "fast"}),
        422,
        "speech_rate",
        "invalid_request",
        id="speech-rate-not-a-number",
    ),
    pytest.param(lambda c, wav: c.post("/infer", json=_inline("")), 400, "empty", "bad_input", id="infer-empty-prompt"),
    pytest.param(
        lambda c, wav: c.post("/infer", json=_inline("Hi", "%%%")), 400, "base64", "bad_input", id="infer-bad-base64"
    ),
    pytest.param(
        lambda c, wav: c.post("/infer", content=b"[1, 2", headers={"content-type": "application/json"}),
        400,
        "not valid",
        "bad_input",
        id="infer-broken-json",
    ),
    pytest.param(
        lambda c, wav: c.post("/infer", json={"prompt": "x" * 3_000_000}),
        413,
        "too large",
        "too_large",
        id="body-over-the-cap",
    ),
    pytest.param(
        lambda c, wav: c.post("/api/ask", data={"text": "What?"}, files=_huge_image()),
        413,
        "too large",
        "too_large",
        id="picture-over-the-pixel-cap",
    ),
    pytest.param(
        lambda c, wav: c.post("/api/sessions/nobody/reset"), 404, "no such session", "not_found", id="no-such-session"
    ),
    pytest.param(lambda c, wav: c.get("/api/nothing-here"), 404, "nothing here", "not_found", id="no-such-route"),
    pytest.param(
        lambda c, wav: c.post("/api/ask", data={"text": "Hi"}, files={"audio": ("q.wav", wav.read_bytes())}),
        200,
        "",
        None,
        id="typed-text-wins-over-silence",
    ),
]


@pytest.mark.parametrize(("call", "status", "words", "code"), BAD_INPUT)
def test_bad_input_gets_a_sentence_and_never_a_500(
    client: TestClient, silent_wav: Path, call: Call, status: int, words: str, code: str | None
) -> None:
    reply = call(client, silent_wav)
    assert reply.status_code == status, (status, reply.text)
    body = reply.json()
    if words:
        assert words in body["error"].lower(), body
    assert body.get("code") == code, body
    if code is not None:
        assert status_of(code) == status, "the status comes from the one table"


def test_a_question_with_nothing_heard_is_a_422_with_speech(client: TestClient, silent_wav: Path) -> None:
    reply = client.post("/api/ask", files={"audio": ("q.wav", silent_wav.read_bytes(), "audio/wav")})
    assert reply.status_code == 422
    body = reply.json()
    assert body["error"] == "I didn't hear a question."
    assert wav_seconds(client.get(body["audio_url"]).content) > 0.3


@pytest.mark.slow
def test_a_recording_over_the_cap_is_refused(client: TestClient, speak: Callable[..., Path]) -> None:
    long = speak("This question goes on and on. " * 8, "long.wav")
    reply = client.post("/api/ask", files={"audio": ("long.wav", long.read_bytes(), "audio/wav")})
    assert reply.status_code == 413
    assert "seconds long" in reply.json()["error"]


@contextmanager
def blocked(service: Service, max_queue: int, timeout_s: float) -> Iterator[tuple[Service, TestClient]]:
    """A service over the same models whose one worker is held by an earlier job until the block ends."""
    limits = dataclasses.replace(service.limits, max_queue=max_queue, request_timeout_s=timeout_s)
    held = Service(service.engine, limits)
    held.start()
    gate, taken = threading.Event(), threading.Event()

    def hold(control: TurnControl) -> None:
        taken.set()
        gate.wait(10)

    try:
        held.submit(hold)
        assert taken.wait(10), "the worker took the holding job"
        yield held, TestClient(create_app(held))
    finally:
        gate.set()
        held.stop()


def test_a_full_queue_answers_503_with_retry_after(service: Service) -> None:
    with blocked(service, max_queue=1, timeout_s=0.5) as (busy, client):
        busy.submit(lambda control: None)  # fills the queue
        reply = client.post("/api/ask", data={"text": "What is it?"})
        assert reply.status_code == 503
        assert int(reply.headers["retry-after"]) >= 1
        assert "busy" in reply.json()["error"]
        assert client.get("/api/health").json()["queue"] == {"waiting": 1, "capacity": 1}


def test_a_request_past_its_time_gets_504(service: Service) -> None:
    with blocked(service, max_queue=2, timeout_s=0.3) as (_, client):
        reply = client.post("/api/ask", data={"text": "What is it?"})
        assert reply.status_code == 504
        assert "longer than 0.3 seconds" in reply.json()["error"]


def test_token_is_checked_on_every_request(service: Service) -> None:
    client = TestClient(create_app(service, token="s3cret"))
    assert client.get("/api/health").status_code == 401
    assert client.get("/").status_code == 401
    assert client.get("/api/health", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/api/health", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert client.get("/?token=s3cret").status_code == 200
    assert "token" in client.post("/infer", json={"prompt": "Hi"}).json()["error"]


def test_the_token_may_come_percent_encoded_in_the_address_or_in_a_header(service: Service) -> None:
    token = "s3+cret/&=%"
    client = TestClient(create_app(service, token=token))
    assert client.get(f"/api/health?token={quote(token, safe='')}").status_code == 200
    assert client.get("/api/health?" + urlencode({"token": token})).status_code == 200
    assert client.get("/api/health", params={"token": token}).status_code == 200
    assert client.get("/api/health", headers={"X-Assistant-Token": token}).status_code == 200
    assert client.get("/api/health", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    wrong = client.get("/api/health", headers={"X-Assistant-Token": "s3+cret"})
    assert wrong.status_code == 401 and wrong.json() == {
        "error": "This service needs its token: add ?token=… to the address, or an Authorization header.",
        "code": "unauthorized",
    }
    assert client.get("/api/health?token=s3+cret").status_code == 401


def test_openapi_lists_the_token_schemes_when_a_token_is_set(service: Service, client: TestClient) -> None:
    guarded = TestClient(create_app(service, token="s3cret"))
    assert guarded.get("/openapi.json").status_code == 401
    assert guarded.get("/docs").status_code == 401
    schema = guarded.get("/openapi.json", headers={"Authorization": "Bearer s3cret"}).json()
    schemes = schema["components"]["securitySchemes"]
    assert {name: (scheme["type"], scheme.get("in"), scheme.get("name")) for name, scheme in schemes.items()} == {
        "bearer": ("http", None, None),
        "header": ("apiKey", "header", "X-Assistant-Token"),
        "query": ("apiKey", "query", "token"),
    }
    assert schemes["bearer"]["scheme"] == "bearer"
    operations = [operation for path in schema["paths"].values() for operation in path.values()]
    assert len(operations) >= 5
    assert all(op["security"] == [{"bearer": []}, {"header": []}, {"query": []}] for op in operations)
    open_schema = client.get("/openapi.json").json()
    assert "securitySchemes" not in open_schema.get("components", {})
    assert not any("security" in op for path in open_schema["paths"].values() for op in path.values())


def test_a_body_over_the_cap_gets_413_with_a_sentence(client: TestClient) -> None:
    refusal = {"error": "The request is too large: the most I take is 2 MB.", "code": "too_large"}
    big = json.dumps({"prompt": "x" * 2_100_000}).encode()
    declared = client.post("/infer", content=big, headers={"content-type": "application/json"})
    assert declared.status_code == 413 and declared.json() == refusal
    chunks = iter([big[:1_000_000], big[1_000_000:]])  # no Content-Length: counted as it is read
    streamed = client.post("/infer", content=chunks, headers={"content-type": "application/json"})
    assert streamed.status_code == 413 and streamed.json() == refusal
    upload = {"image": ("p.jpg", b"\xff" * 2_100_000, "image/jpeg")}
    for headers in ({}, {"Accept": "text/event-stream"}):
        asked = client.post("/api/ask", data={"text": "What is it?"}, files=upload, headers=headers)
        assert asked.status_code == 413 and asked.json() == refusal
    assert client.post("/infer", data={"prompt": "Hi"}, files=upload).json() == refusal


def test_openapi_and_docs_are_served(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert {"/infer", "/api/ask", "/api/health", "/api/sessions/{session_id}/reset"} <= set(schema["paths"])
    docs = client.get("/docs")
    assert docs.status_code == 200 and "POST /api/ask" in docs.text and "<script" not in docs.text


def test_serving_on_every_address_needs_a_token(capsys: pytest.CaptureFixture[str]) -> None:
    env = os.environ.pop("ASSISTANT_TOKEN", None)
    try:
        assert main(["serve", "--host", "0.0.0.0", "--port", "7999"]) == 1
    finally:
        if env is not None:
            os.environ["ASSISTANT_TOKEN"] = env
    assert "without a token" in capsys.readouterr().out


@pytest.mark.slow
def test_start_sh_serves_the_page(base_config: Config, tmp_path: Path) -> None:
    port = free_port()
    command = ["bash", str(PROJECT / "start.sh"), "--port", str(port)]
    command += ["--model", base_config.vlm.model, "--mmproj", base_config.vlm.mmproj]
    env = {**os.environ, "ASSISTANT_CONFIG": str(tmp_path / "none.toml")}
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        page = ""
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    page = response.read().decode()
                break
            except OSError:
                time.sleep(0.5)
        assert "Hold to talk" in page and 'aria-live="polite"' in page
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert f"Serving on http://127.0.0.1:{port}/" in output


@pytest.mark.slow
def test_a_document_comes_back_whole(client: TestClient) -> None:
    prices = [("Product", "Price"), ("Apple", "$1.20"), ("Bread", "$2.50"), ("Milk", "$0.99")]
    pieces = [piece for i, (a, b) in enumerate(prices) for piece in ((a, 200, 150 + i * 100), (b, 800, 150 + i * 100))]
    table = cv2.imencode(".png", render(pieces, 44, (1280, 720)))[1].tobytes()
    question = {"text": "List the products and their prices."}
    reply = client.post("/api/ask", data=question, files={"image": ("t.png", table, "image/png")}).json()
    expected = [{"Product": product, "Price": price} for product, price in prices[1:]]
    assert reply["route"] == "document" and reply["document"] == expected
    assert reply["answer"] == "3 items: Apple, $1.20; Bread, $2.50; Milk, $0.99."
    inline = {"prompt": question["text"], "image_base64": base64.b64encode(table).decode()}
    assert client.post("/infer", json=inline).json() == {"text": reply["answer"], "document": expected}


def test_a_picture_sent_at_the_press_is_taken_in_before_the_question(client: TestClient) -> None:
    session = "early-picture"
    picture = {"image": ("p.jpg", jpeg(2), "image/jpeg")}
    sent = client.post(f"/api/sessions/{session}/frame", files=picture)
    assert sent.status_code == 202 and sent.json() == {"session_id": session, "preparing": True}
    # the question brings the same view again (the browser grabs at the release too): the early one is used
    same = client.post("/api/ask", data={"text": "What is on the table?", "session_id": session}, files=picture).json()
    assert same["prepared"] is True and same["image_tokens"] > 0
    assert same["timings_ms"]["image_encode"] == 0, "encoded before the question came"

    client.post(f"/api/sessions/{session}/frame", files=picture)
    other = {"image": ("q.jpg", cv2.imencode(".jpg", 255 - scene(5))[1].tobytes(), "image/jpeg")}
    moved = client.post("/api/ask", data={"text": "And now?", "session_id": session}, files=other).json()
    assert moved["prepared"] is False, "the view changed by the release: the picture it brings is the one used"
    assert moved["image_sha256"] != same["image_sha256"] and moved["timings_ms"]["image_encode"] > 0

    client.post(f"/api/sessions/{session}/frame", files=picture)
    alone = client.post("/api/ask", data={"text": "Is it red?", "session_id": session}).json()
    assert alone["prepared"] is True and alone["image_sha256"] == same["image_sha256"], "a question without one"


def test_the_text_of_a_picture_sent_at_the_press_is_read_then_and_said_first(client: TestClient) -> None:
    session = "early-text"
    sign = {"image": ("s.jpg", _sign_jpeg("PHARMACY", "Open until 9 pm"), "image/jpeg")}
    client.post(f"/api/sessions/{session}/frame", files=sign)
    reply = client.post("/api/ask", data={"text": "What is in front of me?", "session_id": session}).json()
    assert reply["instant"] == "There is text: PHARMACY, Open until 9 pm."
    assert reply["prepared"] is True and "ocr" not in reply["timings_ms"], "read before the question came"


@pytest.mark.parametrize(
    ("files", "status", "code"),
    [
        ({"image": ("p.jpg", b"not a picture", "image/jpeg")}, 400, "bad_input"),
        ({}, 422, "invalid_request"),
    ],
    ids=["not-an-image", "no-image"],
)
def test_a_bad_early_picture_is_refused_plainly(
    client: TestClient, files: dict[str, Any], status: int, code: str
) -> None:
    reply = client.post("/api/sessions/early-bad/frame", files=files)
    assert reply.status_code == status and reply.json()["code"] == code


def test_a_request_without_the_token_is_refused_before_its_body_is_read(service: Service) -> None:
    app = create_app(service, token="s3cret")
    read: list[dict[str, Any]] = []
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        read.append({})
        return {"type": "http.request", "body": b"-" * 65536, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": "POST",
        "path": "/api/ask",
        "raw_path": b"/api/ask",
        "root_path": "",
        "scheme": "http",
        "query_string": b"",
        "headers": [(b"content-type", b"multipart/form-data; boundary=x"), (b"content-length", b"9000000")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 7860),
    }
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 401
    assert json.loads(sent[1]["body"])["code"] == "unauthorized"
    assert read == [], "not a byte of the body was read"


def _sign_jpeg(*lines: str) -> bytes:
    pieces = [(line, 360, 220 + 110 * index) for index, line in enumerate(lines)]
    ok, data = cv2.imencode(".jpg", render(pieces, 72))
    assert ok
    return data.tobytes()


def test_live_reading_over_http_says_each_text_once_and_a_new_sign_in_place_of_the_old(client: TestClient) -> None:
    def live(picture: bytes, restart: bool = False) -> dict[str, Any]:
        files = {"image": ("p.jpg", picture, "image/jpeg")}
        response = client.post("/api/sessions/live-1/live", data={"restart": str(restart).lower()}, files=files)
        assert response.status_code == 200, response.text
        return response.json()

    first = live(_sign_jpeg("PHARMACY", "Open until 9 pm"), restart=True)
    assert first["text"] == "PHARMACY\nOpen until 9 pm" and not first["replaces"]
    assert decode_audio_bytes(base64.b64decode(first["audio_base64"])).duration_s > 1.0
    assert client.get(first["audio_url"]).status_code == 200
    again = live(_sign_jpeg("PHARMACY", "Open until 9 pm"))
    assert "text" not in again and again["ocr_ms"] > 0, "the same text is not said twice"
    sign = live(_sign_jpeg("PLATFORM 4"))
    assert sign["text"] == "PLATFORM 4" and sign["replaces"]
    restarted = live(_sign_jpeg("PLATFORM 4"), restart=True)
    assert restarted["text"] == "PLATFORM 4", "a new live reading says what is in view"


def test_read_live_said_to_the_service_leaves_the_reading_to_the_page(client: TestClient) -> None:
    reply = client.post("/api/ask", data={"text": "read live"}, files={"image": ("p.jpg", jpeg(), "image/jpeg")})
    body = reply.json()
    assert reply.status_code == 200 and body["command"] == "live_text"
    assert body["answer"] == BOOKS["en"].live_started, "the page sends pictures to /live itself"
