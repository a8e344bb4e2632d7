import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import normalise

from assistant.cli.factory import make_session
from assistant.cli.loop import PushToTalkLoop
from assistant.cli.main import main
from assistant.config import Config
from assistant.core.conversation import INTERRUPTED_MARK
from assistant.core.phrases import BOOKS
from assistant.hear.audio import WavFileSource
from assistant.hear.keys import ScriptedKeys, TerminalKeys
from assistant.speak.sinks import WavFileSink


def test_piped_input_counts_each_line_as_enter_and_q_quits() -> None:
    keys = TerminalKeys(io.StringIO("\n\nq\n"))
    assert [keys.read() for _ in range(4)] == ["\n", "\n", "q", ""]


@pytest.mark.slow
def test_quitting_while_listening_answers_nothing(
    tmp_path: Path, config: Config, question_wav: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sink = WavFileSink(tmp_path / "answers")
    assistant = make_session(config, sink, lambda kind, text: None)
    try:
        loop = PushToTalkLoop(assistant, WavFileSource([question_wav]), None, ScriptedKeys([" ", "q"]), print)
        assert loop.run() == 0
    finally:
        assistant.engine.close()
    assert capsys.readouterr().out.splitlines() == [BOOKS["en"].keys_help, "Listening.", "Goodbye."]
    assert sink.written == []


@pytest.mark.slow
def test_other_keys_are_ignored_and_end_of_input_quits(
    tmp_path: Path, config: Config, question_wav: Path, image_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from assistant.see.camera import ImageFileSource

    sink = WavFileSink(tmp_path / "answers")
    assistant = make_session(config, sink, lambda kind, text: None)
    try:
        keys = ScriptedKeys(["x", " ", "x", "\n"])
        loop = PushToTalkLoop(assistant, WavFileSource([question_wav]), ImageFileSource(image_file), keys, print)
        assert loop.run() == 1
    finally:
        assistant.engine.close()
    assert capsys.readouterr().out.splitlines() == [BOOKS["en"].keys_help, "Listening.", "Thinking.", "Goodbye."]
    assert len(sink.written) == 1


def test_no_command_means_run_and_help_lists_every_setting(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert "vlm.n_ctx = 4096" in text and "tts.speech_rate = 1.0" in text
    with pytest.raises(SystemExit):
        main(["--audio-in"])
    assert "run" in capsys.readouterr().err, "options without a command go to run"


@pytest.mark.slow
def test_pressing_talk_while_it_speaks_interrupts_and_listens_again(
    tmp_path: Path,
    config: Config,
    question_wav: Path,
    speak: Callable[..., Path],
    image_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from assistant.see.camera import ImageFileSource

    follow_up = speak("Is it the blue one?", "blue.wav")
    log = tmp_path / "turns.jsonl"
    sink = WavFileSink(tmp_path / "answers", realtime=True)
    assistant = make_session(config.with_overrides({"log.turns": str(log)}), sink, lambda kind, text: None)
    keys = ScriptedKeys([" ", " ", (3.0, " "), " "])
    try:
        loop = PushToTalkLoop(
            assistant, WavFileSource([question_wav, follow_up]), ImageFileSource(image_file), keys, print
        )
        loop.run()
    finally:
        assistant.engine.close()
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        BOOKS["en"].keys_help,
        "Listening.",
        "Thinking.",
        "Stopped.",
        "Listening.",
        "Thinking.",
        "Goodbye.",
    ]
    first, second = (json.loads(line) for line in log.read_text().splitlines())
    assert first["interrupted"] and not second["interrupted"]
    assert normalise(second["transcript"]) == "is it the blue one"
    assert second["messages"][-2]["content"].endswith(INTERRUPTED_MARK), "memory knows the answer was cut"
