"""Does encoding the picture while whisper transcribes save time on this machine?

    .venv/bin/python benchmarks/overlap.py [--scale 1.0] [--repeats 3]

The frame is grabbed at release, so its encoding could start then, beside transcription. This times
transcribing a spoken question and encoding a 640 x 480 frame with the Qwen3-VL-2B-shaped mmproj, one
after the other and at the same time (the encoder in a thread), and prints the medians.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import wave
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tools/ lives beside benchmarks/ in the checkout

from assistant.cli.factory import make_synthesizer, make_transcriber
from assistant.config import Config
from assistant.core.types import Frame
from assistant.hear.audio import WavFileSource
from assistant.see.camera import frame_data_url
from assistant.think.machine import usable_cores
from assistant.think.vlm import LocalVisionChat
from tools.shape_vlm import add_pair_arguments, write_shape_vlm


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_pair_arguments(parser)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    pair = write_shape_vlm(args.models_out, args.scale)
    config = Config().with_overrides({"tts.noise_scale": 0.0, "tts.noise_w_scale": 0.0})
    synthesizer = make_synthesizer(config)
    speech = np.concatenate([c.samples for c in synthesizer.synthesize("What is written on the sign in front of me?")])
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "question.wav"
        with wave.open(str(wav), "wb") as f:
            f.setnchannels(1)
            f.setsampwidth(2)
            f.setframerate(synthesizer.sample_rate)
            f.writeframes((np.clip(speech, -1, 1) * 32767).astype("<i2").tobytes())
        source = WavFileSource([wav])
        source.start()
        clip = source.stop()  # at 16 kHz, as the microphone gives it
    transcriber = make_transcriber(config)
    vlm = LocalVisionChat(pair.model, pair.mmproj, n_ctx=2048)
    handler, mtmd = vlm.handler, vlm.handler._mtmd_cpp
    image = np.full((480, 640, 3), 128, np.uint8)
    image[100:300, 100:400] = (0, 200, 255)
    messages = [
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": frame_data_url(Frame(image))}}]}
    ]

    def encode() -> None:
        chunks = handler.tokenize_prompt(vlm.llm, messages)
        try:
            for i in range(mtmd.mtmd_input_chunks_size(chunks)):
                chunk = mtmd.mtmd_input_chunks_get(chunks, i)
                if mtmd.mtmd_input_chunk_get_type(chunk) != mtmd.MTMD_INPUT_CHUNK_TYPE_TEXT:
                    assert mtmd.mtmd_encode_chunk(handler.mtmd_ctx, chunk) == 0
        finally:
            mtmd.mtmd_input_chunks_free(chunks)

    def timed(step: object) -> float:
        started = time.perf_counter()
        step()  # type: ignore[operator]
        return (time.perf_counter() - started) * 1000

    transcriber.transcribe(clip)  # warm-up
    encode()
    results: dict[str, list[float]] = {"transcribe alone": [], "encode alone": [], "one after the other": []}
    results["at the same time"] = []
    for _ in range(args.repeats):
        results["transcribe alone"].append(timed(lambda: transcriber.transcribe(clip)))
        results["encode alone"].append(timed(encode))
        results["one after the other"].append(timed(lambda: (transcriber.transcribe(clip), encode())))

        def both() -> None:
            encoder = threading.Thread(target=encode)
            encoder.start()
            transcriber.transcribe(clip)
            encoder.join()

        results["at the same time"].append(timed(both))
    vlm.close()
    print(f"{usable_cores()} cores; {pair.mmproj.name}; medians of {args.repeats}")
    for name, values in results.items():
        print(f"{name:<22}{statistics.median(values):>9.0f} ms   ({', '.join(f'{v:.0f}' for v in values)})")
    saved = statistics.median(results["one after the other"]) - statistics.median(results["at the same time"])
    print(f"overlap saves {saved:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
