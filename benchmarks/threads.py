"""Which n_threads, n_batch and n_ubatch suit this machine, on the Qwen3-VL-2B-shaped model.

    .venv/bin/python benchmarks/threads.py [--scale 1.0] [--prompt-tokens 400]

For each setting it loads a context, then times: a text prefill of --prompt-tokens tokens, decoding
--decode-tokens tokens one at a time, and encoding one 640 x 480 picture. Each number is the median
of --repeats runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tools/ lives beside benchmarks/ in the checkout

from assistant.core.conversation import SYSTEM_PROMPT
from assistant.core.types import Frame
from assistant.see.camera import frame_data_url
from assistant.think.machine import usable_cores
from assistant.think.vlm import LocalVisionChat
from tools.shape_vlm import add_pair_arguments, write_shape_vlm
from tools.tiny_vlm import TinyVLMPair


def _measure(
    pair: TinyVLMPair, threads: int, batch: int, ubatch: int, args: argparse.Namespace
) -> tuple[float, float, float]:
    vlm = LocalVisionChat(
        pair.model, pair.mmproj, n_ctx=2048, n_threads=threads, n_batch=batch, n_ubatch=ubatch, keep_prefix=True
    )
    llm = vlm.llm
    try:
        words = (SYSTEM_PROMPT + " ") * 10
        prompt = llm.tokenize(words.encode(), add_bos=False)[: args.prompt_tokens]
        prefill, decode, encode = [], [], []
        for _ in range(args.repeats):
            vlm.handler.forget(llm)
            started = time.perf_counter()
            llm.eval(prompt)
            prefill.append(len(prompt) / (time.perf_counter() - started))
            started = time.perf_counter()
            for token in prompt[: args.decode_tokens]:
                llm.eval([token])
            decode.append(args.decode_tokens / (time.perf_counter() - started))
            vlm.handler.forget(llm)
            vlm.handler.images.clear()
            image = np.full((480, 640, 3), 128, np.uint8)
            image[100:300, 100:400] = (0, 200, 255)
            messages = [
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": frame_data_url(Frame(image))}}]}
            ]
            vlm.handler(llama=llm, messages=messages, max_tokens=1)
            encode.append(vlm.handler.stats.image_encode_ms)
        return statistics.median(prefill), statistics.median(decode), statistics.median(encode)
    finally:
        vlm.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_pair_arguments(parser)
    parser.add_argument("--prompt-tokens", type=int, default=400)
    parser.add_argument("--decode-tokens", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    pair = write_shape_vlm(args.models_out, args.scale)
    cores = usable_cores()
    settings = [(threads, 512, 512) for threads in sorted({1, max(1, cores // 2), cores, cores * 2})]
    settings += [(cores, batch, ubatch) for batch, ubatch in ((512, 128), (512, 256), (256, 256), (128, 128))]
    print(f"{pair.model.name}; {cores} cores; prompt {args.prompt_tokens} tokens, decode {args.decode_tokens}")
    print(f"{'n_threads':>9}{'n_batch':>9}{'n_ubatch':>10}{'prefill tok/s':>15}{'decode tok/s':>14}{'encode ms':>11}")
    for threads, batch, ubatch in dict.fromkeys(settings):
        prefill, decode, encode = _measure(pair, threads, batch, ubatch, args)
        print(f"{threads:>9}{batch:>9}{ubatch:>10}{prefill:>15.1f}{decode:>14.2f}{encode:>11.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
