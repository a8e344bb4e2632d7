"""The vision model on an OpenAI-compatible server: llama-cpp-python's own server (`python -m llama_cpp.server`,
its mtmd chat format) serving the tiny pair on loopback, started here and stopped after."""

import dataclasses
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from helpers import by_model, read_wav

from assistant.cli.factory import API_KEY_VARIABLE, make_engine
from assistant.cli.main import main
from assistant.cli.runner import DiscardSink
from assistant.config import Config
from assistant.core.presets import VQA
from assistant.core.turn import TurnControl
from assistant.core.types import Frame
from assistant.errors import BadInputError, ModelError
from assistant.speak.sinks import WavFileSink
from assistant.think.remote import RemoteVisionChat
from tools.tiny_vlm import TinyVLMPair

pytestmark = pytest.mark.slow

KEY = "test-key-123"
LONG = dataclasses.replace(VQA, temperature=0.0, max_tokens=4000)
"""An answer that runs on: the tiny model's head cannot end one."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, pair: TinyVLMPair, log: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        command = [sys.executable, "-m", "llama_cpp.server", "--model", str(pair.model)]
        command += ["--clip_model_path", str(pair.mmproj), "--chat_format", "mtmd", "--n_ctx", "2048"]
        command += ["--host", "127.0.0.1", "--port", str(self.port), "--api_key", KEY]
        with log.open("wb") as output:  # the child keeps its own copy of the file
            self.process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/models", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the llama_cpp server did not start: {log.read_text(errors='replace')[-2000:]}")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture(scope="module")
def server(tiny_pairs: dict[str, TinyVLMPair], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    started = Server(tiny_pairs["qwen3-vl"], tmp_path_factory.mktemp("server") / "server.log")
    yield started
    started.stop()


@pytest.fixture
def remote_config(config: Config, server: Server, monkeypatch: pytest.MonkeyPatch) -> Config:
    monkeypatch.setenv(API_KEY_VARIABLE, KEY)
    return config.with_overrides({"vlm.backend": "openai", "vlm.url": server.url, "vlm.model": "", "vlm.mmproj": ""})


def _config_file(tmp_path: Path, config_file: Path, url: str) -> Path:
    path = tmp_path / "remote.toml"
    path.write_text(config_file.read_text().replace("[vlm]\n", f'[vlm]\nbackend = "openai"\nurl = "{url}"\n'))
    return path


def _log(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_spoken_turn_and_a_follow_up_are_answered_by_the_server_with_the_conversation(
    tmp_path: Path,
    server: Server,
    config_file: Path,
    speak: Callable[..., Path],
    question_wav: Path,
    image_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(API_KEY_VARIABLE, KEY)
    log, out = tmp_path / "turns.jsonl", tmp_path / "answers"
    follow_up = speak("Is it the blue one?", "remote-follow-up.wav")
    code = main(
        ["run", "--config", str(_config_file(tmp_path, config_file, server.url))]
        + ["--audio-in", str(question_wav), str(follow_up), "--camera", str(image_file)]
        + ["--audio-out", str(out), "--log-turns", str(log)]
    )
    assert code == 0
    assert f"Questions and pictures for the vision model go to the server at {server.url}." in capsys.readouterr().out
    first, second = _log(log)
    assert first["error"] is None and second["error"] is None
    assert first["answer"] and second["answer"]
    assert [m["role"] for m in second["messages"]] == ["system", "user", "assistant", "user"]
    assert second["messages"][2]["content"] == by_model(first["answer"], first["instant"])
    for name in ("answer-001.wav", "answer-002.wav"):
        clip = read_wav(out / name)
        assert clip.duration_s > 0.3 and np.sqrt(np.mean(clip.samples**2)) > 0.01, "spoken, not silent"


def test_an_interrupted_answer_stops_and_the_next_question_is_answered(remote_config: Config, tmp_path: Path) -> None:
    engine = make_engine(remote_config.with_overrides({"vlm.warm_start": False, "vlm.max_tokens": 0}))
    session = engine.session(WavFileSink(tmp_path, realtime=True))  # played at the speaker's pace
    frame = Frame(np.full((240, 320, 3), 90, np.uint8))
    control = TurnControl()

    def press_while_it_speaks() -> None:
        control.audible.wait(30)
        time.sleep(0.2)
        control.cancel.set()

    threading.Thread(target=press_while_it_speaks, daemon=True).start()
    turn = session.answer_text("Describe everything you see.", frame, control=control)
    assert turn.interrupted and turn.error is None
    session.sink = DiscardSink()
    again = session.answer_text("Is it the blue one?", frame)
    assert again.error is None and again.answer
    session.engine.vlm.close()  # type: ignore[union-attr]


def test_the_server_stopping_mid_answer_is_said_plainly(tiny_pairs: dict[str, TinyVLMPair], tmp_path: Path) -> None:
    dying = Server(tiny_pairs["qwen3-vl"], tmp_path / "server.log")
    chat = RemoteVisionChat(dying.url, api_key=KEY)
    pieces = chat.stream([{"role": "user", "content": "Go on and on."}], LONG)
    assert next(pieces)
    dying.process.kill()
    with pytest.raises(ModelError, match="stopped in the middle of the answer"):
        for _ in pieces:
            pass
    dying.stop()
    chat.close()


def test_a_wrong_key_and_an_unreachable_server_are_said_plainly(server: Server) -> None:
    wrong = RemoteVisionChat(server.url, api_key="wrong")
    with pytest.raises(ModelError, match="refused the key") as error:
        list(wrong.stream([{"role": "user", "content": "Hi"}], VQA))
    assert API_KEY_VARIABLE in error.value.fix
    with pytest.raises(ModelError, match="refused the key"):
        wrong.check()
    nowhere = RemoteVisionChat(f"http://127.0.0.1:{_free_port()}/v1", api_key=KEY)
    with pytest.raises(ModelError, match=r"I can't reach the vision server at 127\.0\.0\.1"):
        list(nowhere.stream([{"role": "user", "content": "Hi"}], VQA))
    right, other_model = RemoteVisionChat(server.url, api_key=KEY), RemoteVisionChat(server.url, "gpt-9", api_key=KEY)
    assert right.check().endswith(server.url)
    with pytest.raises(ModelError, match="has no model called gpt-9"):
        other_model.check()
    for chat in (wrong, nowhere, right, other_model):
        chat.close()


def test_doctor_and_health_check_the_server(remote_config: Config, server: Server) -> None:
    from assistant.cli.doctor import _vlm
    from assistant.serve.service import Service
    from assistant.think.machine import detect_machine

    check = _vlm(remote_config, detect_machine())
    assert check.ok and server.url in check.detail and "over the network" in check.detail
    broken = remote_config.with_overrides({"vlm.url": f"http://127.0.0.1:{_free_port()}/v1"})
    assert not _vlm(broken, detect_machine()).ok
    engine = make_engine(broken.with_overrides({"vlm.warm_start": False}))
    health = Service(engine, broken.server).health()
    assert health["status"] == "degraded" and health["parts"]["vision"]["state"] == "unreachable"
    engine.vlm.close()  # type: ignore[union-attr]


class _Nonsense(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = b'data: {"not": "a completion"}\n\n'
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_an_answer_that_is_not_a_chat_completion_is_said_plainly() -> None:
    nonsense = ThreadingHTTPServer(("127.0.0.1", 0), _Nonsense)
    threading.Thread(target=nonsense.serve_forever, daemon=True).start()
    chat = RemoteVisionChat(f"http://127.0.0.1:{nonsense.server_port}/v1")
    with pytest.raises(ModelError, match="answered something I can't read"):
        list(chat.stream([{"role": "user", "content": "Hi"}], VQA))
    chat.close()
    nonsense.shutdown()
    nonsense.server_close()


def test_with_the_local_backend_no_connection_is_made_at_all(
    config: Config, config_file: Path, image_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    connections: list[Any] = []
    real_connect = socket.socket.connect

    def recording_connect(self: socket.socket, address: Any) -> None:
        connections.append(address)
        real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", recording_connect)
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    code = main(
        ["ask", "--config", str(config_file), "--model", config.vlm.model, "--mmproj", config.vlm.mmproj]
        + ["--text", "What is in front of me?", "--image", str(image_file), "--out", str(tmp_path / "answer.wav")]
    )
    assert code == 0
    assert connections == [], "not even to loopback"


def test_a_private_ca_that_cannot_be_read_is_said_plainly(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="cannot be read as certificates"):
        RemoteVisionChat("https://192.168.1.20:8080/v1", ca_bundle=str(tmp_path / "absent.pem"))
    with pytest.raises(BadInputError, match="not a web address"):
        RemoteVisionChat("ftp://192.168.1.20/v1")


def test_reading_stays_local_while_the_server_is_away(remote_config: Config) -> None:
    import cv2

    away = remote_config.with_overrides({"vlm.url": f"http://127.0.0.1:{_free_port()}/v1", "vlm.warm_start": False})
    engine = make_engine(away)
    session = engine.session(DiscardSink())
    image = np.full((360, 640, 3), 255, np.uint8)
    cv2.putText(image, "PLATFORM 4", (40, 200), cv2.FONT_HERSHEY_SIMPLEX, 2.4, (0, 0, 0), 6)
    turn = session.answer_text("Read this, please.", Frame(image))
    assert turn.error is None and turn.route == "read" and "PLATFORM" in turn.answer
    asked = session.answer_text("What is in front of me?", Frame(image))
    assert asked.error is not None and "I can't reach the vision server" in asked.error
    engine.close()
