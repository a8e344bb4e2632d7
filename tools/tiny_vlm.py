"""Tiny random-weight VLM test models: a text GGUF and its mmproj GGUF, about 0.2 MB each.

The pair has the layout llama.cpp's converter writes for Qwen2.5-VL (text arch ``qwen2vl``, projector
``qwen2.5vl_merger``), Qwen3-VL (text arch ``qwen3vl``, projector ``qwen3vl_merger``) or LiquidAI's LFM2-VL
(text arch ``lfm2``, a hybrid of gated short convolutions and attention; projector ``lfm2``, a SigLIP2 tower
whose patches are pixel-unshuffled 2 x 2 into a two-layer MLP), so llama-cpp-python loads it and runs
multimodal chat through ``MTMDChatHandler``. The weights are random, so the answers are gibberish: this is
for tests only, never a model to offer anyone.

Run ``python -m tools.tiny_vlm OUT_DIR --family qwen3-vl --seed 0``; it prints the paths
of the model and the mmproj, one per line. The same seed always gives the same bytes.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np

FAMILIES = ("qwen2.5-vl", "qwen3-vl", "lfm2-vl")

RMS_EPS = 1e-6
INIT_STD = 0.02
F32, F16, Q8_0 = gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16, gguf.GGMLQuantizationType.Q8_0


@dataclass(frozen=True)
class Shape:
    """The sizes of a text model and its vision tower."""

    text_embd: int
    text_layers: int
    text_heads: int
    text_kv_heads: int
    head_dim: int
    """LFM2 has no key for it: llama.cpp takes text_embd / text_heads, so it must be that."""
    text_ff: int
    vision_embd: int
    vision_layers: int
    vision_heads: int
    vision_ff: int
    """Must differ from vision_embd: clip.cpp swaps ffn up/down of Qwen2(.5)-VL towers whose ffn_down
    has vision_embd inputs, taking them for a legacy export."""
    grid: int
    """clip.vision.image_size is this many patches a side; the learned position embeddings are grid x grid."""
    deepstack: tuple[int, ...]
    """Qwen3-VL's vision blocks whose output also feeds the text model. Fewer than the text layers: one
    reaching the last text layer, whose rows llama.cpp cuts down to the outputs, fails a GGML_ASSERT."""
    rope_sections: tuple[int, int, int, int] | None = None
    """M-RoPE sections, summing to head_dim / 2; None takes the family's, made for head_dim 16."""
    vocab_size: int = 0
    """Pad the vocabulary with unused tokens up to this size; 0 keeps just the tokens the tokenizer needs."""
    tied_head: bool = False
    """Use token_embd as the output head, as Qwen3-VL-2B and LFM2 do; else an output head that can only
    pick printable ASCII, so that answers never end and never hold a NUL byte."""
    merges: tuple[str, ...] | None = None
    """BPE merges, "a b" each; None takes a handful, enough to exercise BPE."""
    context: int = 4096
    merge: int = 2
    """merge x merge patches become one image token (LFM2's downsample_factor)."""
    attention_layers: tuple[int, ...] = ()
    """LFM2: the text layers that attend; the others are gated short convolutions."""
    conv_cache: int = 3
    """LFM2: the short convolution's kernel length (conv_L_cache)."""
    projector_ff: int = 0
    """LFM2: the hidden width of the projector's MLP (projector_hidden_size)."""

    @property
    def merged_embd(self) -> int:
        return self.vision_embd * self.merge * self.merge


TINY = Shape(
    text_embd=64,
    text_layers=2,
    text_heads=4,
    text_kv_heads=2,
    head_dim=16,
    text_ff=128,
    vision_embd=32,
    vision_layers=4,
    vision_heads=2,
    vision_ff=64,
    grid=8,
    deepstack=(1,),
)
# Both kinds of LFM2 layer: short convolution, attention, short convolution.
TINY_LFM2 = dataclasses.replace(TINY, text_layers=3, text_ff=64, attention_layers=(1,), deepstack=(), projector_ff=96)
# Output-head scale: spreads the logits (std about 4) so that sampling, too, keeps to the tokens it allows.
HEAD_STD = 0.5

