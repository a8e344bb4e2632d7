"""Latency of whole turns through the real loop, driven by files, streamed and naive, with barge-in.

    .venv/bin/python benchmarks/latency.py [--turns N] [--model GGUF --mmproj GGUF] [--family qwen3-vl]

Three runs over the same models, in one process:
- streamed: the loop as users get it, tokens → sentences → speech → sink, each stage in its own thread;
  with the tiny model, then with scripted sentences paced like a full-size model (see ScriptedSentences);
- naive: the whole answer generated, then wholly synthesised, then played;
- barge-in: answers played in real time and interrupted 0.3 s into their speech, timing how long the
  sound goes on after the press.

Without --model it writes the tiny random-weight test pair: its timings show the pipeline's own costs,
not what a real vision model costs.

    .venv/bin/python benchmarks/latency.py --model-shape qwen3-vl-2b [--scale 1.0] [--rounds 2]

instead runs conversations on a random-weight model of Qwen3-VL-2B's real size, keeping the KV prefix
between turns against evaluating every turn from scratch (see shape_latency.py), and

    .venv/bin/python benchmarks/latency.py --model-shape qwen3-vl-2b --new-frame [--scale 1.0] [--rounds 2]

asks every question about a new picture, spoken at its real pace, against the path before image budgets,
preparing at the press and the warm start (see new_frame.py).
"""

from __future__ import annotations

import llama_cpp  # noqa: F401  # before numpy: see assistant/think/native.py

# isort: split
import argparse
import json
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import new_frame  # beside this script
import numpy as np
import shape_latency  # beside this script

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tools/ lives beside benchmarks/ in the checkout

from assistant.cli.factory import (
    assemble_engine,
    make_synthesizer,
    make_transcriber,
    make_vision_chat,
)
from assistant.cli.loop import PushToTalkLoop
from assistant.config import Config
from assistant.core.turn import AnswerOptions, TurnControl
from assistant.core.turnlog import TurnLog
from assistant.core.types import Frame
from assistant.hear.audio import WavFileSource
from assistant.hear.keys import ScriptedKeys
from assistant.see.camera import VideoFileSource
from assistant.speak.sinks import WavFileSink, wav_bytes
from tools.tiny_vlm import FAMILIES, write_tiny_vlm

QUESTIONS = ["What is in front of me?", "Is it the blue one?", "Where is it?"]
STAGES = ["stt", "vlm_first_token", "vlm_total", "tts_first_chunk", "first_audio"]


def _inputs(folder: Path, config: Config) -> tuple[list[Path], Path]:
    synthesizer = make_synthesizer(config)
    wavs = []
    for index, question in enumerate(QUESTIONS):
        path = folder / f"q{index}.wav"
        path.write_bytes(wav_bytes(list(synthesizer.synthesize(question))))
        wavs.append(path)
    video = folder / "scene.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (640, 480))
    for index in range(30):
        frame = np.full((480, 640, 3), (30 + 5 * index, 80, 150), np.uint8)
        cv2.putText(frame, f"PLATFORM {index % 9}", (60, 240), cv2.FONT_HERSHEY_SIMPLEX, 2, (255, 255, 255), 4)
        writer.write(frame)
    writer.release()
    return wavs, video


SCRIPT = (
    "A white mug stands on the table, about an arm's length ahead. It is half full of coffee. "
    "To its right, at two o'clock, there is a folded newspaper. The handle of the mug points towards you. "
    "Nothing else is on the table."
)


class ScriptedSentences:
    """English sentences at a full-size model's decode pace, one word-piece every `decode_ms`. The tiny
    model's answers have no sentence ends, so they cannot show what streaming does for a real answer;
    this stand-in, labelled as such in the output, can."""

    def __init__(self, counter: Any, decode_ms: float) -> None:
        self.counter = counter
        self.decode_s = decode_ms / 1000

    def stream(self, messages: list[dict[str, Any]], preset: Any) -> Iterator[str]:
        for word in SCRIPT.split(" "):
            time.sleep(self.decode_s)
            yield word + " "

    def count_tokens(self, messages: list[dict[str, Any]]) -> int:
        return int(self.counter.count_tokens(messages))

    def close(self) -> None:
        pass


