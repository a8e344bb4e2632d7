"""The catalogue of bad input and faults: what a device in daily use meets, each case with its id and the exact
sentence or JSON error expected, across the HTTP API, the command line, the loop, the config and the parts. After
each the loop goes on, or the program exits cleanly when asked, and nothing already logged is lost.
docs/faults.md lists them all, with the cases the other test files hold."""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from helpers import running_service, scene

from assistant.cli.factory import assemble_engine, make_engine, make_session
from assistant.cli.loop import PushToTalkLoop
from assistant.cli.main import main
from assistant.cli.runner import DiscardSink
from assistant.config import Config
from assistant.core.turnlog import TurnLog
from assistant.core.types import AudioChunk, Frame
from assistant.errors import DeviceError
from assistant.hear.audio import WavFileSource
from assistant.hear.keys import ScriptedKeys
from assistant.see.camera import ImageFileSource
from assistant.serve.app import create_app
from assistant.serve.service import Service
from assistant.speak.sinks import WavFileSink
from assistant.speak.tts import PiperSynthesizer


def bomb_png(width: int = 50_000, height: int = 50_000) -> bytes:
    """A PNG of a few dozen bytes whose header claims width x height pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


def hours_of_flac(hours: float = 3.0) -> bytes:
    """Silence that decodes to hours, in a file of about 2 MB: FLAC says how long it is."""
    out = io.BytesIO()
    with av.open(out, "w", format="flac") as container:
        stream = container.add_stream("flac", rate=8000, layout="mono")
        minute = np.zeros((1, 8000 * 60), np.int16)
        for _ in range(round(hours * 60)):
            frame = av.AudioFrame.from_ndarray(minute, format="s16", layout="mono")
            frame.sample_rate = 8000
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out.getvalue()


def png(image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", image)
    assert ok
    return data.tobytes()


# -- the HTTP API ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("faults")
    allowed, outside = root / "allowed", root / "outside"
    allowed.mkdir()
    outside.mkdir()
    (allowed / "scene.png").write_bytes(png(scene(0)))
    (outside / "secret.png").write_bytes(png(scene(1)))
    (allowed / "link.png").symlink_to(outside / "secret.png")
    (allowed / "bomb.png").write_bytes(bomb_png())
    (allowed / "folder.png").mkdir()
    return {"allowed": allowed, "outside": outside}


@pytest.fixture(scope="module")
def service(stack_config: Config, folders: dict[str, Path]) -> Iterator[Service]:
    config = stack_config.with_overrides(
        {"server.allowed_dirs": (str(folders["allowed"]),), "server.max_audio_s": 60.0}
    )
    with running_service(config) as service:
        yield service


@pytest.fixture(scope="module")
def client(service: Service) -> TestClient:
    return TestClient(create_app(service))


NOT_AN_IMAGE = {"error": "I can't read the picture: it is not an image I understand.", "code": "bad_input"}
UPLOADS: list[Any] = [
    pytest.param(
        bomb_png(),
        413,
        {
            "error": "The picture is too large: 50000 by 50000 pixels. Send one of at most 40 megapixels.",
            "code": "too_large",
        },
        id="picture-decompression-bomb",
    ),
    pytest.param(bomb_png(6400, 6400), 413, None, id="picture-41-megapixels"),
    pytest.param(b"hello, I am text", 400, NOT_AN_IMAGE, id="picture-that-is-text"),
    pytest.param(png(scene(0))[:120], 400, NOT_AN_IMAGE, id="picture-truncated"),
    pytest.param(b"<svg xmlns='http://www.w3.org/2000/svg'/>", 400, NOT_AN_IMAGE, id="picture-svg"),
    pytest.param(b"\x89PNG\r\n\x1a\n" + b"\0" * 40, 400, NOT_AN_IMAGE, id="picture-png-signature-only"),
]


@pytest.mark.parametrize(("picture", "status", "expected"), UPLOADS)
def test_bad_pictures_are_refused_before_decoding(
    client: TestClient, picture: bytes, status: int, expected: dict[str, str] | None
) -> None:
    started = time.monotonic()
    reply = client.post("/api/ask", data={"text": "What is this?"}, files={"image": ("p.png", picture, "image/png")})
    assert reply.status_code == status
    if expected is not None:
        assert reply.json() == expected
    assert time.monotonic() - started < 5, "refused at once"


AUDIO: list[Any] = [
    pytest.param(
        hours_of_flac,
        413,
        {
            "error": "The recording is 3.0 hours long; the longest I take is 60 seconds. Ask a shorter question.",
            "code": "too_large",
        },
        id="audio-three-hours",
    ),
    pytest.param(
        lambda: os.urandom(4000),
        400,
        {"error": "I can't read the recording: it is not audio I understand.", "code": "bad_input"},
        id="audio-random-bytes",
    ),
    pytest.param(
        lambda: b"RIFF\x24\x00\x00\x00WAVEfmt ",
        400,
        {"error": "I can't read the recording: it is not audio I understand.", "code": "bad_input"},
        id="audio-wav-header-cut",
    ),
]


@pytest.mark.parametrize(("audio", "status", "expected"), AUDIO)
def test_bad_audio_is_refused_before_decoding_runs_away(
    client: TestClient, audio: Callable[[], bytes], status: int, expected: dict[str, str]
) -> None:
    data = audio()
    started = time.monotonic()
    reply = client.post("/api/ask", files={"audio": ("q.flac", data, "application/octet-stream")})
    assert (reply.status_code, reply.json()) == (status, expected)
    assert time.monotonic() - started < 5, "refused at once"


OUTSIDE = "That picture is outside the folders this service may read."
PATHS: list[Any] = [
    pytest.param("{allowed}/../outside/secret.png", 403, OUTSIDE, id="path-dot-dot"),
    pytest.param("{outside}/secret.png", 403, OUTSIDE, id="path-absolute-outside"),
    pytest.param("{allowed}/link.png", 403, OUTSIDE, id="path-symlink-out"),
    pytest.param("/etc/passwd", 403, OUTSIDE, id="path-system-file"),
    pytest.param(
        "{allowed}/%2e%2e/outside/secret.png",
        404,
        "There is no picture at {allowed}/%2e%2e/outside/secret.png.",
        id="path-url-encoded",
    ),
    pytest.param("{allowed}/folder.png", 404, "There is no picture at {allowed}/folder.png.", id="path-a-folder"),
    pytest.param("{allowed}/nothing.png", 404, "There is no picture at {allowed}/nothing.png.", id="path-missing"),
    pytest.param("{allowed}/bomb.png", 413, "The picture is too large: 50000 by 50000 pixels.", id="path-bomb"),
    pytest.param("{allowed}/a\u0000b.png", 400, "That image_path is not a path I can use.", id="path-nul-byte"),
]


@pytest.mark.parametrize(("path", "status", "error"), PATHS)
def test_image_path_stays_inside_the_allowed_folders(
    client: TestClient, folders: dict[str, Path], path: str, status: int, error: str
) -> None:
    where = {name: str(folder) for name, folder in folders.items()}
    reply = client.post("/infer", json={"image_path": path.format(**where), "prompt": "What is this?"})
    assert reply.status_code == status
    assert reply.json()["error"].startswith(error.format(**where))


def test_a_good_path_still_works(client: TestClient, folders: dict[str, Path]) -> None:
    reply = client.post("/infer", json={"image_path": str(folders["allowed"] / "scene.png"), "prompt": "Read this."})
    assert reply.status_code == 200 and "text" in reply.json()


# -- the command line and the config ---------------------------------------------------------------


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    made = {
        "bomb": tmp_path / "bomb.png",
        "text": tmp_path / "notes.png",
        "hours": tmp_path / "hours.flac",
        "noise": tmp_path / "noise.wav",
        "bad_toml": tmp_path / "bad.toml",
        "unknown": tmp_path / "unknown.toml",
        "wrong_type": tmp_path / "wrong.toml",
    }
    made["bomb"].write_bytes(bomb_png())
    made["text"].write_text("not a picture")
    made["hours"].write_bytes(hours_of_flac())
    made["noise"].write_bytes(os.urandom(3000))
    made["bad_toml"].write_text("[vlm\nmodel = ")
    made["unknown"].write_text("[vlm]\nmodle = 'x.gguf'\n")
    made["wrong_type"].write_text("[vlm]\nn_ctx = 'big'\n")
    return made


CLI: list[Any] = [
    pytest.param(
        ["ask", "--text", "What is this?", "--image", "{bomb}"],
        1,
        "Sorry: The picture bomb.png is too large: 50000 by 50000 pixels. Send one of at most 40 megapixels.",
        id="cli-picture-bomb",
    ),
    pytest.param(
        ["ask", "--text", "What is this?", "--image", "{text}"],
        1,
        "Sorry: I can't read the picture notes.png: it is not an image I understand.",
        id="cli-picture-not-an-image",
    ),
    pytest.param(
        ["ask", "--text", "What is this?", "--image", "{tmp}/nowhere.png"],
        1,
        "Sorry: The picture nowhere.png does not exist.",
        id="cli-picture-missing",
    ),
    pytest.param(
        ["ask", "--audio", "{noise}"],
        1,
        "Sorry: I can't read the sound file noise.wav: it is not audio I understand.",
        id="cli-audio-not-audio",
    ),
    pytest.param(
        ["ask", "--audio", "{hours}"],
        1,
        "Sorry: I didn't hear a question.",
        id="cli-audio-hours-cut-like-a-microphone",
    ),
    pytest.param(
        ["live", "--camera", "{tmp}/nowhere.avi", "--audio-out", "{tmp}/out"],
        1,
        "The video nowhere.avi does not exist.",
        id="cli-live-video-missing",
    ),
    pytest.param(
        ["ask", "--text", "hi", "--config", "{bad_toml}"],
        1,
        "The config file {bad_toml} cannot be read: ",
        id="config-not-toml",
    ),
    pytest.param(
        ["ask", "--text", "hi", "--config", "{unknown}"],
        1,
        "The config file {unknown} has an unknown setting 'vlm.modle'.",
        id="config-unknown-setting",
    ),
    pytest.param(
        ["ask", "--text", "hi", "--config", "{wrong_type}"],
        1,
        "The config file {wrong_type} setting 'vlm.n_ctx' should be ",
        id="config-wrong-type",
    ),
    pytest.param(
        ["ask", "--text", "hi", "--config", "{tmp}/none.toml"],
        1,
        "The config file {tmp}/none.toml does not exist.",
        id="config-missing",
    ),
    pytest.param(
        ["serve", "--certfile", "{text}"],
        1,
        "https needs both a certificate and its key. Give both --certfile and --keyfile.",
        id="serve-cert-without-key",
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize(("argv", "code", "said"), CLI)
def test_the_command_line_says_what_is_wrong(
    tmp_path: Path,
    config_file: Path,
    files: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    code: int,
    said: str,
) -> None:
    where = {name: str(path) for name, path in files.items()} | {"tmp": str(tmp_path)}
    args = [arg.format(**where) for arg in argv]
    if "--config" not in args:
        args += ["--config", str(config_file)]
    assert main(args) == code
    printed = capsys.readouterr().out.splitlines()
    assert any(line.startswith(said.format(**where)) for line in printed), printed


# -- the parts, while the loop runs ----------------------------------------------------------------


def _loop(
    session: Any, camera: Any, questions: list[Path], lines: list[str], on_line: Callable[[str], None] | None = None
) -> None:
    def say(line: str) -> None:
        lines.append(line)
        if on_line is not None:
            on_line(line)

    keys = ScriptedKeys([" ", " "] * len(questions))
    PushToTalkLoop(session, WavFileSource(questions), camera, keys, say).run()


@pytest.mark.slow
def test_the_camera_lost_and_back(tmp_path: Path, config: Config, question_wav: Path) -> None:
    picture = tmp_path / "camera.png"
    picture.write_bytes(png(scene(2)))
    log = tmp_path / "turns.jsonl"
    session = make_session(config.with_overrides({"log.turns": str(log)}), WavFileSink(tmp_path / "out"), _quiet)
    lines: list[str] = []
    listening = iter(range(10))

    def camera_goes_and_comes(line: str) -> None:
        if line == "Listening.":
            turn = next(listening)
            if turn == 1:
                picture.rename(tmp_path / "away.png")  # the camera is gone before the second press
            if turn == 2:
                (tmp_path / "away.png").rename(picture)

    try:
        _loop(session, ImageFileSource(picture), [question_wav] * 3, lines, camera_goes_and_comes)
    finally:
        session.engine.close()
    first, lost, back = (json.loads(line) for line in log.read_text().splitlines())
    assert first["error"] is None and back["error"] is None
    assert lost["error"] == "The picture camera.png does not exist." and lost["error_code"] == "bad_input"


class FailingSpeaker(WavFileSink):
    """A speaker unplugged after the first piece of one answer: no speaker exists here to unplug."""

    def __init__(self, target: Path) -> None:
        super().__init__(target)
        self.failed = False

    def play(self, chunks: Any, cancel: threading.Event | None = None) -> int:
        if self.failed:
            return super().play(chunks, cancel)

        def then_fail() -> Iterator[AudioChunk]:
            for index, chunk in enumerate(chunks):
                if index == 1:
                    self.failed = True
                    raise DeviceError("The speaker stopped working.", "Check that it is plugged in.")
                yield chunk

        return super().play(then_fail(), cancel)


@pytest.mark.slow
def test_the_speaker_failing_mid_answer(tmp_path: Path, config: Config, question_wav: Path, image_file: Path) -> None:
    log = tmp_path / "turns.jsonl"
    speaker = FailingSpeaker(tmp_path / "out")
    session = make_session(config.with_overrides({"log.turns": str(log)}), speaker, _quiet)
    lines: list[str] = []
    try:
        _loop(session, ImageFileSource(image_file), [question_wav] * 2, lines)
    finally:
        session.engine.close()
    failed, next_turn = (json.loads(line) for line in log.read_text().splitlines())
    assert failed["error"] == "The speaker stopped working. Check that it is plugged in."
    assert failed["error_code"] == "device"
    assert next_turn["error"] is None and lines[-1] == "Goodbye."


@pytest.mark.slow
def test_a_full_disk_under_the_turn_log(
    tmp_path: Path, config: Config, question_wav: Path, image_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    if not os.path.exists("/dev/full"):
        pytest.fail("/dev/full, which stands for a full disk, is missing")
    session = make_session(config, WavFileSink(tmp_path / "out"), _quiet)
    session.engine.turn_log = TurnLog(Path("/dev/full"))
    lines: list[str] = []
    with caplog.at_level(logging.ERROR):
        try:
            _loop(session, ImageFileSource(image_file), [question_wav] * 2, lines)
        finally:
            session.engine.close()
    assert lines.count("Thinking.") == 2 and lines[-1] == "Goodbye.", "both questions answered"
    failures = [r for r in caplog.records if "cannot be written" in r.getMessage()]
    assert len(failures) == 1, "said once, not at every turn"


def test_the_turn_log_lost_mid_run_keeps_what_it_held(tmp_path: Path) -> None:
    """The log's place turns into something unwritable (as a disk remounted read-only would), then comes back."""
    from assistant.core.types import Turn

    path = tmp_path / "turns.jsonl"
    log = TurnLog(path)
    log.write(Turn(transcript="one"))
    path.rename(tmp_path / "kept.jsonl")
    path.mkdir()  # writing now fails
    log.write(Turn(transcript="two"))
    assert log.failing
    path.rmdir()
    (tmp_path / "kept.jsonl").rename(path)
    log.write(Turn(transcript="three"))
    assert not log.failing
    assert [json.loads(line)["transcript"] for line in path.read_text().splitlines()] == ["one", "three"]