_QWEN_CONTROL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
# LFM2's chat tokens, its image placeholder, and what mtmd writes around a picture: <|image_start|> and
# <|image_end|>, and, for a picture cut into tiles (at most 10), a marker before each tile and the thumbnail.
_LFM2_CONTROL_TOKENS = (
    "<|pad|>",
    "<|startoftext|>",
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<image>",
    "<|image_start|>",
    "<|image_end|>",
    "<|img_thumbnail|>",
    *(f"<|img_row_{row}_col_{col}|>" for row in range(1, 11) for col in range(1, 11) if row * col <= 10),
)
# A handful of merges, enough to exercise BPE; all other text falls back to byte tokens.
_MERGES = ("Ġ Ġ", "i n", "Ġ t", "e r", "o n", "Ġ a", "r e", "a t", "s t", "e n", "h e", "Ġt he")

# Qwen-VL ChatML. MTMDChatHandler turns image parts into text parts holding its media marker, and
# mtmd then wraps the image embeddings in <|vision_start|> ... <|vision_end|> itself.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' -}}"
    "{%- if message['content'] is string -%}"
    "{{- message['content'] -}}"
    "{%- else -%}"
    "{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' or 'image' in part or 'image_url' in part -%}"
    "{{- '<|vision_start|><|image_pad|><|vision_end|>' -}}"
    "{%- elif 'text' in part -%}"
    "{{- part['text'] -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- endif -%}"
    "{{- '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}"
    "{{- '<|im_start|>assistant\\n' -}}"
    "{%- endif -%}"
)
# LFM2-VL's ChatML, without its tool lists: it opens with <|startoftext|> and writes each image part as its
# <image> placeholder. MTMDChatHandler hands image parts over as text parts holding its media marker, and
# mtmd wraps the image embeddings in <|image_start|> ... <|image_end|> itself.
LFM2_CHAT_TEMPLATE = (
    "{{- bos_token -}}"
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' -}}"
    "{%- if message['content'] is string -%}"
    "{{- message['content'] -}}"
    "{%- else -%}"
    "{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' -%}"
    "{{- '<image>' -}}"
    "{%- elif part['type'] == 'text' -%}"
    "{{- part['text'] -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- endif -%}"
    "{{- '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}"
    "{{- '<|im_start|>assistant\\n' -}}"
    "{%- endif -%}"
)


@dataclass(frozen=True)
class TinyVLMPair:
    """Paths of a written text model and its mmproj."""

    model: Path
    mmproj: Path


@dataclass(frozen=True)
class _Tokenizer:
    pre: str
    """tokenizer.ggml.pre: which pre-tokenizer llama.cpp splits text with before BPE."""
    control_tokens: tuple[str, ...]
    bos: str
    eos: str
    pad: str
    add_bos: bool
    chat_template: str


_QWEN_TOKENIZER = _Tokenizer(
    pre="qwen2",
    control_tokens=_QWEN_CONTROL_TOKENS,
    bos="<|endoftext|>",
    eos="<|im_end|>",
    pad="<|endoftext|>",
    add_bos=False,
    chat_template=CHAT_TEMPLATE,
)
# llama.cpp reads pre-tokenizer "lfm2" as Llama 3's and, unless the GGUF says otherwise, adds the BOS token.
# The template's bos_token adds no second one through MTMDChatHandler: it renders bos_token without special
# tokens, as an empty string.
_LFM2_TOKENIZER = _Tokenizer(
    pre="lfm2",
    control_tokens=_LFM2_CONTROL_TOKENS,
    bos="<|startoftext|>",
    eos="<|im_end|>",
    pad="<|pad|>",
    add_bos=True,
    chat_template=LFM2_CHAT_TEMPLATE,
)


@dataclass(frozen=True)
class _Family:
    text_arch: gguf.MODEL_ARCH
    projector: str
    rope_theta: float
    patch_size: int
    image_mean: tuple[float, float, float]
    image_std: tuple[float, float, float]
    tokenizer: _Tokenizer
    rope_sections: tuple[int, int, int, int] | None = None


_OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
_OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

