"""Random-weight Qwen3-VL GGUF pairs with the real sizes of Qwen3-VL-2B-Instruct, for benchmarks.

What a model costs to run is set by its shapes, not by its values: this pair has the 2B model's widths,
heads, vocabulary and vision tower, with the text model quantised to Q4_K_M as the published GGUFs are,
so it takes the time and memory the real one takes. Its answers are gibberish and end at random: for
answers of a fixed length, suppress the end-of-turn tokens with a logit bias.

The sizes are Qwen/Qwen3-VL-2B-Instruct's config.json: text_config hidden_size 2048, num_hidden_layers
28, num_attention_heads 16, num_key_value_heads 8, head_dim 128, intermediate_size 6144, vocab_size
151936, rope_theta 5000000, mrope_section [24, 20, 20], tie_word_embeddings true; vision_config depth 24,
hidden_size 1024, num_heads 16, intermediate_size 4096, patch_size 16, spatial_merge_size 2,
out_hidden_size 2048, num_position_embeddings 2304 (a 48 x 48 patch grid), deepstack_visual_indexes
[5, 11, 17]. The vision tower stays in F16, as the published mmproj files are.

Run ``python -m tools.shape_vlm [--scale 1.0] [--out DIR]``; it prints the paths of the
model and the mmproj, one per line. ``--scale`` keeps that fraction of the layers (0.25, 0.5, 1.0) for
quicker runs; widths never change. The pair is cached (by default under the user's cache folder) and
an existing pair for the same scale and seed is used as it is.
"""

from __future__ import annotations

import argparse
import ctypes
import dataclasses
import os
import shutil
from pathlib import Path

import numpy as np

from assistant.core.conversation import SYSTEM_PROMPT
from tools.tiny_vlm import Shape, TinyVLMPair, write_mmproj_gguf, write_text_gguf

# Qwen's real tokenizer reads a common English word as one token. Byte-level tokens alone would make
# every prompt about four times as long, and its prefill four times as slow, so the vocabulary has a
# merge path to each of these words, with and without its leading space.
_COMMON_WORDS = (
    "the be to of and a in that have I it for not on with he as you do at this but his by from they we say her "
    "she or an will my one all would there their what so up out if about who get which go me when make can like "
    "time no just him know take people into year your good some could them see other than then now look only "
    "come its over think also back after use two how our work first well way even new want because any these "
    "give day most us is are was were has had been being does did said left right front colour color blue red "
    "green white black yellow table door sign read exit where which way steps arm length o'clock ahead behind "
    "there here picture camera mug cup coffee newspaper handle towards nothing else stands half full folded "
    "describe again more detail detailed please tell what's is it the one platform train street road bus"
)


def _word_merges() -> tuple[str, ...]:
    """BPE merges that build each common word from its first character on, one character at a time."""
    words = dict.fromkeys(
        word.strip(".,:;'\"()")
        for word in (*_COMMON_WORDS.split(), *SYSTEM_PROMPT.split())
        if word.strip(".,:;'\"()").isascii()
    )
    merges: dict[str, None] = {}
    for word in words:
        if not word:
            continue
        forms = {"\u0120" + word, "\u0120" + word.capitalize(), word.capitalize()}  # \u0120 is the space byte
        for form in sorted(forms):
            for end in range(2, len(form) + 1):
                merges[f"{form[: end - 1]} {form[end - 1]}"] = None
    return tuple(merges)


QWEN3_VL_2B = Shape(
    text_embd=2048,
    text_layers=28,
    text_heads=16,
    text_kv_heads=8,
    head_dim=128,
    text_ff=6144,
    vision_embd=1024,
    vision_layers=24,
    vision_heads=16,
    vision_ff=4096,
    grid=48,
    deepstack=(5, 11, 17),
    rope_sections=(24, 20, 20, 0),
    vocab_size=151936,
    tied_head=True,
    merges=_word_merges(),
    context=262144,
)
FAMILY = "qwen3-vl"
_F16_BYTES = 2
_Q4_K_M_BITS = 5.0  # a little over Q4_K's 4.5 bits a weight: Q4_K_M keeps some tensors in Q6_K


def default_out_dir() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path("~/.cache").expanduser())
    return Path(cache) / "assistant" / "shape-models"


def add_pair_arguments(parser: argparse.ArgumentParser) -> None:
    """--scale and --models-out, for the benchmarks that run on the pair."""
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the layers to keep: 0.25, 0.5, 1.0")
    parser.add_argument("--models-out", type=Path, default=default_out_dir(), help="where the pair is cached")