@pytest.mark.slow
def test_the_model_files_deleted_while_it_runs(tmp_path: Path, config: Config, image_file: Path) -> None:
    model, mmproj = tmp_path / "m.gguf", tmp_path / "p.gguf"
    shutil.copy(config.vlm.model, model)
    shutil.copy(config.vlm.mmproj, mmproj)
    session = make_session(
        config.with_overrides({"vlm.model": str(model), "vlm.mmproj": str(mmproj)}), DiscardSink(), _quiet
    )
    try:
        frame = ImageFileSource(image_file).grab()
        assert session.answer_text("What is in front of me?", frame).error is None
        model.unlink()
        mmproj.unlink()
        after = session.answer_text("And now?", Frame(scene(5), source="test"))
    finally:
        session.engine.close()
    assert after.error is None and after.preset is not None, "the weights are in memory: it answers on"


DAMAGED = (
    "I can't answer about the picture: The vision {kind} file {path} is damaged or not a GGUF file. "
    "Run 'assistant models pull', or place a GGUF model and its mmproj in the models folder."
)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("which", "problem"),
    [("m.gguf", DAMAGED.replace("{kind}", "model")), ("p.gguf", DAMAGED.replace("{kind}", "projector (mmproj)"))],
    ids=["model-truncated", "mmproj-truncated"],
)
def test_a_truncated_model_file_is_named_and_the_rest_works(
    tmp_path: Path, config: Config, image_file: Path, which: str, problem: str
) -> None:
    model, mmproj = tmp_path / "m.gguf", tmp_path / "p.gguf"
    shutil.copy(config.vlm.model, model)
    shutil.copy(config.vlm.mmproj, mmproj)
    cut = tmp_path / which
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    problem = problem.format(path=cut)
    engine = make_engine(config.with_overrides({"vlm.model": str(model), "vlm.mmproj": str(mmproj)}))
    try:
        assert engine.vlm is None and engine.vlm_problem is not None
        assert engine.vlm_problem.spoken() == problem
        turn = engine.session(DiscardSink()).answer_text("What is in front of me?", ImageFileSource(image_file).grab())
    finally:
        engine.close()
    assert turn.error is None and turn.answer.endswith(problem), "what is known for sure, then why no more"


