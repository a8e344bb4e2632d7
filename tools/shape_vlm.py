"""Random-weight VLM GGUF pairs with the real sizes of published models, for benchmarks.

What a model costs to run is set by its shapes, not by its values: each pair has its model's widths,
heads, layers, vocabulary and vision tower, with the text model quantised as the published GGUFs are
(Q4_K_M by default), so it takes the time and memory the real one takes. Its answers are gibberish and,
where the real model ties its output head to the embeddings, end at random: for answers of a fixed
length, suppress the end-of-turn tokens with a logit bias. (Qwen3-VL-8B's head is untied: here it is
tiny_vlm's head that can only pick printable text, which never ends an answer.)

The shapes, from each model's config.json (the numbers llama.cpp's converter writes):

- ``qwen3-vl-2b``, Qwen/Qwen3-VL-2B-Instruct: text_config hidden_size 2048, num_hidden_layers 28,
  num_attention_heads 16, num_key_value_heads 8, head_dim 128, intermediate_size 6144, vocab_size 151936,
  rope_theta 5000000, mrope_section [24, 20, 20], tie_word_embeddings true; vision_config depth 24,
  hidden_size 1024, num_heads 16, intermediate_size 4096, patch_size 16, spatial_merge_size 2,
  out_hidden_size 2048, num_position_embeddings 2304 (a 48 x 48 patch grid), deepstack_visual_indexes
  [5, 11, 17].
- ``qwen3-vl-4b``, Qwen/Qwen3-VL-4B-Instruct: as the 2B but hidden_size 2560, num_hidden_layers 36,
  num_attention_heads 32, intermediate_size 9728, out_hidden_size 2560; tied. Confirmed from a copy of
  its config.json (a fine-tune of unsloth/Qwen3-VL-4B-Instruct, whose vocab_size 151674 is the
  fine-tune's; 151936 is taken, as in the other Qwen3-VL models).
- ``qwen3-vl-8b``, Qwen/Qwen3-VL-8B-Instruct: hidden_size 4096, num_hidden_layers 36,
  num_attention_heads 32, num_key_value_heads 8, intermediate_size 12288, vocab_size 151936,
  tie_word_embeddings false; vision depth 27, hidden_size 1152, num_heads 16, intermediate_size 4304,
  deepstack_visual_indexes [8, 16, 24], out_hidden_size 4096. Confirmed from copies of its config.json.
- ``lfm2-vl-450m``, LiquidAI/LFM2-VL-450M: text LFM2-350M, hidden_size 1024, 16 layers of which
  full_attention at [2, 5, 8, 10, 12, 14] and short convolutions (conv_L_cache 3) elsewhere,
  num_attention_heads 16, num_key_value_heads 8 (head_dim 64), vocab_size 65536, tied; block_ff_dim 6656
  with block_auto_adjust_ff_dim true, block_ffn_dim_multiplier 1.0 and block_multiple_of 256 gives the
  feed-forward width the converter writes: 256 * ceil(int(2 * 6656 / 3) / 256) = 4608. Vision SigLIP2
  NaFlex base: hidden_size 768, 12 layers, 12 heads, intermediate_size 3072, patch_size 16, num_patches
  256 (the converter writes image_size 256: a 16 x 16 grid). Projector: downsample_factor 2 (pixel
  unshuffle), LayerNorm, projector_hidden_size 2560, GELU, into 1024. Confirmed from a copy of the
  450M's config.json (a fine-tune of it) and LFM2.5-VL-450M's; assumed: vision_feature_layer -1 (all 12
  layers kept), rope_theta 1000000 and a 128000-token context (LFM2's max_position_embeddings).
- ``lfm2-vl-1.6b``, LiquidAI/LFM2-VL-1.6B: text LFM2-1.2B, hidden_size 2048, the same 16-layer pattern,
  num_attention_heads 32, num_key_value_heads 8, block_ff_dim 12288, so 8192; vision SigLIP2 NaFlex
  shape-optimized 400M: hidden_size 1152, num_hidden_layers 27, 16 heads, intermediate_size 4304,
  patch_size 16; projector_hidden_size 2560. From a test's copy of mlx-community/LFM2-VL-1.6B-4bit's
  config.json, whose vision_feature_layer -2 makes the converter drop the last vision layer: 26 are
  written. Assumed, not confirmed from LiquidAI's own file: projector_hidden_size 2560 (transformers'
  default, "similar to LFM2-VL-1.6B") and the projector's LayerNorm.

The vision tower stays in F16, as the published mmproj files are, or is written in Q8_0 with
``--mmproj-quant Q8_0``: llama.cpp's quantizer does not take an mmproj, so the matrices whose rows are
whole Q8_0 blocks are quantised by the gguf package as they are written (the rest stay F16).

Run ``python -m tools.shape_vlm [--shape qwen3-vl-2b] [--quant Q4_K_M] [--scale 1.0] [--out DIR]``; it
prints the paths of the model and the mmproj, one per line. ``--scale`` keeps that fraction of the layers
(0.25, 0.5, 1.0) for quicker runs; widths never change. The pair is cached (by default under the user's
cache folder) and an existing pair for the same shape, scale, seed and quantisations is used as it is.
"""