def scaled(shape: Shape, scale: float) -> Shape:
    """`shape` with `scale` of its text and vision layers, deepstack layers spread as in the original."""
    if not 0 < scale <= 1:
        raise ValueError(f"scale must be above 0 and at most 1, got {scale}")
    n_deepstack = len(shape.deepstack)
    vision_layers = max(n_deepstack + 1, round(shape.vision_layers * scale))
    # Qwen3-VL-2B takes blocks 5, 11 and 17 of 24: the last block of each quarter but the last.
    deepstack = tuple((k + 1) * vision_layers // (n_deepstack + 1) - 1 for k in range(n_deepstack))
    return dataclasses.replace(
        shape,
        text_layers=max(n_deepstack + 1, round(shape.text_layers * scale)),
        vision_layers=vision_layers,
        deepstack=deepstack,
    )


def _parameters(shape: Shape) -> tuple[int, int]:
    """Weights in the text model and in the vision tower (vectors left out)."""
    q, kv = shape.text_heads * shape.head_dim, shape.text_kv_heads * shape.head_dim
    layer = shape.text_embd * (2 * q + 2 * kv) + 3 * shape.text_embd * shape.text_ff
    text = shape.vocab_size * shape.text_embd + shape.text_layers * layer
    merged = shape.merged_embd
    vision_layer = 4 * shape.vision_embd**2 + 2 * shape.vision_embd * shape.vision_ff
    merger = merged * merged + merged * shape.text_embd
    vision = shape.vision_layers * vision_layer + (1 + len(shape.deepstack)) * merger
    return text, vision


def write_shape_vlm(out_dir: Path | None = None, scale: float = 1.0, seed: int = 0, threads: int = 0) -> TinyVLMPair:
    """Write (or find already written) the Qwen3-VL-2B-shaped pair at `scale` in out_dir."""
    import llama_cpp

    from assistant.think.vlm import usable_cores

    shape = scaled(QWEN3_VL_2B, scale)
    out_dir = Path(out_dir or default_out_dir())
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"qwen3-vl-2b-shape-s{scale:g}-seed{seed}"
    pair = TinyVLMPair(model=out_dir / f"{stem}-Q4_K_M.gguf", mmproj=out_dir / f"mmproj-{stem}-F16.gguf")
    if pair.model.is_file() and pair.mmproj.is_file():
        return pair

    text, vision = _parameters(shape)
    need = text * _F16_BYTES + int(text * _Q4_K_M_BITS / 8) + vision * _F16_BYTES
    free = shutil.disk_usage(out_dir).free
    if free < need * 1.1:
        raise ValueError(f"{out_dir} has {free / 1e9:.1f} GB free; writing the pair needs {need * 1.1 / 1e9:.1f} GB")

    name = f"random-qwen3-vl-2b-shape-s{scale:g}"
    description = (
        "Random weights with Qwen3-VL-2B-Instruct's sizes, for benchmarks: not a real model, its output is gibberish."
    )
    rng = np.random.default_rng(seed)
    f16 = out_dir / f"{stem}-F16.gguf.partial"
    quantised = pair.model.with_name(pair.model.name + ".partial")
    try:
        write_text_gguf(f16, FAMILY, shape, rng, name, description)
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M
        params.nthread = threads or usable_cores()
        if llama_cpp.llama_model_quantize(str(f16).encode(), str(quantised).encode(), ctypes.byref(params)) != 0:
            raise ValueError(f"llama.cpp could not quantise {f16}")
        f16.unlink()
        mmproj = pair.mmproj.with_name(pair.mmproj.name + ".partial")
        write_mmproj_gguf(mmproj, FAMILY, shape, rng, name, description)
        # Renamed only once complete, so that a pair found in the cache is always whole.
        mmproj.replace(pair.mmproj)
        quantised.replace(pair.model)
    finally:
        for leftover in out_dir.glob(f"*{stem}*.partial"):
            leftover.unlink()
    return pair


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.shape_vlm",
        description="Write a random-weight GGUF pair with Qwen3-VL-2B's sizes, the text model in Q4_K_M.",
    )
    parser.add_argument("--out", type=Path, default=None, help=f"folder for the pair (default {default_out_dir()})")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the layers to keep: 0.25, 0.5, 1.0")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--threads", type=int, default=0, help="threads for quantising; 0 uses every core")
    args = parser.parse_args(argv)
    if args.seed < 0:
        parser.error(f"seed must be a non-negative integer, got {args.seed}")
    try:
        pair = write_shape_vlm(args.out, args.scale, args.seed, args.threads)
    except ValueError as exc:  # a scale out of range, too little disk space, a failed quantisation
        parser.error(str(exc))
    print(pair.model)
    print(pair.mmproj)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
