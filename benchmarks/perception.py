"""Time of reading and of the model-free checks, per camera frame, on this machine.

    .venv/bin/python benchmarks/perception.py [--runs N]

- OCR (RapidOCR, bundled models) on a frame with a letter in it and on a photo with no text, at 640x480 and
  1280x720; the engine's start-up is shown apart, as it is paid once;
- light + colour + quality (luminance, the centre's colour, blur and exposure) together: the target is under
  20 ms a frame;
- face counting (Haar cascade), used only when there is no vision model;
- burst selection: the sharpest of 5 frames;
- live text (`assistant live`) on a rendered video played at its pace (tools/live_video.py: a blank wall, a sign,
  another sign, a page of small text), the real voice into WAV files at a speaker's pace: for each text, when it
  came into view, was read, and began to be spoken. The target is 1.0 s median from appearing to the first word.

Each number is the median of the runs, after one warm-up run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont
from skimage import data

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tools/ lives beside benchmarks/ in the checkout

from assistant.cli.factory import make_synthesizer
from assistant.config import Config
from assistant.core.live import LiveReader
from assistant.core.phrases import BOOKS
from assistant.see import perception
from assistant.see.camera import PacedVideoSource
from assistant.see.ocr import TextReader
from assistant.speak.sinks import WavFileSink
from tools.live_video import appears_ms, write_live_video

LETTER = [
    "Dear Ms. Smith,",
    "Thank you for your letter of 3 May.",
    "Your order 4521 shipped today",
    "and should arrive by Friday.",
    "Yours sincerely, John Carter",
]
SIZES = [(640, 480), (1280, 720)]
LIVE_TARGET_MS = 1000.0
COLUMNS = [("OCR letter", 11), ("OCR photo", 10), ("light+colour+quality", 21), ("faces", 7), ("burst of 5", 11)]


def _letter(width: int, height: int) -> np.ndarray:
    size = height // 20
    image = Image.new("RGB", (width, height), (235, 235, 235))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=size)
    for i, line in enumerate(LETTER):
        draw.text((width // 10, height // 8 + round(i * size * 1.6)), line, fill=(20, 20, 20), font=font)
    return cv2.cvtColor(np.array(image), cv2.COLOR_RGB2BGR)


def _photo(width: int, height: int) -> np.ndarray:
    return cv2.resize(cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR), (width, height), interpolation=cv2.INTER_AREA)


def _median_ms(work: Callable[[], object], runs: int) -> float:
    work()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _checks(image: np.ndarray) -> None:
    checked = perception.quality(image)
    BOOKS["en"].light(checked.luminance)
    perception.dominant_colour(image)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="timed runs per OCR number (the others run 10x more)")
    args = parser.parse_args()
    runs = max(1, args.runs)

    reader = TextReader()
    started = time.perf_counter()
    reader.read(_letter(640, 480))
    print(f"OCR engine start-up and first frame: {(time.perf_counter() - started) * 1000:.0f} ms (paid once)")
    print()
    print(f"{'frame':<10} " + " ".join(f"{name:>{width}}" for name, width in COLUMNS))
    for width, height in SIZES:
        letter, photo = _letter(width, height), _photo(width, height)
        read = reader.read(letter)
        if read.text.replace("\n", " ") != " ".join(LETTER):
            print(f"note: at {width}x{height} the letter was read as {read.text!r}")
        if reader.read(photo):
            print(f"note: at {width}x{height} text was found in the photo")
        burst = [cv2.GaussianBlur(photo, (0, 0), sigma) if sigma else photo for sigma in (3, 1, 0, 2, 4)]
        faces = perception.FaceCounter()
        numbers = [
            _median_ms(lambda image=letter: reader.read(image), runs),
            _median_ms(lambda image=photo: reader.read(image), runs),
            _median_ms(lambda image=photo: _checks(image), runs * 10),
            _median_ms(lambda image=photo, counter=faces: counter.count(image), runs * 10),
            _median_ms(lambda frames=burst: perception.sharpest(frames), runs * 10),
        ]
        cells = " ".join(f"{number:>{column[1]}.1f}" for number, column in zip(numbers, COLUMNS, strict=True))
        print(f"{f'{width}x{height}':<10} {cells}")
    print()
    print("All times in ms, median. Target for light+colour+quality: under 20 ms.")
    print()
    _live(reader)
    return 0


def _live(reader: TextReader) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        video = write_live_video(Path(tmp) / "live.avi")
        synthesizer = make_synthesizer(Config())
        live = LiveReader(
            PacedVideoSource(video), reader, synthesizer, WavFileSink(Path(tmp) / "out", realtime=True), BOOKS["en"]
        )
        live.run(threading.Event())
    print("Live text on a rendered video, at its pace (ms of video time):")
    print(f"{'text':<34} {'in view':>8} {'read':>8} {'spoken':>8} {'delay':>8}")
    delays = []
    for (scene, shown_ms), heard in zip(appears_ms(), live.heard, strict=False):
        spoken = heard.t_spoken_ms if heard.t_spoken_ms is not None else float("nan")
        delays.append(spoken - shown_ms)
        first = scene.lines[0][:32]
        print(f"{first:<34} {shown_ms:>8.0f} {heard.t_seen_ms:>8.0f} {spoken:>8.0f} {spoken - shown_ms:>8.0f}")
    said = [heard.text.replace("\n", " / ")[:60] for heard in live.heard]
    if len(live.heard) != len(appears_ms()):
        print(f"note: {len(live.heard)} readings for {len(appears_ms())} texts: {said}")
    median = statistics.median(delays)
    verdict = "met" if median <= LIVE_TARGET_MS else "NOT met"
    print(f"from appearing to the first word: {median:.0f} ms median (target {LIVE_TARGET_MS:.0f} ms): {verdict}")


if __name__ == "__main__":
    raise SystemExit(main())
