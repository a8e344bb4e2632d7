"""A long day's use: many turns through `assistant run` with files and the tiny model, watching memory and files.

    .venv/bin/python benchmarks/soak.py [--turns 1000]

The real loop, in this process, as `assistant run --audio-in … --camera … --audio-out … --log-turns …` runs it:
whisper hears each spoken question (three, in turn), the camera is a picture file, the tiny random-weight pair
answers (24 tokens), Piper speaks into WAV files. A sampler reads the process's resident memory and its open file
descriptors as the turn log grows. It prints them along the way and checks: resident memory never rises more
than 5% over what it was at the 50th turn (half way, for a shorter run); open file descriptors do not
grow; the turn log holds one valid JSON line per turn. A 100-turn run is in the test suite (tests/test_soak.py).
"""

from __future__ import annotations

import llama_cpp  # noqa: F401  # before numpy: see assistant/think/native.py

# isort: split
import argparse
import json
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2
import numpy as np

from assistant.cli.main import main as assistant_main
from assistant.config import Config
from assistant.speak.sinks import wav_bytes
from assistant.think.models import voice_path, whisper_path
from tools.tiny_vlm import write_tiny_vlm

QUESTIONS = ("What is in front of me?", "Is it the blue one?", "Where is the door?")


@dataclass
class Soak:
    turns: int
    samples: list[tuple[int, float, int]] = field(default_factory=list)
    """(turns logged, resident MB, open file descriptors), in time order."""
    log_lines: int = 0
    valid_lines: int = 0
    exit_code: int = 0

    def at(self, turn: int) -> tuple[float, int]:
        """Resident MB and file descriptors at the first sample with at least `turn` turns logged."""
        for logged, rss, fds in self.samples:
            if logged >= turn:
                return rss, fds
        _, rss, fds = self.samples[-1]
        return rss, fds

    @property
    def settled_turn(self) -> int:
        return min(50, max(1, self.turns // 2))

    @property
    def growth(self) -> float:
        """The highest resident memory after the settled turn, over that turn's."""
        start = self.at(self.settled_turn)[0]
        return (max(rss for logged, rss, _ in self.samples if logged >= self.settled_turn) - start) / start

    @property
    def fd_growth(self) -> int:
        return self.at(self.turns)[1] - self.at(self.settled_turn)[1]


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _count_lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except OSError:
        return 0


def soak(turns: int, folder: Path, every_s: float = 0.5) -> Soak:
    """Run `turns` turns in this process, sampling memory and descriptors every `every_s` seconds."""
    from assistant.cli.factory import make_synthesizer

    pair = write_tiny_vlm(folder / "tiny", "qwen3-vl")
    config = Config().with_overrides({"tts.noise_scale": 0.0, "tts.noise_w_scale": 0.0})
    synthesizer = make_synthesizer(config)
    wavs = []
    for index, question in enumerate(QUESTIONS):
        wav = folder / f"q{index}.wav"
        wav.write_bytes(wav_bytes(list(synthesizer.synthesize(question))))
        wavs.append(wav)
    picture = folder / "room.png"
    image = np.full((480, 640, 3), (60, 120, 170), np.uint8)
    cv2.putText(image, "EXIT", (220, 260), cv2.FONT_HERSHEY_SIMPLEX, 3, (255, 255, 255), 6)
    cv2.imwrite(str(picture), image)
    settings = folder / "config.toml"
    settings.write_text(
        f'[paths]\nmodels_dir = "{folder}"\n[tts]\nvoice = "{voice_path(config)}"\nnoise_scale = 0\nnoise_w_scale = 0\n'
        "[vlm]\ntemperature = 0\nmax_tokens = 24\nn_ctx = 2048\n"
    )
    log, out = folder / "turns.jsonl", folder / "answers"
    result = Soak(turns)
    done = threading.Event()

    def sample() -> None:
        while not done.wait(every_s):
            result.samples.append((_count_lines(log), _rss_mb(), len(os.listdir("/proc/self/fd"))))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        questions = [str(wavs[i % len(wavs)]) for i in range(turns)]
        files = ["--camera", str(picture), "--audio-out", str(out), "--log-turns", str(log), "--audio-in", *questions]
        models = ["--model", str(pair.model), "--mmproj", str(pair.mmproj), "--whisper", str(whisper_path(config))]
        result.exit_code = assistant_main(["run", "--config", str(settings), *models, *files])
    finally:
        done.set()
        sampler.join()
    lines = log.read_text().splitlines()
    result.log_lines = len(lines)
    result.valid_lines = sum(1 for line in lines if isinstance(json.loads(line), dict))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=1000)
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        result = soak(args.turns, Path(tmp))
    print(f"{args.turns} turns in {time.perf_counter() - started:.0f} s, exit status {result.exit_code}")
    print(f"{'turn':>6}{'resident MB':>13}{'open fds':>10}")
    marks = sorted({1, result.settled_turn, *range(100, args.turns + 1, max(100, args.turns // 10)), args.turns})
    for turn in marks:
        rss, fds = result.at(turn)
        print(f"{turn:>6}{rss:>13.0f}{fds:>10}")
    checks = [
        (
            f"resident memory grows < 5% after turn {result.settled_turn}",
            f"{result.growth * 100:+.1f}%",
            result.growth < 0.05,
        ),
        ("open file descriptors do not grow", f"{result.fd_growth:+d}", result.fd_growth <= 0),
        (
            f"the turn log holds {args.turns} valid lines",
            f"{result.valid_lines} of {result.log_lines}",
            result.valid_lines == result.log_lines == args.turns,
        ),
    ]
    for name, value, ok in checks:
        print(f"  {name}: {value}  {'met' if ok else 'NOT MET'}")
    return 0 if all(ok for _, _, ok in checks) and result.exit_code == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
