"""Two ways to hold a picture to an image-token budget, measured on the Qwen3-VL-2B-shaped mmproj.

    .venv/bin/python benchmarks/budget.py [--scale 1.0] [--repeats 3]

- downscale: the model's copy of a 640 x 480 picture is downscaled to whole 32-pixel tokens within the budget
  (what the assistant does), and encoded by a context with mtmd's default limits;
- image_max_tokens: the 640 x 480 picture as it is, encoded by a context made with mtmd's `image_max_tokens` set to
  the budget, which resizes it inside the encoder.
For each budget: the image tokens the encoder made, and the encode time (median of --repeats).
"""

from __future__ import annotations

import argparse
import ctypes
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tools/ lives beside benchmarks/ in the checkout

from assistant.core.types import Frame
from assistant.see.camera import encode_jpeg, prepare_frame
from assistant.think.machine import usable_cores
from assistant.think.vlm import LocalVisionChat
from tools.shape_vlm import add_pair_arguments, write_shape_vlm


def _context(mmproj: Path, model: Any, max_tokens: int) -> Any:
    import llama_cpp.mtmd_cpp as mtmd

    params = mtmd.mtmd_context_params_default()
    params.use_gpu = False
    params.print_timings = False
    params.n_threads = usable_cores()
    if max_tokens:
        params.image_max_tokens = max_tokens
    context = mtmd.mtmd_init_from_file(str(mmproj).encode(), model, params)
    if context is None:
        raise RuntimeError(f"mtmd could not load {mmproj}")
    return context


def _encode(context: Any, jpeg: bytes) -> tuple[int, float]:
    """The image tokens of the picture and the time to encode it."""
    import llama_cpp.mtmd_cpp as mtmd

    bitmap = mtmd.mtmd_helper_bitmap_init_from_buf(
        context, (ctypes.c_uint8 * len(jpeg)).from_buffer(bytearray(jpeg)), len(jpeg), False
    )
    chunks = mtmd.mtmd_input_chunks_init()
    text = mtmd.mtmd_input_text()
    prompt = mtmd.mtmd_default_marker()
    text.text, text.text_len, text.add_special, text.parse_special = prompt, len(prompt), False, True
    try:
        array = (mtmd.mtmd_bitmap_p_ctypes * 1)(bitmap)
        if mtmd.mtmd_tokenize(context, chunks, ctypes.byref(text), array, 1) != 0:
            raise RuntimeError("mtmd could not tokenize the picture")
        for index in range(mtmd.mtmd_input_chunks_size(chunks)):
            chunk = mtmd.mtmd_input_chunks_get(chunks, index)
            if mtmd.mtmd_input_chunk_get_type(chunk) != mtmd.MTMD_INPUT_CHUNK_TYPE_TEXT:
                started = time.perf_counter()
                if mtmd.mtmd_encode_chunk(context, chunk) != 0:
                    raise RuntimeError("mtmd could not encode the picture")
                return int(mtmd.mtmd_input_chunk_get_n_tokens(chunk)), (time.perf_counter() - started) * 1000
        raise RuntimeError("no picture in the prompt")
    finally:
        mtmd.mtmd_input_chunks_free(chunks)
        mtmd.mtmd_bitmap_free(bitmap)


def main() -> int:
    import llama_cpp.mtmd_cpp as mtmd

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_pair_arguments(parser)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    pair = write_shape_vlm(args.models_out, args.scale)
    vlm = LocalVisionChat(pair.model, pair.mmproj, n_ctx=2048, keep_prefix=False)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    picture = Frame(image)
    print(f"{pair.mmproj.name}; {usable_cores()} cores; a 640 x 480 picture; medians of {args.repeats}")
    print(f"{'budget':>7}{'downscale tokens':>18}{'ms':>8}{'image_max_tokens tokens':>25}{'ms':>8}")
    default = _context(pair.mmproj, vlm.llm.model, 0)
    for budget in (64, 128, 256):
        small = encode_jpeg(prepare_frame(picture, 768, budget, 32).image)
        limited = _context(pair.mmproj, vlm.llm.model, budget)
        whole = encode_jpeg(image)
        ours = [_encode(default, small) for _ in range(args.repeats)]
        theirs = [_encode(limited, whole) for _ in range(args.repeats)]
        mtmd.mtmd_free(limited)
        print(
            f"{budget:>7}{ours[0][0]:>18}{statistics.median(t for _, t in ours):>8.0f}"
            f"{theirs[0][0]:>25}{statistics.median(t for _, t in theirs):>8.0f}",
            flush=True,
        )
    mtmd.mtmd_free(default)
    vlm.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