_FAMILY_SPECS = {
    "qwen2.5-vl": _Family(
        text_arch=gguf.MODEL_ARCH.QWEN2VL,
        projector=gguf.VisionProjectorType.QWEN25VL,
        rope_theta=1_000_000.0,
        patch_size=14,
        image_mean=_OPENAI_CLIP_MEAN,
        image_std=_OPENAI_CLIP_STD,
        tokenizer=_QWEN_TOKENIZER,
        rope_sections=(2, 3, 3, 0),
    ),
    "qwen3-vl": _Family(
        text_arch=gguf.MODEL_ARCH.QWEN3VL,
        projector=gguf.VisionProjectorType.QWEN3VL,
        rope_theta=5_000_000.0,
        patch_size=16,
        image_mean=(0.5, 0.5, 0.5),
        image_std=(0.5, 0.5, 0.5),
        tokenizer=_QWEN_TOKENIZER,
        rope_sections=(3, 3, 2, 0),
    ),
    "lfm2-vl": _Family(
        text_arch=gguf.MODEL_ARCH.LFM2,
        projector=gguf.VisionProjectorType.LFM2,
        rope_theta=1_000_000.0,
        patch_size=16,
        image_mean=(0.5, 0.5, 0.5),
        image_std=(0.5, 0.5, 0.5),
        tokenizer=_LFM2_TOKENIZER,
    ),
}
TINY_SHAPES = {"qwen2.5-vl": TINY, "qwen3-vl": TINY, "lfm2-vl": TINY_LFM2}


def _name(tensor: gguf.MODEL_TENSOR, suffix: str = "weight", bid: int | None = None) -> str:
    return f"{gguf.TENSOR_NAMES[tensor].format(bid=bid)}.{suffix}"


class _Tensors:
    """Named tensors in insertion order, drawn from one seeded generator as they are written, so that a
    full-size model never needs to be held in memory at once."""

    def __init__(self, rng: np.random.Generator, matrix_type: gguf.GGMLQuantizationType = F16) -> None:
        self._rng = rng
        self._matrix_type = matrix_type
        self.items: dict[str, tuple[tuple[int, ...], gguf.GGMLQuantizationType, Callable[[], np.ndarray]]] = {}

    def random(
        self, name: str, *shape: int, f32: bool = False, std: float = INIT_STD, zero_rows: list[bool] | None = None
    ) -> None:
        # As in the converter's output: vectors and forced tensors in F32, matrices in F16 or, in an mmproj
        # written as Q8_0, in Q8_0 where their rows are whole blocks of 32; other tensors in F16.
        if f32 or len(shape) == 1:
            qtype = F32
        elif len(shape) == 2 and shape[-1] % gguf.GGML_QUANT_SIZES[self._matrix_type][0] == 0:
            qtype = self._matrix_type
        else:
            qtype = F16

        def make() -> np.ndarray:
            data = self._rng.standard_normal(shape, dtype=np.float32) * np.float32(std)
            if zero_rows is not None:
                data[zero_rows] = 0
            return gguf.quants.quantize(data, qtype)

        self.items[name] = (shape, qtype, make)

    def ones(self, name: str, size: int) -> None:
        self.items[name] = ((size,), F32, lambda: np.ones(size, dtype=np.float32))

    def zeros(self, name: str, size: int) -> None:
        self.items[name] = ((size,), F32, lambda: np.zeros(size, dtype=np.float32))

    def linear(self, tensor: gguf.MODEL_TENSOR, n_in: int, n_out: int, bid: int | None = None) -> None:
        """A weight of n_out rows by n_in columns (ggml ne = [n_in, n_out]) and its bias."""
        self.random(_name(tensor, "weight", bid), n_out, n_in)
        self.random(_name(tensor, "bias", bid), n_out)

    def layer_norm(self, tensor: gguf.MODEL_TENSOR, size: int, bid: int | None = None) -> None:
        self.ones(_name(tensor, "weight", bid), size)
        self.zeros(_name(tensor, "bias", bid), size)


def _byte_to_unicode() -> dict[int, str]:
    """GPT-2's byte-to-unicode table, in Qwen's vocabulary order: visible bytes stand for themselves."""
    visible = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    hidden = [b for b in range(256) if b not in visible]
    return {b: chr(b) for b in visible} | {b: chr(256 + i) for i, b in enumerate(hidden)}