def _stats(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


def _run_loop(parts: dict[str, Any], folder: Path, presses: list[Path], video: Path, streaming: bool) -> list[dict]:
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / f"turns-{'streamed' if streaming else 'naive'}.jsonl"
    assistant = assemble_engine(
        parts["stt"],
        parts["tts"],
        vlm=parts["vlm"],
        turn_log=TurnLog(log),
        options=AnswerOptions(temperature=0.0, max_tokens=parts["max_tokens"], streaming=streaming),
    ).session(WavFileSink(folder / f"answers-{streaming}"))
    keys = ScriptedKeys([" ", " "] * len(presses))
    PushToTalkLoop(assistant, WavFileSource(presses), VideoFileSource(video), keys, lambda line: None).run()
    return [json.loads(line) for line in log.read_text().splitlines()]


def _barge_in(parts: dict[str, Any], folder: Path, frame: Frame, turns: int) -> list[float]:
    """Milliseconds from the press to the last sound, pressing 0.3 s into each answer's speech."""
    latencies = []
    for index in range(turns):
        sink = WavFileSink(folder / f"barge-{index}", realtime=True)
        options = AnswerOptions(temperature=0.0)
        assistant = assemble_engine(parts["stt"], parts["tts"], vlm=parts["vlm"], options=options).session(sink)
        control = TurnControl()
        pressed: list[float] = []

        def press(sink: WavFileSink = sink, control: TurnControl = control, pressed: list[float] = pressed) -> None:
            while not sink.chunk_times:
                time.sleep(0.002)
            time.sleep(0.3)
            pressed.append(time.monotonic())
            control.cancel.set()

        presser = threading.Thread(target=press, daemon=True)
        presser.start()
        turn = assistant.answer_text(QUESTIONS[index % len(QUESTIONS)], frame, control=control)
        presser.join(timeout=5)
        if pressed and turn.interrupted:
            latencies.append((sink.sound_until - pressed[0]) * 1000)
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--model")
    parser.add_argument("--mmproj")
    parser.add_argument("--family", choices=FAMILIES, default="qwen3-vl")
    parser.add_argument("--max-tokens", type=int, default=256, help="answer length cap (0 keeps the presets')")
    parser.add_argument(
        "--decode-ms",
        type=float,
        default=60.0,
        help="also run scripted English sentences at this many ms a word, about a 2B model's pace on a laptop "
        "CPU (0 skips it): the tiny model's gibberish has no sentence ends, which hides what streaming is for",
    )
    shape_latency.add_arguments(parser)
    parser.add_argument(
        "--new-frame",
        action="store_true",
        help="with --model-shape: every question about a new picture, spoken at its real pace, against the path "
        "before image budgets, preparing at the press and the warm start (see new_frame.py)",
    )
    args = parser.parse_args()
    if args.model_shape and args.new_frame:
        return new_frame.run(args)
    if args.model_shape:
        return shape_latency.run(args)

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.model:
            model, mmproj, label = args.model, args.mmproj or "", Path(args.model).name
        else:
            pair = write_tiny_vlm(folder / "vlm", args.family)
            model, mmproj, label = str(pair.model), str(pair.mmproj), f"tiny random {args.family} test pair"
        config = Config().with_overrides(
            {"vlm.model": model, "vlm.mmproj": mmproj, "tts.noise_scale": 0.0, "tts.noise_w_scale": 0.0}
        )
        wavs, video = _inputs(folder, config)
        presses = [wavs[i % len(wavs)] for i in range(args.turns)]
        print(f"vision model: {label}; {args.turns} turns a run; answers capped at {args.max_tokens} tokens")
        parts: dict[str, Any] = {"max_tokens": args.max_tokens}
        for name, make in (("stt", make_transcriber), ("tts", make_synthesizer), ("vlm", make_vision_chat)):
            start = time.perf_counter()
            parts[name] = make(config)
            print(f"load {name}: {(time.perf_counter() - start) * 1000:.0f} ms")

        _run_loop(parts, folder / "warm-up", presses[:1], video, streaming=True)
        runs = {"the tiny model, at its own pace": dict(parts)}
        if args.decode_ms > 0:
            scripted = ScriptedSentences(parts["vlm"], args.decode_ms)
            runs[f"scripted sentences, {args.decode_ms:g} ms a word"] = {**parts, "vlm": scripted}
        results = {
            name: (
                _run_loop(run, folder / f"{index}", presses, video, streaming=True),
                _run_loop(run, folder / f"{index}", presses, video, streaming=False),
            )
            for index, (name, run) in enumerate(runs.items())
        }
        frame = VideoFileSource(video).grab()
        barge = _barge_in(parts, folder, frame, args.turns)
        parts["vlm"].close()

    errors = [t["error"] for streamed, naive in results.values() for t in streamed + naive if t["error"]]
    print(f"errors: {len(errors)}{' ' + repr(errors[0]) if errors else ''}")
    for name, (streamed, naive) in results.items():
        print(f"\n{len(streamed)} turns; answers from {name}")
        print(f"{'stage (ms)':<18}{'streamed median':>17}{'p90':>9}{'naive median':>15}{'p90':>9}{'ratio':>8}")
        for stage in STAGES:
            s_med, s_p90 = _stats([t["timings_ms"][stage] for t in streamed if stage in t["timings_ms"]])
            n_med, n_p90 = _stats([t["timings_ms"][stage] for t in naive if stage in t["timings_ms"]])
            ratio = s_med / n_med if n_med else float("nan")
            print(f"{stage:<18}{s_med:>17.1f}{s_p90:>9.1f}{n_med:>15.1f}{n_p90:>9.1f}{ratio:>8.2f}")
    print()
    if barge:
        b_med, b_p90 = _stats(barge)
        print(f"{'barge-in stop':<18}{b_med:>17.1f}{b_p90:>9.1f}   ({len(barge)} presses; target 100 ms)")
    else:
        print("barge-in stop: no answer lasted long enough to interrupt")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
