"""Live text: what is new in each reading (LiveText, on readings made by hand), and the whole of it on a rendered
video through the real OCR, the real voice and the command line."""

import json
import threading
from pathlib import Path

import numpy as np
import pytest
from helpers import normalise
from renders import render

from assistant.cli.factory import assemble_engine
from assistant.cli.loop import PushToTalkLoop
from assistant.cli.main import main
from assistant.config import Config
from assistant.core.commands import match
from assistant.core.live import GONE_AFTER, LiveReader, LiveText
from assistant.core.phrases import BOOKS
from assistant.core.reading import Reading, TextLine, layout
from assistant.core.turn import TurnControl
from assistant.core.turnlog import TurnLog
from assistant.core.types import Frame
from assistant.hear.audio import WavFileSource, read_audio_file
from assistant.hear.keys import ScriptedKeys
from assistant.hear.stt import WhisperTranscriber
from assistant.see.camera import PacedVideoSource
from assistant.see.ocr import TextReader
from assistant.speak.sinks import WavFileSink
from assistant.speak.tts import PiperSynthesizer
from tools.live_video import Scene, appears_ms, write_live_video

WIDTH, HEIGHT = 1280, 720


def _reading(*rows: str, left: int = 300) -> Reading:
    """Rows of text in the middle of a 1280x720 picture, 60 pixels apart."""
    lines = [
        TextLine(
            text,
            0.98,
            ((left, 200 + 60 * i), (left + 400, 200 + 60 * i), (left + 400, 240 + 60 * i), (left, 240 + 60 * i)),
        )
        for i, text in enumerate(rows)
    ]
    return layout(lines, WIDTH, HEIGHT)


def test_text_is_said_once_while_it_stays_despite_ocr_noise() -> None:
    live = LiveText()
    news = live.feed(_reading("PHARMACY", "Open until 9 pm"))
    assert news is not None and news.lines == ["PHARMACY", "Open until 9 pm"] and not news.replaces
    assert live.feed(_reading("PHARMACY", "Open until 9 pm")) is None
    assert live.feed(_reading("PHARMACV", "0pen until 9 pm")) is None, "a letter misread is the same line"
    assert live.feed(_reading("PHARMACY", "Open until")) is None, "a line read short is the same line"


def test_a_new_line_beside_the_old_is_added_and_a_new_sign_replaces() -> None:
    live = LiveText()
    live.feed(_reading("PHARMACY"))
    added = live.feed(_reading("PHARMACY", "Open until 9 pm"))
    assert added is not None and added.lines == ["Open until 9 pm"] and not added.replaces
    sign = live.feed(_reading("PLATFORM 4", "Trains to Leeds"))
    assert sign is not None and sign.lines == ["PLATFORM 4", "Trains to Leeds"] and sign.replaces


def test_text_that_left_the_view_is_said_again_when_it_comes_back() -> None:
    live = LiveText()
    live.feed(_reading("EXIT"))
    assert live.feed(_reading()) is None
    assert live.feed(_reading("EXIT")) is None, "one reading without text is a glitch, not the text leaving"
    for _ in range(GONE_AFTER):
        live.feed(_reading())
    again = live.feed(_reading("EXIT"))
    assert again is not None and again.lines == ["EXIT"]


def test_cut_off_text_waits_one_reading_then_comes_with_a_hint() -> None:
    live = LiveText()
    assert live.feed(_reading("Open until 9", left=0)) is None, "it may be sliding in"
    whole = live.feed(_reading("Open until 9 pm", left=200))
    assert whole is not None and whole.lines == ["Open until 9 pm"] and whole.edges == []
    live = LiveText()
    live.feed(_reading("Open until 9", left=0))
    stuck = live.feed(_reading("Open until 9", left=0))
    assert stuck is not None and stuck.edges == ["left"]
    assert BOOKS["en"].edge_hint(stuck.edges) == "Text is cut off at the left edge: move the camera a little left."


@pytest.mark.parametrize("words", ["read live", "Read live, please.", "live text", "实时朗读"])
def test_read_live_is_a_command(words: str) -> None:
    assert match(words) == "live_text"


SHORT = (
    Scene((), 0, 1.0),
    Scene(("PHARMACY", "Open until 9 pm"), 72, 2.5),
    Scene(("PLATFORM 4", "Trains to Leeds"), 72, 2.5),
    Scene(("Your prescription is ready.", "Please bring a photo ID.", "Call 020 7946 0018."), 30, 4.0),
)


@pytest.fixture(scope="module")
def signs_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_live_video(tmp_path_factory.mktemp("live") / "signs.avi", SHORT)


