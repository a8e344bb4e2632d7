"""The real microphone and speaker classes through real PortAudio and ALSA, on ALSA 'file' devices that a
private ~/.asoundrc defines: capture reads a file of samples, playback writes one. PortAudio reads the
device list once per process, so each check runs in a fresh interpreter."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.devices

ASOUNDRC = """
pcm.!default {{
    type asym
    playback.pcm "speaker_file"
    capture.pcm "microphone_file"
}}
pcm.speaker_file {{
    type file
    slave.pcm "null"
    file "{out}"
    format "raw"
}}
pcm.microphone_file {{
    type file
    slave.pcm "null"
    file "/dev/null"
    infile "{inp}"
    format "raw"
}}
"""


@pytest.fixture
def alsa_home(tmp_path: Path) -> Path:
    (tmp_path / ".asoundrc").write_text(ASOUNDRC.format(out=tmp_path / "played.raw", inp=tmp_path / "heard.raw"))
    t = np.arange(16000 * 3) / 16000
    (0.25 * np.sin(2 * np.pi * 440 * t)).astype("<f4").tofile(tmp_path / "heard.raw")
    return tmp_path


def _run(home: Path, code: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=home,
        env={**os.environ, "HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_the_microphone_records_through_portaudio_and_stops_at_its_cap(alsa_home: Path) -> None:
    report = _run(
        alsa_home,
        """
        import json, time
        import numpy as np
        from assistant.hear.audio import MicrophoneSource
        microphone = MicrophoneSource(max_seconds=2.0)
        name = microphone.check()
        microphone.start()
        time.sleep(0.5)
        clip = microphone.stop()
        peak = float(np.abs(clip.samples).max())
        print(json.dumps({"name": name, "rate": clip.sample_rate, "seconds": clip.duration_s, "peak": peak}))
        """,
    )
    assert report["rate"] == 16000
    assert report["seconds"] == pytest.approx(2.0), "recording stops at max_record_s"
    assert report["peak"] == pytest.approx(0.25, abs=0.01), "the samples are the file's"


def test_the_speaker_plays_through_portaudio_and_an_interruption_drops_the_rest(alsa_home: Path) -> None:
    report = _run(
        alsa_home,
        """
        import json, os, threading
        import numpy as np
        from assistant.speak.sinks import SpeakerSink
        from assistant.core.types import AudioChunk
        speaker = SpeakerSink()
        name = speaker.check()
        tone = AudioChunk((0.2 * np.sin(np.arange(22050) / 10)).astype(np.float32), 22050)
        played = speaker.play([tone, tone])
        whole = os.path.getsize("played.raw") // 4  # the device file starts afresh with each stream
        cancel = threading.Event()
        def chunks():
            yield tone
            cancel.set()
            yield tone
        interrupted = speaker.play(chunks(), cancel)
        cut = os.path.getsize("played.raw") // 4
        print(json.dumps({"name": name, "played": played, "interrupted": interrupted, "whole": whole, "cut": cut}))
        """,
    )
    assert (report["name"], report["played"], report["interrupted"]) == ("default", 2, 1)
    assert report["whole"] == 2 * 22050, "both tones reached the device"
    assert report["cut"] == 22050, "after the interruption, nothing more did"
    written = np.fromfile(alsa_home / "played.raw", dtype="<f4")
    assert np.abs(written).max() == pytest.approx(0.2, abs=0.01)


def test_doctor_finds_the_microphone_and_speaker_and_lists_the_devices(alsa_home: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from assistant.cli.main import main; sys.exit(main(['doctor']))"],
        cwd=alsa_home,
        env={**os.environ, "HOME": str(alsa_home)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = result.stdout.splitlines()
    assert "ok: microphone: default" in lines
    assert "ok: speaker: default" in lines
    assert "  sound device 0: speaker_file (128 in, 128 out)" in lines