from __future__ import annotations

import argparse
import ctypes
import dataclasses
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.core.conversation import SYSTEM_PROMPT
from tools.tiny_vlm import F16, Q8_0, Shape, TinyVLMPair, write_mmproj_gguf, write_text_gguf

# A real tokenizer reads a common English word as one token. Byte-level tokens alone would make every
# prompt about four times as long, and its prefill four times as slow, so the vocabulary has a merge path
# to each of these words, with and without its leading space. Qwen's and LFM2's tokenizers are both
# byte-level BPE over GPT-2's byte table, so the same merges serve both.
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
QWEN3_VL_4B = dataclasses.replace(QWEN3_VL_2B, text_embd=2560, text_layers=36, text_heads=32, text_ff=9728)
QWEN3_VL_8B = dataclasses.replace(
    QWEN3_VL_2B,
    text_embd=4096,
    text_layers=36,
    text_heads=32,
    text_ff=12288,
    vision_embd=1152,
    vision_layers=27,
    vision_ff=4304,
    deepstack=(8, 16, 24),
    tied_head=False,
)
LFM2_VL_450M = Shape(
    text_embd=1024,
    text_layers=16,
    text_heads=16,
    text_kv_heads=8,
    head_dim=64,
    text_ff=4608,
    vision_embd=768,
    vision_layers=12,
    vision_heads=12,
    vision_ff=3072,
    grid=16,
    deepstack=(),
    vocab_size=65536,
    tied_head=True,
    merges=_word_merges(),
    context=128000,
    attention_layers=(2, 5, 8, 10, 12, 14),
    conv_cache=3,
    projector_ff=2560,
)
LFM2_VL_1_6B = dataclasses.replace(
    LFM2_VL_450M,
    text_embd=2048,
    text_heads=32,
    text_ff=8192,
    vision_embd=1152,
    vision_layers=26,
    vision_heads=16,
    vision_ff=4304,
)


@dataclass(frozen=True)
class NamedShape:
    family: str
    """The tools.tiny_vlm family whose layout the pair has."""
    shape: Shape
    model: str
    """The published model it has the sizes of."""


SHAPES = {
    "qwen3-vl-2b": NamedShape("qwen3-vl", QWEN3_VL_2B, "Qwen3-VL-2B-Instruct"),
    "qwen3-vl-4b": NamedShape("qwen3-vl", QWEN3_VL_4B, "Qwen3-VL-4B-Instruct"),
    "qwen3-vl-8b": NamedShape("qwen3-vl", QWEN3_VL_8B, "Qwen3-VL-8B-Instruct"),
    "lfm2-vl-450m": NamedShape("lfm2-vl", LFM2_VL_450M, "LFM2-VL-450M"),
    "lfm2-vl-1.6b": NamedShape("lfm2-vl", LFM2_VL_1_6B, "LFM2-VL-1.6B"),
}
QUANT_BITS = {"Q4_0": 4.5, "Q4_K_M": 5.0, "Q8_0": 8.5, "F16": 16.0}
"""The text model's quantisations, and about how many bits a weight each takes (Q4_K_M keeps some tensors
in Q6_K, so a little over Q4_K's 4.5)."""
MMPROJ_QUANTS = {"F16": F16, "Q8_0": Q8_0}


