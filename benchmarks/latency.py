"""Latency of whole turns through the real stack, driven by files, with a table of each stage's timings.

    .venv/bin/python benchmarks/latency.py [--turns N] [--model GGUF --mmproj GGUF] [--family qwen3-vl]

Without --model it writes the tiny random-weight test pair: its timings show the pipeline's own overhead,
not what a real vision model costs.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from assistant.assistant import Assistant
from assistant.audio import WavFileSink, WavFileSource
from assistant.camera import VideoFileSource
from assistant.config import Config
from assistant.devtools.tiny_vlm import FAMILIES, write_tiny_vlm
from assistant.factory import make_synthesizer, make_transcriber, make_vision_chat
from assistant.loop import PushToTalkLoop, ScriptedKeys
from assistant.memory import Conversation
from assistant.turnlog import TurnLog

QUESTIONS = ["What is in front of me?", "Is it the blue one?", "Read the sign for me."]
STAGES = ["record", "frame", "stt", "vlm_first_token", "vlm_total", "tts_first_chunk", "tts_total", "first_audio"]


def _write_inputs(folder: Path, config: Config) -> tuple[list[Path], Path]:
    import wave

    synthesizer = make_synthesizer(config)
    wavs = []
    for index, question in enumerate(QUESTIONS):
        audio = np.concatenate([chunk.samples for chunk in synthesizer.synthesize(question)])
        path = folder / f"q{index}.wav"
        with wave.open(str(path), "wb") as f:
            f.setnchannels(1)
            f.setsampwidth(2)
            f.setframerate(synthesizer.sample_rate)
            f.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
        wavs.append(path)
    video = folder / "scene.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (640, 480))
    for index in range(30):
        frame = np.full((480, 640, 3), (30 + 5 * index, 80, 150), np.uint8)
        cv2.putText(frame, f"PLATFORM {index % 9}", (60, 240), cv2.FONT_HERSHEY_SIMPLEX, 2, (255, 255, 255), 4)
        writer.write(frame)
    writer.release()
    return wavs, video


def _timed(label: str, make):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    value = make()
    print(f"load {label}: {(time.perf_counter() - start) * 1000:.0f} ms")
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=6)
    parser.add_argument("--model")
    parser.add_argument("--mmproj")
    parser.add_argument("--family", choices=FAMILIES, default="qwen3-vl")
    parser.add_argument("--max-tokens", type=int, default=32, help="answer length cap (0 keeps the presets')")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.model:
            model, mmproj, label = args.model, args.mmproj or "", Path(args.model).name
        else:
            pair = write_tiny_vlm(folder / "vlm", args.family)
            model, mmproj, label = str(pair.model), str(pair.mmproj), f"tiny random {args.family} test pair"
        config = Config().with_overrides(
            {
                "vlm.model": model,
                "vlm.mmproj": mmproj,
                "vlm.temperature": 0.0,
                "vlm.max_tokens": args.max_tokens,
                "tts.noise_scale": 0.0,
                "tts.noise_w_scale": 0.0,
            }
        )
        wavs, video = _write_inputs(folder, config)
        presses = [wavs[i % len(wavs)] for i in range(args.turns)]

        print(f"vision model: {label}; {args.turns} turns; answers capped at {args.max_tokens} tokens")
        transcriber = _timed("whisper", lambda: make_transcriber(config))
        synthesizer = _timed("piper", lambda: make_synthesizer(config))
        vision = _timed("vlm", lambda: make_vision_chat(config))
        log_path = folder / "turns.jsonl"
        assistant = Assistant(
            transcriber,
            synthesizer,
            WavFileSink(folder / "answers"),
            vlm=vision,
            conversation=Conversation(),
            turn_log=TurnLog(log_path),
            n_ctx=config.vlm.n_ctx,
            temperature_override=0.0,
            max_tokens_cap=args.max_tokens,
        )
        keys = ScriptedKeys([" ", " "] * len(presses))
        loop = PushToTalkLoop(assistant, WavFileSource(presses), VideoFileSource(video), keys, lambda line: None)
        start = time.perf_counter()
        loop.run()
        wall = time.perf_counter() - start
        if vision is not None:
            vision.close()
        turns = [json.loads(line) for line in log_path.read_text().splitlines()]

    errors = [t["error"] for t in turns if t["error"]]
    print(f"turns: {len(turns)}, errors: {len(errors)}{' ' + repr(errors[0]) if errors else ''}")
    print(f"{'stage (ms)':<18}{'median':>10}{'p90':>10}{'max':>10}")
    for stage in STAGES:
        values = sorted(t["timings_ms"][stage] for t in turns if stage in t["timings_ms"])
        if values:
            p90 = values[min(len(values) - 1, round(0.9 * (len(values) - 1)))]
            print(f"{stage:<18}{statistics.median(values):>10.1f}{p90:>10.1f}{values[-1]:>10.1f}")
    stage_sum = statistics.median(
        t["timings_ms"]["stt"] + t["timings_ms"]["vlm_total"] + t["timings_ms"]["tts_total"] for t in turns
    )
    print(f"loop wall time: {wall * 1000 / len(turns):.0f} ms a turn (stt + vlm + tts median: {stage_sum:.0f} ms)")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
