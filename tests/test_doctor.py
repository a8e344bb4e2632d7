from pathlib import Path

import pytest

from assistant.cli.doctor import doctor
from assistant.config import Config
from tools.tiny_vlm import TinyVLMPair


def _lines(config: Config, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, str]]:
    code = doctor(config, print)
    lines = capsys.readouterr().out.splitlines()
    by_part = {line.split(": ")[1]: line for line in lines if line.count(": ") >= 2}
    return code, by_part


@pytest.mark.slow
def test_all_required_parts_ready(config: Config, capsys: pytest.CaptureFixture[str]) -> None:
    code, parts = _lines(config.with_overrides({"camera.source": "57"}), capsys)
    assert code == 0
    assert parts["speech recognition"].startswith("ok: speech recognition: ")
    assert "hears English (assistant.language en)" in parts["speech recognition"]
    assert parts["voice"].endswith("(22050 Hz), for English")
    assert parts["vision model"].startswith("ok: vision model: tiny-random-qwen2.5-vl-test (Qwen2.5-VL)")
    assert parts["sound library"].startswith("ok: sound library: PortAudio")
    assert parts["text reading"].startswith("ok: text reading: RapidOCR with its bundled models, ")
    assert parts["camera"] == (
        "not available: camera: I can't see: camera 57 is not connected. "
        "Plug a camera in, or set camera.source to another index or a file."
    )


def test_a_missing_whisper_model_is_reported_with_its_fix(
    config: Config, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, parts = _lines(config.with_overrides({"stt.whisper": str(tmp_path / "gone")}), capsys)
    assert code == 1
    assert parts["speech recognition"] == (
        f"missing: speech recognition: The speech model folder {tmp_path / 'gone'} is missing. "
        "Run ./setup.sh, or set stt.whisper to a faster-whisper model folder."
    )


@pytest.mark.slow
def test_no_vision_model_is_a_mode_not_a_failure(config: Config, capsys: pytest.CaptureFixture[str]) -> None:
    code, parts = _lines(config.with_overrides({"vlm.model": "", "vlm.mmproj": ""}), capsys)
    assert code == 0
    assert parts["vision model"].startswith("not available: vision model: none installed.")
    assert "reads text aloud" in parts["vision model"] and "how many faces" in parts["vision model"]
    assert "assistant models pull" in parts["vision model"]


def test_a_damaged_vision_model_is_missing(
    config: Config, tmp_path: Path, tiny_pair: TinyVLMPair, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"not a gguf")
    code, parts = _lines(config.with_overrides({"vlm.model": str(broken)}), capsys)
    assert code == 1
    assert parts["vision model"].startswith(f"missing: vision model: The vision model file {broken} is damaged")


def test_doctor_runs_from_the_command_line(config: Config, capsys: pytest.CaptureFixture[str]) -> None:
    from assistant.cli.main import main

    code = main(["doctor", "--whisper", "/nonexistent/whisper", "--voice", config.tts.voice])
    assert code == 1
    assert "required part is missing" in capsys.readouterr().out
