"""How to share the cores between whisper, the vision model and Piper in the two moments they overlap.

    .venv/bin/python benchmarks/split.py [--scale 1.0] [--repeats 3]

1. At the release, whisper transcribes the question while the vision encoder may still be taking in the picture
   prepared since the press: whisper with W threads beside the encoder with L threads (a first-look picture of
   64 image tokens), against each alone.
2. While the first sentence is spoken, Piper synthesises it while the model decodes the rest of the answer: Piper
   beside decoding with D threads, against each alone.
Medians of --repeats, on the Qwen3-VL-2B-shaped model.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tools/ lives beside benchmarks/ in the checkout

from assistant.cli.factory import make_synthesizer
from assistant.config import Config
from assistant.core.types import AudioClip, Frame
from assistant.hear.stt import SttOptions, WhisperTranscriber
from assistant.see.camera import frame_data_url, prepare_frame
from assistant.think.machine import usable_cores
from assistant.think.models import whisper_path
from assistant.think.vlm import LocalVisionChat
from tools.shape_vlm import add_pair_arguments, write_shape_vlm

QUESTION = "Could you tell me what is in front of me right now?"
FIRST_SENTENCE = "A white mug stands on the table, about an arm's length ahead."


def _ms(step: Callable[[], object]) -> float:
    started = time.perf_counter()
    step()
    return (time.perf_counter() - started) * 1000


def _side_by_side(first: Callable[[], object], second: Callable[[], object]) -> tuple[float, float]:
    """Each one's time, run at the same moment in two threads."""
    times: dict[str, float] = {}

    def run(name: str, step: Callable[[], object]) -> None:
        times[name] = _ms(step)

    other = threading.Thread(target=run, args=("second", second))
    other.start()
    run("first", first)
    other.join()
    return times["first"], times["second"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_pair_arguments(parser)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    pair = write_shape_vlm(args.models_out, args.scale)
    config = Config().with_overrides({"tts.noise_scale": 0.0, "tts.noise_w_scale": 0.0})
    synthesizer = make_synthesizer(config)
    speech = np.concatenate([c.samples for c in synthesizer.synthesize(QUESTION)])
    question = AudioClip(np.interp(np.arange(0, len(speech), 22050 / 16000), np.arange(len(speech)), speech), 16000)
    question = AudioClip(question.samples.astype(np.float32), 16000)
    image = np.full((480, 640, 3), 128, np.uint8)
    image[100:300, 100:400] = (0, 200, 255)
    picture = prepare_frame(Frame(image), 768, 64, 32)
    messages = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": frame_data_url(picture)}}]}]
    cores = usable_cores()
    print(f"{pair.model.name}; {cores} cores; question {question.duration_s:.1f} s; medians of {args.repeats}")

    print("\n1. at the release: whisper beside the encoder (a 64-token picture)")
    print(f"{'whisper':>8}{'encoder':>8}{'stt alone':>11}{'encode alone':>14}{'stt beside':>12}{'encode beside':>15}")
    whispers = {w: WhisperTranscriber(whisper_path(config), SttOptions(threads=w)) for w in sorted({1, cores})}
    for whisper in whispers.values():
        whisper.warm_up()
    for encoder_threads in sorted({1, cores}):
        vlm = LocalVisionChat(pair.model, pair.mmproj, n_ctx=2048, n_threads=encoder_threads)
        handler = vlm.handler

        def encode(handler: Any = handler, vlm: LocalVisionChat = vlm) -> None:
            handler.forget(vlm.llm)  # nothing held: the picture is encoded and read in
            handler.images.clear()
            vlm.prefill(messages)

        encode()
        for threads, whisper in whispers.items():
            alone = [_ms(lambda w=whisper: w.transcribe(question)) for _ in range(args.repeats)]
            encoded = [_ms(encode) for _ in range(args.repeats)]
            beside = [_side_by_side(lambda w=whisper: w.transcribe(question), encode) for _ in range(args.repeats)]
            print(
                f"{threads:>8}{encoder_threads:>8}{statistics.median(alone):>11.0f}{statistics.median(encoded):>14.0f}"
                f"{statistics.median([b[0] for b in beside]):>12.0f}{statistics.median([b[1] for b in beside]):>15.0f}",
                flush=True,
            )
        vlm.close()

    print("\n2. the first sentence: Piper beside the decoder")
    print(f"{'decode threads':>15}{'tts alone':>11}{'tok/s alone':>13}{'tts beside':>12}{'tok/s beside':>14}")
    import llama_cpp

    vlm = LocalVisionChat(pair.model, pair.mmproj, n_ctx=2048, n_threads=cores)
    llm = vlm.llm
    prompt = llm.tokenize(("The table " * 40).encode(), add_bos=False)
    steps = 24

    def decode() -> float:
        vlm.handler.forget(llm)
        llm.eval(prompt[:8])
        started = time.perf_counter()
        for token in prompt[8 : 8 + steps]:
            llm.eval([token])
        return steps / (time.perf_counter() - started)

    def speak() -> None:
        list(synthesizer.synthesize(FIRST_SENTENCE))

    speak()
    for threads in sorted({1, cores}):
        llama_cpp.llama_set_n_threads(llm._ctx.ctx, threads, cores)
        tts_alone = [_ms(speak) for _ in range(args.repeats)]
        rate_alone = [decode() for _ in range(args.repeats)]
        rates: list[float] = []
        beside = []
        for _ in range(args.repeats):
            tts, _ = _side_by_side(speak, lambda rates=rates: rates.append(decode()))
            beside.append(tts)
        print(
            f"{threads:>15}{statistics.median(tts_alone):>11.0f}{statistics.median(rate_alone):>13.1f}"
            f"{statistics.median(beside):>12.0f}{statistics.median(rates):>14.1f}",
            flush=True,
        )
    vlm.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