# -- Piper given what no sentence should hold -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("😀🎉👍", False),
        ("\x00\x07\x1b[31m\x7f", False),
        ("Hello\x00 there\x07, \x1b[31mfriend\x7f.", True),
        ("Price: ¥12 — €3 ± 0.5 ‰ ™ ©", True),
        ("Ｆｕｌｌ ｗｉｄｔｈ ｌｅｔｔｅｒｓ", True),
        ("word " * 2000, True),
    ],
    ids=["emoji-only", "control-only", "control-mixed", "symbols", "full-width", "ten-thousand-characters"],
)
def test_piper_speaks_what_it_can_and_never_fails(synthesizer: PiperSynthesizer, text: str, spoken: bool) -> None:
    chunks = synthesizer.synthesize(text)
    first = next(chunks, None)  # the first sentence only: ten thousand characters would take minutes to say
    chunks.close()
    assert (first is not None and first.samples.size > 0) is spoken


def test_nothing_is_played_for_a_sentence_of_emoji(
    synthesizer: PiperSynthesizer, transcriber: Any, tmp_path: Path
) -> None:
    sink = WavFileSink(tmp_path)
    session = assemble_engine(transcriber, synthesizer).session(sink)
    session.speak("😀🎉👍")
    assert sink.written == [], "nothing to say, nothing played"


