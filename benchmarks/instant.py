"""The text in view said at once: time from release to the first word, with and without `ocr.say_first`.

    .venv/bin/python benchmarks/instant.py [--model-shape NAME [--quant Q]] [--rounds N]

Each round asks "What is in front of me?" about a new picture of a shop sign, spoken (Piper) through the
file-backed microphone at its real pace and held for as long as it lasts, with the camera's picture taken at the
press, through the real loop (whisper, OCR, the VLM, Piper). Two paths take turns on the same loaded model:
- say first (the default): the sign's text is read while the question is spoken and said at once, then the
  model's answer;
- model only (`ocr.say_first = false`): the first word is the model's.
The model is the tiny random-weight test model unless --model-shape names a catalog model, whose random-weight
copy of the real size is written and cached on first use; its answers are steered onto a fixed English text.
Targets: the instant part heard within 1.0 s of release; the model's first word no later than without it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import new_frame  # beside this script
import numpy as np
import shape_latency  # beside this script
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tools/ lives beside benchmarks/ in the checkout

from assistant.cli.factory import assemble_engine, make_synthesizer, make_transcriber, warm_up
from assistant.cli.loop import PushToTalkLoop
from assistant.cli.runner import DiscardSink
from assistant.config import Config
from assistant.core.turn import AnswerOptions
from assistant.core.turnlog import TurnLog
from assistant.core.types import Frame
from assistant.hear.audio import WavFileSource, read_audio_file
from assistant.hear.keys import ScriptedKeys
from assistant.see.ocr import TextReader
from assistant.speak.sinks import wav_bytes
from assistant.think.machine import usable_cores
from assistant.think.vlm import LocalVisionChat
from tools.tiny_vlm import write_tiny_vlm

QUESTION = "What is in front of me?"
SIGNS = [
    ("PHARMACY", "Open until 9 pm"),
    ("BAKERY", "Fresh bread daily"),
    ("POST OFFICE", "Closed on Sundays"),
    ("FLORIST", "Roses 2 for 1"),
    ("BOOKSHOP", "Second floor"),
]
STAGES = ["stt", "ocr", "prepare_wait", "prefill", "vlm_first_token", "instant_audio", "answer_audio", "first_audio"]
TARGET_MS = 1000.0


class SignCamera:
    """The same shop sign at every grab of one round: a 640x480 camera picture, with a little sensor noise."""

    def __init__(self, index: int) -> None:
        image = Image.new("RGB", (640, 480), (70, 110, 90))
        draw = ImageDraw.Draw(image)
        draw.rectangle((60, 120, 580, 360), fill=(240, 238, 230))
        for row, (line, size) in enumerate(zip(SIGNS[index % len(SIGNS)], (56, 32), strict=True)):
            font = ImageFont.load_default(size=size)
            left = (640 - round(draw.textlength(line, font=font))) // 2
            draw.text((left, 170 + row * 90), line, fill=(20, 20, 20), font=font)
        noise = np.random.default_rng(index).normal(0, 2, (480, 640, 3))
        picture = np.clip(np.asarray(image, np.float64) + noise, 0, 255).astype(np.uint8)
        self.frame = Frame(cv2.cvtColor(picture, cv2.COLOR_RGB2BGR), source="camera")

    def grab(self) -> Frame:
        return self.frame

    def close(self) -> None:
        pass


def _turn(config: Config, vlm: LocalVisionChat, folder: Path, wav: Path, index: int, say_first: bool) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    chat = new_frame.SteeredPreparingChat(vlm, fresh=False)
    log = folder / "turns.jsonl"
    options = AnswerOptions(n_ctx=vlm.n_ctx, temperature=0.0, max_tokens=40, say_first=say_first)
    transcriber, synthesizer = make_transcriber(config), make_synthesizer(config)
    reader = TextReader()
    engine = assemble_engine(transcriber, synthesizer, vlm=chat, reader=reader, turn_log=TurnLog(log), options=options)
    warm_up(engine, transcriber, synthesizer)
    reader.read(np.full((32, 32, 3), 255, np.uint8))
    keys = ScriptedKeys([" ", (read_audio_file(wav).duration_s, " ")])
    microphone = WavFileSource([wav], realtime=True)
    PushToTalkLoop(engine.session(DiscardSink()), microphone, SignCamera(index), keys, lambda line: None).run()
    turn = json.loads(log.read_text())
    if turn["error"]:
        raise RuntimeError(turn["error"])
    return turn


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    shape_latency.add_arguments(parser)
    parser.set_defaults(rounds=3)
    args = parser.parse_args()
    started = time.perf_counter()
    config = Config().with_overrides({"tts.noise_scale": 0.0, "tts.noise_w_scale": 0.0})
    results: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        pair = shape_latency.shape_pair(args) if args.model_shape else write_tiny_vlm(folder / "tiny")
        vlm = LocalVisionChat(pair.model, pair.mmproj, n_ctx=config.vlm.n_ctx, n_threads=args.threads, seed=0)
        wav = folder / "question.wav"
        wav.write_bytes(wav_bytes(list(make_synthesizer(config).synthesize(QUESTION))))
        print(
            f"{usable_cores()} cores; model {pair.model.name}; question of {read_audio_file(wav).duration_s:.1f} s "
            f"played at its pace; {args.rounds} rounds a path, each on a new sign",
            flush=True,
        )
        for index in range(args.rounds):
            for say_first in (True, False):
                vlm.handler.forget(vlm.llm)
                vlm.handler.images.clear()
                turn = _turn(config, vlm, folder / f"{index}-{say_first}", wav, index, say_first)
                results[say_first].append(turn)
            print(f"round {index + 1}: {time.perf_counter() - started:.0f} s so far", flush=True)
        vlm.close()
    print()
    print(f"{'path':<12} " + " ".join(f"{stage:>15}" for stage in STAGES))
    for say_first, label in ((True, "say first"), (False, "model only")):
        cells = []
        for stage in STAGES:
            values = [turn["timings_ms"][stage] for turn in results[say_first] if stage in turn["timings_ms"]]
            cells.append(f"{statistics.median(values):>15.0f}" if values else f"{'-':>15}")
        print(f"{label:<12} " + " ".join(cells))
    print()
    said = results[True][0]["instant"]
    print(f"said first, e.g.: {said!r}")
    instant = statistics.median(turn["timings_ms"]["instant_audio"] for turn in results[True])
    model_with = statistics.median(turn["timings_ms"]["answer_audio"] for turn in results[True])
    model_without = statistics.median(turn["timings_ms"]["first_audio"] for turn in results[False])
    verdict = "met" if instant <= TARGET_MS else "NOT met"
    print(f"instant part heard {instant:.0f} ms after release (target {TARGET_MS:.0f} ms): {verdict}")
    print(f"the model's first word: {model_with:.0f} ms with the text said first, {model_without:.0f} ms without")
    voice = make_synthesizer(config)
    lead_ms = sum(len(chunk.samples) for chunk in voice.synthesize(said)) / voice.sample_rate * 1000
    print(
        f"what is said first lasts {lead_ms:.0f} ms, so the first sound comes {model_without - instant:.0f} ms "
        f"sooner and the model's answer follows it after {max(0.0, model_with - instant - lead_ms):.0f} ms of quiet"
    )
    print("All times in ms from release, median.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