def _write(writer: gguf.GGUFWriter, tensors: _Tensors) -> None:
    for name, (shape, qtype, _) in tensors.items.items():
        block, size = gguf.GGML_QUANT_SIZES[qtype]
        writer.add_tensor_info(name, shape, np.dtype(np.float32), int(np.prod(shape)) // block * size, qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for _, _, make in tensors.items.values():
        writer.write_tensor_data(make())
    writer.close()


def _add_general(
    writer: gguf.GGUFWriter,
    name: str,
    description: str,
    gguf_type: str,
    file_type: gguf.LlamaFileType = gguf.LlamaFileType.MOSTLY_F16,
) -> None:
    writer.add_type(gguf_type)
    writer.add_name(name)
    writer.add_description(description)
    writer.add_file_type(file_type)


def _add_tokenizer(writer: gguf.GGUFWriter, tokenizer: _Tokenizer, shape: Shape) -> tuple[list[str], int]:
    """A byte-level BPE vocabulary: byte tokens, merged tokens, padding, then the control tokens. Returns the
    tokens and how many are normal (all but the control tokens)."""
    merges = _MERGES if shape.merges is None else shape.merges
    tokens = [*_byte_to_unicode().values()]
    tokens += [token for token in dict.fromkeys(merge.replace(" ", "") for merge in merges) if token not in tokens]
    # Padding up to the real vocabulary: normal tokens no merge reaches, so only sampling can pick them.
    tokens += [f"x{i}" for i in range(shape.vocab_size - len(tokens) - len(tokenizer.control_tokens))]
    n_normal = len(tokens)
    tokens += tokenizer.control_tokens
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(tokenizer.pre)
    writer.add_token_list(tokens)
    writer.add_token_types([gguf.TokenType.NORMAL] * n_normal + [gguf.TokenType.CONTROL] * (len(tokens) - n_normal))
    writer.add_token_merges(list(merges))
    writer.add_bos_token_id(tokens.index(tokenizer.bos))
    writer.add_eos_token_id(tokens.index(tokenizer.eos))
    writer.add_pad_token_id(tokens.index(tokenizer.pad))
    writer.add_add_bos_token(tokenizer.add_bos)
    writer.add_chat_template(tokenizer.chat_template)
    return tokens, n_normal


def write_text_gguf(
    path: Path, family: str, shape: Shape, rng: np.random.Generator, name: str, description: str
) -> None:
    """A random-weight text model of `family` with `shape`'s sizes."""
    spec = _FAMILY_SPECS[family]
    lfm2 = spec.text_arch == gguf.MODEL_ARCH.LFM2
    qwen3 = spec.text_arch == gguf.MODEL_ARCH.QWEN3VL
    writer = gguf.GGUFWriter(path, gguf.MODEL_ARCH_NAMES[spec.text_arch])
    _add_general(writer, name, description, gguf.GGUFType.MODEL)
    writer.add_context_length(shape.context)
    writer.add_embedding_length(shape.text_embd)
    writer.add_block_count(shape.text_layers)
    writer.add_feed_forward_length(shape.text_ff)
    writer.add_head_count(shape.text_heads)
    if lfm2:  # no kv heads marks a short-convolution layer
        writer.add_head_count_kv(
            [shape.text_kv_heads * (i in shape.attention_layers) for i in range(shape.text_layers)]
        )
    else:
        writer.add_head_count_kv(shape.text_kv_heads)
    writer.add_rope_freq_base(spec.rope_theta)
    if spec.rope_sections is not None:
        writer.add_rope_dimension_sections(list(shape.rope_sections or spec.rope_sections))
    writer.add_layer_norm_rms_eps(RMS_EPS)
    if qwen3:
        writer.add_key_length(shape.head_dim)
        writer.add_value_length(shape.head_dim)
        writer.add_num_deepstack_layers(len(shape.deepstack))
    tokens, n_normal = _add_tokenizer(writer, spec.tokenizer, shape)
    if lfm2:
        writer.add_shortconv_l_cache(shape.conv_cache)
        writer.add_vocab_size(len(tokens))

    t = _Tensors(rng)
    embd, q_dim, kv_dim = shape.text_embd, shape.text_heads * shape.head_dim, shape.text_kv_heads * shape.head_dim
    t.random(_name(gguf.MODEL_TENSOR.TOKEN_EMBD), len(tokens), embd)
    # LFM2's final norm is stored as token_embd_norm.
    t.ones(_name(gguf.MODEL_TENSOR.TOKEN_EMBD_NORM if lfm2 else gguf.MODEL_TENSOR.OUTPUT_NORM), embd)
    if not shape.tied_head:
        # An untied output head (tied to token_embd, random weights just echo the last prompt token) that
        # can only pick tokens of printable ASCII: no NUL bytes, which cut prompts short in mtmd, no control
        # tokens, and no end of turn, so every answer runs to max_tokens.
        printable = {_byte_to_unicode()[b] for b in range(0x20, 0x7F)}
        hidden = [i >= n_normal or not set(token) <= printable for i, token in enumerate(tokens)]
        t.random(_name(gguf.MODEL_TENSOR.OUTPUT), len(tokens), embd, std=HEAD_STD, zero_rows=hidden)
    for i in range(shape.text_layers):
        t.ones(_name(gguf.MODEL_TENSOR.ATTN_NORM, bid=i), embd)
        if lfm2 and i not in shape.attention_layers:
            # Gated short convolution: in_proj gives B, C and x; out_proj(C * conv(B * x)). ssm_conv reads F32.
            t.random(_name(gguf.MODEL_TENSOR.SHORTCONV_CONV, bid=i), embd, shape.conv_cache, f32=True)
            t.random(_name(gguf.MODEL_TENSOR.SHORTCONV_INPROJ, bid=i), 3 * embd, embd)
            t.random(_name(gguf.MODEL_TENSOR.SHORTCONV_OUTPROJ, bid=i), embd, embd)
        else:
            for tensor, n_out in (
                (gguf.MODEL_TENSOR.ATTN_Q, q_dim),
                (gguf.MODEL_TENSOR.ATTN_K, kv_dim),
                (gguf.MODEL_TENSOR.ATTN_V, kv_dim),
            ):
                if qwen3 or lfm2:  # no qkv biases
                    t.random(_name(tensor, bid=i), n_out, embd)
                else:
                    t.linear(tensor, embd, n_out, bid=i)
            if qwen3 or lfm2:  # but each head of q and k normalised instead
                t.ones(_name(gguf.MODEL_TENSOR.ATTN_Q_NORM, bid=i), shape.head_dim)
                t.ones(_name(gguf.MODEL_TENSOR.ATTN_K_NORM, bid=i), shape.head_dim)
            t.random(_name(gguf.MODEL_TENSOR.ATTN_OUT, bid=i), embd, q_dim)
        t.ones(_name(gguf.MODEL_TENSOR.FFN_NORM, bid=i), embd)
        t.random(_name(gguf.MODEL_TENSOR.FFN_GATE, bid=i), shape.text_ff, embd)
        t.random(_name(gguf.MODEL_TENSOR.FFN_UP, bid=i), shape.text_ff, embd)
        t.random(_name(gguf.MODEL_TENSOR.FFN_DOWN, bid=i), embd, shape.text_ff)
    _write(writer, t)


def _qwen_vision(t: _Tensors, spec: _Family, shape: Shape) -> None:
    qwen3 = spec.text_arch == gguf.MODEL_ARCH.QWEN3VL
    patch = gguf.MODEL_TENSOR.V_ENC_EMBD_PATCH
    # The two temporal halves of the Conv3D patch embedding, as separate Conv2D kernels.
    t.random(_name(patch), shape.vision_embd, 3, spec.patch_size, spec.patch_size)
    t.random(_name(patch, "weight.1"), shape.vision_embd, 3, spec.patch_size, spec.patch_size)
    if qwen3:
        t.random(_name(patch, "bias"), shape.vision_embd)
        t.random(_name(gguf.MODEL_TENSOR.V_ENC_EMBD_POS), shape.grid * shape.grid, shape.vision_embd, f32=True)

    for i in range(shape.vision_layers):
        if qwen3:  # LayerNorm, fused qkv, plain GELU MLP
            t.layer_norm(gguf.MODEL_TENSOR.V_ENC_INPUT_NORM, shape.vision_embd, bid=i)
            t.linear(gguf.MODEL_TENSOR.V_ENC_ATTN_QKV, shape.vision_embd, 3 * shape.vision_embd, bid=i)
        else:  # RMSNorm, split q/k/v, gated SiLU MLP
            t.ones(_name(gguf.MODEL_TENSOR.V_ENC_INPUT_NORM, bid=i), shape.vision_embd)
            for tensor in (
                gguf.MODEL_TENSOR.V_ENC_ATTN_Q,
                gguf.MODEL_TENSOR.V_ENC_ATTN_K,
                gguf.MODEL_TENSOR.V_ENC_ATTN_V,
            ):
                t.linear(tensor, shape.vision_embd, shape.vision_embd, bid=i)
        t.linear(gguf.MODEL_TENSOR.V_ENC_ATTN_O, shape.vision_embd, shape.vision_embd, bid=i)
        if qwen3:
            t.layer_norm(gguf.MODEL_TENSOR.V_ENC_POST_ATTN_NORM, shape.vision_embd, bid=i)
        else:
            t.ones(_name(gguf.MODEL_TENSOR.V_ENC_POST_ATTN_NORM, bid=i), shape.vision_embd)
            t.linear(gguf.MODEL_TENSOR.V_ENC_FFN_GATE, shape.vision_embd, shape.vision_ff, bid=i)
        t.linear(gguf.MODEL_TENSOR.V_ENC_FFN_UP, shape.vision_embd, shape.vision_ff, bid=i)
        t.linear(gguf.MODEL_TENSOR.V_ENC_FFN_DOWN, shape.vision_ff, shape.vision_embd, bid=i)

    # Merger: norm each patch, concatenate 2x2 patches, then a two-layer GELU MLP into the text width.
    if qwen3:
        t.layer_norm(gguf.MODEL_TENSOR.V_POST_NORM, shape.vision_embd)
    else:
        t.ones(_name(gguf.MODEL_TENSOR.V_POST_NORM), shape.vision_embd)
    t.linear(gguf.MODEL_TENSOR.V_MMPROJ, shape.merged_embd, shape.merged_embd, bid=0)
    t.linear(gguf.MODEL_TENSOR.V_MMPROJ, shape.merged_embd, shape.text_embd, bid=2)
    # Deepstack mergers norm the concatenated patches; their outputs are added to early text layers.
    for i in shape.deepstack if qwen3 else ():
        t.layer_norm(gguf.MODEL_TENSOR.V_DS_NORM, shape.merged_embd, bid=i)
        t.linear(gguf.MODEL_TENSOR.V_DS_FC1, shape.merged_embd, shape.merged_embd, bid=i)
        t.linear(gguf.MODEL_TENSOR.V_DS_FC2, shape.merged_embd, shape.text_embd, bid=i)


def _lfm2_vision(t: _Tensors, spec: _Family, shape: Shape) -> None:
    """A SigLIP2 tower (LayerNorm, q/k/v with biases, GELU MLP), then LFM2-VL's projector: pixel unshuffle,
    LayerNorm, and a two-layer GELU MLP into the text width."""
    embd = shape.vision_embd
    t.random(_name(gguf.MODEL_TENSOR.V_ENC_EMBD_PATCH), embd, 3, spec.patch_size, spec.patch_size)
    t.random(_name(gguf.MODEL_TENSOR.V_ENC_EMBD_PATCH, "bias"), embd)
    # Learned for grid x grid patches; clip.cpp resizes them to each picture's patch grid.
    t.random(_name(gguf.MODEL_TENSOR.V_ENC_EMBD_POS), shape.grid * shape.grid, embd, f32=True)
    for i in range(shape.vision_layers):
        t.layer_norm(gguf.MODEL_TENSOR.V_ENC_INPUT_NORM, embd, bid=i)
        for tensor in (
            gguf.MODEL_TENSOR.V_ENC_ATTN_Q,
            gguf.MODEL_TENSOR.V_ENC_ATTN_K,
            gguf.MODEL_TENSOR.V_ENC_ATTN_V,
            gguf.MODEL_TENSOR.V_ENC_ATTN_O,
        ):
            t.linear(tensor, embd, embd, bid=i)
        t.layer_norm(gguf.MODEL_TENSOR.V_ENC_POST_ATTN_NORM, embd, bid=i)
        t.linear(gguf.MODEL_TENSOR.V_ENC_FFN_UP, embd, shape.vision_ff, bid=i)
        t.linear(gguf.MODEL_TENSOR.V_ENC_FFN_DOWN, shape.vision_ff, embd, bid=i)
    t.layer_norm(gguf.MODEL_TENSOR.V_POST_NORM, embd)
    t.layer_norm(gguf.MODEL_TENSOR.V_MM_INP_NORM, shape.merged_embd)
    t.linear(gguf.MODEL_TENSOR.V_MMPROJ, shape.merged_embd, shape.projector_ff, bid=1)
    t.linear(gguf.MODEL_TENSOR.V_MMPROJ, shape.projector_ff, shape.text_embd, bid=2)


def write_mmproj_gguf(
    path: Path,
    family: str,
    shape: Shape,
    rng: np.random.Generator,
    name: str,
    description: str,
    matrix_type: gguf.GGMLQuantizationType = F16,
) -> None:
    """A random-weight vision tower and projector of `family` with `shape`'s sizes; matrix_type Q8_0 stores
    the matrices whose rows are whole Q8_0 blocks in Q8_0 (llama.cpp's quantizer leaves an mmproj alone)."""
    spec = _FAMILY_SPECS[family]
    writer = gguf.GGUFWriter(path, gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.MMPROJ])
    file_type = gguf.LlamaFileType.MOSTLY_Q8_0 if matrix_type == Q8_0 else gguf.LlamaFileType.MOSTLY_F16
    _add_general(writer, name, description, gguf.GGUFType.MMPROJ, file_type)
    writer.add_clip_has_vision_encoder(True)
    writer.add_clip_projector_type(spec.projector)
    writer.add_vision_projection_dim(shape.text_embd)
    writer.add_vision_image_size(shape.grid * spec.patch_size)
    writer.add_vision_patch_size(spec.patch_size)
    writer.add_vision_embedding_length(shape.vision_embd)
    writer.add_vision_feed_forward_length(shape.vision_ff)
    writer.add_vision_block_count(shape.vision_layers)
    writer.add_vision_head_count(shape.vision_heads)
    writer.add_vision_image_mean(list(spec.image_mean))
    writer.add_vision_image_std(list(spec.image_std))
    writer.add_vision_attention_layernorm_eps(RMS_EPS)
    if spec.text_arch == gguf.MODEL_ARCH.LFM2:
        writer.add_vision_use_gelu(True)
        writer.add_vision_projector_scale_factor(shape.merge)
    elif spec.text_arch == gguf.MODEL_ARCH.QWEN3VL:
        writer.add_vision_use_gelu(True)
        writer.add_vision_spatial_merge_size(shape.merge)
        writer.add_vision_is_deepstack_layers([i in shape.deepstack for i in range(shape.vision_layers)])
    else:
        writer.add_vision_use_silu(True)
        # Blocks 1 and 3 attend over the whole image, blocks 0 and 2 within windows.
        writer.add_vision_n_wa_pattern(2)

    t = _Tensors(rng, matrix_type)
    (_lfm2_vision if spec.text_arch == gguf.MODEL_ARCH.LFM2 else _qwen_vision)(t, spec, shape)
    _write(writer, t)