# -- signals ----------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
@pytest.mark.parametrize(
    ("when", "turns_logged"),
    [("Loading the models.", 0), ("Thinking.", 0), ("second Thinking.", 1)],
    ids=["loading", "answering", "answering-the-second"],
)
def test_a_signal_stops_it_cleanly_and_the_log_is_whole(
    tmp_path: Path, config_file: Path, question_wav: Path, image_file: Path, name: str, when: str, turns_logged: int
) -> None:
    log = tmp_path / "turns.jsonl"
    command = [sys.executable, "-m", "assistant.cli.main", "run", "--config", str(config_file)]
    command += ["--audio-in", str(question_wav), str(question_wav), str(question_wav), "--camera", str(image_file)]
    command += ["--audio-out", str(tmp_path / "out"), "--log-turns", str(log)]
    # Ctrl-C reaches it as from a terminal, even when the tests run where SIGINT is ignored (a background job).
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert process.stdout is not None
    seen, target = 0, when.removeprefix("second ")
    needed = 2 if when.startswith("second ") else 1
    lines = []
    for line in process.stdout:
        lines.append(line.strip())
        if line.strip() == target:
            seen += 1
            if seen == needed:
                if needed == 2:
                    time.sleep(0.2)
                process.send_signal(getattr(signal, name))
                break
    rest, errors = process.communicate(timeout=60)
    lines += rest.splitlines()
    code = 128 + getattr(signal, name)
    assert process.returncode == code, (lines, errors[-2000:])
    assert lines[-1] == "Stopped."
    records = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    assert len(records) >= turns_logged and all(record["error"] is None for record in records[:turns_logged])


def _quiet(kind: str, text: str) -> None:
    pass