@pytest.mark.slow
def test_live_reads_each_text_once_in_order_from_the_command_line(
    tmp_path: Path,
    config: Config,
    signs_video: Path,
    transcriber: WhisperTranscriber,
    capsys: pytest.CaptureFixture[str],
) -> None:
    log, out = tmp_path / "live.jsonl", tmp_path / "out"
    config_file = tmp_path / "config.toml"
    config_file.write_text(f'[tts]\nvoice = "{config.tts.voice}"\nnoise_scale = 0.0\nnoise_w_scale = 0.0\n')
    code = main(
        [
            "live",
            "--config",
            str(config_file),
            "--camera",
            str(signs_video),
            "--audio-out",
            str(out),
            "--log-turns",
            str(log),
        ]
    )
    assert code == 0
    records = [json.loads(line) for line in log.read_text().splitlines()]
    expected = appears_ms(SHORT)
    assert [normalise(r["text"]) for r in records] == [normalise(scene.text) for scene, _ in expected]
    for record, (_, shown_ms) in zip(records, expected, strict=True):
        assert shown_ms <= record["t_seen_ms"] <= record["t_spoken_ms"]
    wavs = sorted(out.glob("*.wav"))
    assert len(wavs) == len(records), "each reading is a WAV of its own"
    heard = transcriber.transcribe(read_audio_file(wavs[0])).text
    assert "open until 9" in normalise(heard), "the first WAV speaks the first sign"
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == BOOKS["en"].live_started and printed[-1] == BOOKS["en"].live_stopped


@pytest.mark.slow
def test_the_voice_command_reads_the_camera_until_stopped(
    tmp_path: Path, signs_video: Path, transcriber: WhisperTranscriber, synthesizer: PiperSynthesizer
) -> None:
    control = TurnControl()

    def stop_after_the_second_sign(kind: str, text: str) -> None:
        if text.startswith("PLATFORM"):
            control.cancel.set()  # as the loop does when a key is pressed

    engine = assemble_engine(transcriber, synthesizer, reader=TextReader())
    session = engine.session(WavFileSink(tmp_path, realtime=True), stop_after_the_second_sign)
    session.camera = PacedVideoSource(signs_video)
    turn = session.answer_text("Read live.", None, control=control)
    assert turn.error is None and turn.command == "live_text"
    assert [normalise(line) for line in turn.answer.splitlines()] == [
        "pharmacy",
        "open until 9 pm",
        "platform 4",
        "trains to leeds",
    ]


def test_live_on_a_still_picture_reads_it_once_and_ends(
    tmp_path: Path, transcriber: WhisperTranscriber, synthesizer: PiperSynthesizer
) -> None:
    engine = assemble_engine(transcriber, synthesizer, reader=TextReader())
    sink = WavFileSink(tmp_path)
    session = engine.session(sink)
    turn = session.answer_text("read live", Frame(render([("EXIT", 500, 300)], 96), source="test"))
    assert turn.error is None and turn.answer == "EXIT"
    assert len(sink.written) == 3, "started, the text, stopped"


def test_live_without_reading_says_so(
    transcriber: WhisperTranscriber, synthesizer: PiperSynthesizer, tmp_path: Path
) -> None:
    session = assemble_engine(transcriber, synthesizer).session(WavFileSink(tmp_path))
    turn = session.answer_text("read live", Frame(_blank(), source="test"))
    assert turn.error_code == "reading_off"


def _blank() -> np.ndarray:
    return np.full((HEIGHT, WIDTH, 3), 230, np.uint8)


def test_the_reader_stops_when_the_video_ends(tmp_path: Path, synthesizer: PiperSynthesizer) -> None:
    video = write_live_video(tmp_path / "blank.avi", (Scene((), 0, 0.5),))
    reader = LiveReader(PacedVideoSource(video), TextReader(), synthesizer, WavFileSink(tmp_path), BOOKS["en"])
    assert reader.run(threading.Event()) == "ended" and reader.heard == []


@pytest.mark.slow
def test_r_in_the_loop_reads_live_until_the_next_key(
    tmp_path: Path, signs_video: Path, transcriber: WhisperTranscriber, synthesizer: PiperSynthesizer
) -> None:
    log = tmp_path / "turns.jsonl"
    engine = assemble_engine(transcriber, synthesizer, reader=TextReader(), turn_log=TurnLog(log))
    session = engine.session(WavFileSink(tmp_path / "out"))
    camera = PacedVideoSource(signs_video)
    session.camera = camera
    lines: list[str] = []
    keys = ScriptedKeys(["r", (3.0, "x"), "q"])
    PushToTalkLoop(session, WavFileSource([]), camera, keys, lines.append).run()
    assert lines == [BOOKS["en"].keys_help, "Reading live.", "Stopped.", "Goodbye."]
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert records[0]["mode"] == "live" and normalise(records[0]["text"]) == "pharmacy open until 9 pm"
    assert records[-1]["command"] == "live_text" and records[-1]["answer"].startswith("PHARMACY")
