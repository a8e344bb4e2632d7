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
import statistics
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


WINDOW = 10
"""Turns compared at each end: the ten after the settled turn against the last ten."""


@dataclass
class TurnMemory:
    turn: int
    resting_mb: float
    """Resident memory as the turn is logged: what the process keeps between questions."""
    peak_mb: float
    """The highest resident memory during the turn (the kernel's high-water mark, reset after every turn)."""
    fds: int


@dataclass
class Soak:
    turns: int
    samples: list[TurnMemory] = field(default_factory=list)
    log_lines: int = 0
    valid_lines: int = 0
    exit_code: int = 0

    def at(self, turn: int) -> TurnMemory:
        """The first sample with at least `turn` turns logged."""
        return next((sample for sample in self.samples if sample.turn >= turn), self.samples[-1])

    @property
    def settled_turn(self) -> int:
        return min(50, max(1, self.turns // 2))

    def _window(self, first: int) -> list[TurnMemory]:
        return [sample for sample in self.samples if first <= sample.turn < first + WINDOW]

    def _growth(self, measure: str) -> float:
        """The median of `measure` over the last ten turns, over its median over the ten from the settled turn."""
        settled = statistics.median(getattr(s, measure) for s in self._window(self.settled_turn))
        last = statistics.median(getattr(s, measure) for s in self._window(self.turns - WINDOW + 1))
        return (last - settled) / settled

    @property
    def resting_growth(self) -> float:
        return self._growth("resting_mb")

    @property
    def peak_growth(self) -> float:
        return self._growth("peak_mb")

    @property
    def fd_growth(self) -> int:
        return self.at(self.turns).fds - self.at(self.settled_turn).fds


def _memory_mb() -> tuple[float, float]:
    """Resident memory now and its high-water mark, in MB; then the mark is reset to now (Linux clear_refs)."""
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    resident, peak = (int(status[key].split()[0]) / 1024 for key in ("VmRSS", "VmHWM"))
    Path("/proc/self/clear_refs").write_text("5")
    return resident, peak


def _count_lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except OSError:
        return 0


def soak(turns: int, folder: Path, every_s: float = 0.02) -> Soak:
    """Run `turns` turns in this process; as each turn is logged (the log is looked at every `every_s` seconds),
    note the resident memory, the turn's peak and the open file descriptors."""
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
        size, logged = 0, 0
        while not done.wait(every_s):
            now_size = log.stat().st_size if log.exists() else size
            if now_size == size:
                continue
            size, now_logged = now_size, _count_lines(log)
            if now_logged > logged:
                logged = now_logged
                resident, peak = _memory_mb()
                result.samples.append(TurnMemory(logged, resident, peak, len(os.listdir("/proc/self/fd"))))

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
    print(f"{'turn':>6}{'resting MB':>12}{'turn peak MB':>14}{'open fds':>10}")
    marks = sorted({1, result.settled_turn, *range(100, args.turns + 1, max(100, args.turns // 10)), args.turns})
    for turn in marks:
        sample = result.at(turn)
        print(f"{turn:>6}{sample.resting_mb:>12.0f}{sample.peak_mb:>14.0f}{sample.fds:>10}")
    settled = [sample for sample in result.samples if sample.turn >= result.settled_turn]
    highest = max(settled, key=lambda sample: sample.peak_mb)
    print(f"highest turn peak after turn {result.settled_turn}: {highest.peak_mb:.0f} MB, turn {highest.turn}")
    later = f"the last {WINDOW} turns against turns {result.settled_turn}-{result.settled_turn + WINDOW - 1}, medians"
    checks = [
        (f"resting memory grows < 5% ({later})", f"{result.resting_growth * 100:+.1f}%", result.resting_growth < 0.05),
        ("a turn's peak grows < 5% (the same)", f"{result.peak_growth * 100:+.1f}%", result.peak_growth < 0.05),
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