def default_out_dir() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path("~/.cache").expanduser())
    return Path(cache) / "assistant" / "shape-models"


def add_pair_arguments(parser: argparse.ArgumentParser) -> None:
    """--scale and --models-out, for the benchmarks that run on the pair."""
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the layers to keep: 0.25, 0.5, 1.0")
    parser.add_argument("--models-out", type=Path, default=default_out_dir(), help="where the pair is cached")


def _spread(layers: tuple[int, ...], n_from: int, n_to: int) -> tuple[int, ...]:
    """As many of `layers` (of n_from layers) as keep their share of n_to layers, chosen evenly from first
    to last, each moved to the same relative place among n_to layers."""
    if not layers or n_to == n_from:
        return layers
    count = max(1, round(len(layers) * n_to / n_from))
    picks = [layers[round(i)] for i in np.linspace(0, len(layers) - 1, count)]
    return tuple(sorted({layer * n_to // n_from for layer in picks}))


def scaled(shape: Shape, scale: float) -> Shape:
    """`shape` with `scale` of its text and vision layers, deepstack and attention layers spread as in the
    original. An LFM2 shape keeps at least one short-convolution and one attention layer."""
    if not 0 < scale <= 1:
        raise ValueError(f"scale must be above 0 and at most 1, got {scale}")
    n_deepstack = len(shape.deepstack)
    vision_layers = max(n_deepstack + 1, round(shape.vision_layers * scale))
    # Qwen3-VL-2B takes blocks 5, 11 and 17 of 24: the last block of each quarter but the last.
    deepstack = tuple((k + 1) * vision_layers // (n_deepstack + 1) - 1 for k in range(n_deepstack))
    if vision_layers == shape.vision_layers:  # but the 8B's 8, 16 and 24 of 27 are not quite that
        deepstack = shape.deepstack
    text_layers = max(n_deepstack + 1, 2 if shape.attention_layers else 1, round(shape.text_layers * scale))
    return dataclasses.replace(
        shape,
        text_layers=text_layers,
        vision_layers=vision_layers,
        deepstack=deepstack,
        attention_layers=_spread(shape.attention_layers, shape.text_layers, text_layers),
    )


def _parameters(shape: Shape) -> tuple[int, int]:
    """Weights in the text model and in the vision tower (vectors left out)."""
    embd, ff = shape.text_embd, shape.text_ff
    q, kv = shape.text_heads * shape.head_dim, shape.text_kv_heads * shape.head_dim
    n_attention = len(shape.attention_layers) if shape.attention_layers else shape.text_layers
    text = (1 if shape.tied_head else 2) * shape.vocab_size * embd + shape.text_layers * 3 * embd * ff
    text += n_attention * embd * (2 * q + 2 * kv) + (shape.text_layers - n_attention) * 4 * embd * embd
    merged = shape.merged_embd
    vision_layer = 4 * shape.vision_embd**2 + 2 * shape.vision_embd * shape.vision_ff
    if shape.projector_ff:  # LFM2: one two-layer MLP through projector_ff
        merger = merged * shape.projector_ff + shape.projector_ff * shape.text_embd
    else:  # Qwen3-VL: the merger and one per deepstack layer
        merger = (1 + len(shape.deepstack)) * (merged * merged + merged * shape.text_embd)
    return text, shape.vision_layers * vision_layer + merger


def write_shape_vlm(
    out_dir: Path | None = None,
    scale: float = 1.0,
    seed: int = 0,
    threads: int = 0,
    shape: str = "qwen3-vl-2b",
    quant: str = "Q4_K_M",
    mmproj_quant: str = "F16",
) -> TinyVLMPair:
    """Write (or find already written) the pair with SHAPES[shape]'s sizes at `scale` in out_dir, the text
    model in `quant` (a QUANT_BITS key), the mmproj in `mmproj_quant` (F16 or Q8_0)."""
    import llama_cpp

    from assistant.think.machine import usable_cores

    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; expected one of {', '.join(SHAPES)}")
    if quant not in QUANT_BITS or mmproj_quant not in MMPROJ_QUANTS:
        raise ValueError(f"unknown quantisation {quant!r} / {mmproj_quant!r}")
    named = SHAPES[shape]
    sizes = scaled(named.shape, scale)
    out_dir = Path(out_dir or default_out_dir())
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{shape}-shape-s{scale:g}-seed{seed}"
    pair = TinyVLMPair(model=out_dir / f"{stem}-{quant}.gguf", mmproj=out_dir / f"mmproj-{stem}-{mmproj_quant}.gguf")
    if pair.model.is_file() and pair.mmproj.is_file():
        return pair

    text, vision = _parameters(sizes)
    quantised = int(text * QUANT_BITS[quant] / 8) if quant != "F16" else 0  # beside the F16 it is made from
    need = text * 2 + quantised + int(vision * (2 if mmproj_quant == "F16" else 34 / 32))
    free = shutil.disk_usage(out_dir).free
    if free < need * 1.1:
        raise ValueError(f"{out_dir} has {free / 1e9:.1f} GB free; writing the pair needs {need * 1.1 / 1e9:.1f} GB")

    name = f"random-{shape}-shape-s{scale:g}"
    description = (
        f"Random weights with {named.model}'s sizes, for benchmarks: not a real model, its output is gibberish."
    )
    rng = np.random.default_rng(seed)
    f16 = out_dir / f"{stem}-F16.gguf.partial"
    model = pair.model.with_name(pair.model.name + ".partial")
    mmproj = pair.mmproj.with_name(pair.mmproj.name + ".partial")
    try:
        write_text_gguf(f16, named.family, sizes, rng, name, description)
        if quant != "F16":
            params = llama_cpp.llama_model_quantize_default_params()
            params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{quant}")
            params.nthread = threads or usable_cores()
            if llama_cpp.llama_model_quantize(str(f16).encode(), str(model).encode(), ctypes.byref(params)) != 0:
                raise ValueError(f"llama.cpp could not quantise {f16}")
            f16.unlink()
        write_mmproj_gguf(mmproj, named.family, sizes, rng, name, description, MMPROJ_QUANTS[mmproj_quant])
        # Renamed only once complete, so that a pair found in the cache is always whole.
        mmproj.replace(pair.mmproj)
        (model if quant != "F16" else f16).replace(pair.model)
    finally:
        for leftover in out_dir.glob(f"*{stem}*.partial"):
            leftover.unlink()
    return pair


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.shape_vlm",
        description="Write a random-weight VLM GGUF pair with a published model's sizes, for benchmarks.",
    )
    parser.add_argument("--shape", choices=SHAPES, default="qwen3-vl-2b", help="the model whose sizes to take")
    parser.add_argument("--quant", choices=QUANT_BITS, default="Q4_K_M", help="the text model's quantisation")
    parser.add_argument("--mmproj-quant", choices=MMPROJ_QUANTS, default="F16", help="the mmproj's matrices")
    parser.add_argument("--out", type=Path, default=None, help=f"folder for the pair (default {default_out_dir()})")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the layers to keep: 0.25, 0.5, 1.0")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--threads", type=int, default=0, help="threads for quantising; 0 uses every core")
    args = parser.parse_args(argv)
    if args.seed < 0:
        parser.error(f"seed must be a non-negative integer, got {args.seed}")
    try:
        pair = write_shape_vlm(args.out, args.scale, args.seed, args.threads, args.shape, args.quant, args.mmproj_quant)
    except ValueError as exc:  # a scale out of range, too little disk space, a failed quantisation
        parser.error(str(exc))
    print(pair.model)
    print(pair.mmproj)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