def write_tiny_vlm(out_dir: Path, family: str = "qwen2.5-vl", seed: int = 0) -> TinyVLMPair:
    """Write tiny-<family>.gguf and mmproj-tiny-<family>.gguf into out_dir, overwriting them."""
    if family not in _FAMILY_SPECS:
        raise ValueError(f"unknown family {family!r}; expected one of {', '.join(FAMILIES)}")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    rng = np.random.default_rng(seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pair = TinyVLMPair(model=out_dir / f"tiny-{family}.gguf", mmproj=out_dir / f"mmproj-tiny-{family}.gguf")
    name = f"tiny-random-{family}-test"
    description = (
        f"Random test weights in the {family} layout for software tests; not a real model, its output is gibberish."
    )
    write_text_gguf(pair.model, family, TINY_SHAPES[family], rng, name, description)
    write_mmproj_gguf(pair.mmproj, family, TINY_SHAPES[family], rng, name, description)
    return pair


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.tiny_vlm",
        description="Write a tiny random-weight VLM model and mmproj GGUF pair (Qwen-VL or LFM2-VL) for tests.",
    )
    parser.add_argument("out_dir", type=Path, help="folder to write the two .gguf files into")
    parser.add_argument("--family", choices=FAMILIES, default=FAMILIES[0], help="model family to imitate")
    parser.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same bytes")
    args = parser.parse_args(argv)
    try:
        pair = write_tiny_vlm(args.out_dir, args.family, args.seed)
    except ValueError as exc:  # a negative seed
        parser.error(str(exc))
    print(pair.model)
    print(pair.mmproj)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
