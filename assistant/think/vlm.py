"""The vision-language model: a GGUF pair (text model + mmproj: Qwen-VL or LFM2-VL) through llama-cpp-python's mtmd."""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.core.presets import Preset
from assistant.core.types import PromptCost
from assistant.errors import ModelError
from assistant.think.machine import usable_cores
from assistant.think.mtmd_chat import offline_handler_class, prefix_reusing_handler_class

_LOGGER = logging.getLogger(__name__)

DEFAULT_PIXELS_PER_TOKEN = 32
"""Qwen3-VL: 16-pixel patches, merged 2 by 2 into one token."""
VISION_ARCHS = {"qwen2vl": "Qwen2.5-VL", "qwen3vl": "Qwen3-VL", "qwen3vlmoe": "Qwen3-VL MoE", "lfm2": "LFM2-VL"}
GGUF_MAGIC = b"GGUF"
KV_CACHE_TYPES = {"f16": 1, "q8_0": 8}
"""ggml's type numbers, as llama.cpp's type_k and type_v take them."""
QUANT_BLOCK = 32
"""A q8_0 KV cache stores each head in blocks of this many values."""


@dataclass(frozen=True)
class GgufInfo:
    path: Path
    arch: str
    name: str
    projector: str = ""
    """For an mmproj: the clip projector type, such as qwen2.5vl_merger."""
    pixels_per_token: int = 0
    """For an mmproj: the side, in pixels, of the square one image token covers (patch size times merge)."""
    head_dim: int = 0
    """For a text model: the size of an attention head's keys."""


def _field_text(reader: Any, key: str) -> str:
    field = reader.fields.get(key)
    if field is None:
        return ""
    try:
        return str(field.contents())
    except (AttributeError, IndexError, ValueError):
        return ""


def _field_int(reader: Any, key: str) -> int:
    try:
        return int(_field_text(reader, key) or 0)
    except ValueError:
        return 0


def inspect_gguf(path: Path, role: str) -> GgufInfo:
    """Read a GGUF header, or raise a ModelError naming the file. `role` is "model" or "mmproj"."""
    from gguf import GGUFReader

    fix = "Run 'assistant models pull', or place a GGUF model and its mmproj in the models folder."
    what = "vision projector (mmproj)" if role == "mmproj" else "vision model"
    if not path.is_file():
        raise ModelError(f"The {what} file {path} is missing.", fix)
    try:
        with path.open("rb") as f:
            magic = f.read(4)
        if magic != GGUF_MAGIC:
            raise ValueError("not a GGUF file")
        reader = GGUFReader(path)
    except (OSError, ValueError, IndexError, KeyError) as e:
        raise ModelError(f"The {what} file {path} is damaged or not a GGUF file.", fix) from e
    arch = _field_text(reader, "general.architecture")
    patch = _field_int(reader, "clip.vision.patch_size")
    # Qwen merges 2 x 2 patches into a token; LFM2 calls it the projector's scale factor
    merge = (
        _field_int(reader, "clip.vision.spatial_merge_size")
        or _field_int(reader, "clip.vision.projector.scale_factor")
        or 2
    )
    heads = _field_int(reader, f"{arch}.attention.head_count")
    head_dim = _field_int(reader, f"{arch}.attention.key_length") or (
        _field_int(reader, f"{arch}.embedding_length") // heads if heads else 0
    )
    info = GgufInfo(
        path,
        arch,
        _field_text(reader, "general.name"),
        _field_text(reader, "clip.projector_type"),
        patch * merge,
        head_dim,
    )
    if role == "mmproj" and arch != "clip":
        raise ModelError(f"The file {path} is not a vision projector (mmproj): its architecture is '{arch}'.", fix)
    if role == "model" and arch == "clip":
        raise ModelError(f"The file {path} is a vision projector (mmproj), not the text model.", fix)
    return info


_MTMD_LOG_CALLBACK: Any = None
"""Kept referenced: llama.cpp calls it for as long as the process lives."""


def _route_mtmd_logs() -> None:
    """Send mtmd's logs (it prints every prompt piece and image slice) to logging: debug, or error for errors."""
    global _MTMD_LOG_CALLBACK
    if _MTMD_LOG_CALLBACK is not None:
        return
    import llama_cpp
    import llama_cpp.mtmd_cpp as mtmd

    @llama_cpp.llama_log_callback
    def forward(level: int, text: bytes, user_data: Any) -> None:
        message = text.decode("utf-8", errors="replace").rstrip()
        if message:
            _LOGGER.log(logging.ERROR if level == _GGML_LOG_LEVEL_ERROR else logging.DEBUG, "mtmd: %s", message)

    _MTMD_LOG_CALLBACK = forward
    mtmd.mtmd_log_set(forward, ctypes.c_void_p(0))
    mtmd.mtmd_helper_log_set(forward, ctypes.c_void_p(0))


_GGML_LOG_LEVEL_ERROR = 3


class LocalVisionChat:
    """A Qwen2.5-VL, Qwen3-VL or LFM2-VL GGUF pair answering with the GGUF's own chat template."""

    def __init__(
        self,
        model: Path,
        mmproj: Path,
        n_ctx: int = 4096,
        n_threads: int = 0,
        n_batch: int = 512,
        n_ubatch: int = 512,
        use_mmap: bool = False,
        seed: int = 0,
        verbose: bool = False,
        keep_prefix: bool = True,
        logit_bias: dict[int, float] | None = None,
        n_gpu_layers: int = 0,
        kv_cache: str = "f16",
        flash_attn: bool = False,
        vision_flash_attn: bool = True,
    ) -> None:
        """n_gpu_layers: text-model layers on the GPU, -1 for all; the vision tower goes to the GPU whenever
        llama.cpp has one. keep_prefix: keep the KV cache and pictures' embeddings between calls and evaluate only
        what is new (see mtmd_chat); False evaluates every prompt from scratch. logit_bias: added to those
        tokens' logits at every step. kv_cache: the KV cache's type, f16 or q8_0 (half the memory; it needs
        flash attention, which it turns on). flash_attn: flash attention in the text model.
        vision_flash_attn: flash attention in the vision encoder, which then never holds a whole picture's
        attention matrix (llama.cpp's own default)."""
        self.model_info = inspect_gguf(model, "model")
        self.mmproj_info = inspect_gguf(mmproj, "mmproj")
        if self.model_info.name.startswith(("tiny-random-", "random-")):
            _LOGGER.warning("%s holds random test weights: its answers are gibberish", model.name)
        if self.model_info.arch not in VISION_ARCHS:
            _LOGGER.warning("model architecture %s is not one this assistant was tested with", self.model_info.arch)
        try:
            from llama_cpp import Llama
        except ImportError as e:
            raise ModelError(
                "The vision model library llama-cpp-python is not installed.", "Run ./setup.sh to build it."
            ) from e
        self.seed = seed
        self.n_ctx = n_ctx
        self.logit_bias = logit_bias
        _route_mtmd_logs()
        if keep_prefix:
            handler = prefix_reusing_handler_class()(clip_model_path=str(mmproj), verbose=verbose)
        else:
            handler = offline_handler_class()(clip_model_path=str(mmproj), verbose=verbose)
        handler.vision_flash_attn = vision_flash_attn
        threads = n_threads or usable_cores()
        if kv_cache not in KV_CACHE_TYPES:
            raise ModelError(f"vlm.kv_cache is {kv_cache!r}; it can be {' or '.join(KV_CACHE_TYPES)}.")
        if kv_cache != "f16" and self.model_info.head_dim % QUANT_BLOCK:
            _LOGGER.info(
                "a %d-wide attention head cannot hold a %s KV cache: f16 instead", self.model_info.head_dim, kv_cache
            )
            kv_cache = "f16"
        quantised_kv = kv_cache != "f16"
        try:
            self.llm: Any = Llama(
                model_path=str(model),
                chat_handler=handler,
                n_ctx=n_ctx,
                n_threads=threads,
                n_threads_batch=threads,
                n_batch=n_batch,
                n_ubatch=min(n_ubatch, n_batch),
                use_mmap=use_mmap,
                n_gpu_layers=n_gpu_layers,
                type_k=KV_CACHE_TYPES[kv_cache],
                type_v=KV_CACHE_TYPES[kv_cache],
                flash_attn=flash_attn or quantised_kv,
                seed=seed,
                verbose=verbose,
            )
        except (ValueError, RuntimeError) as e:
            raise ModelError(
                f"The vision model {model.name} could not be loaded.",
                "Check that the file is complete, or download it again with 'assistant models pull'.",
            ) from e
        try:
            handler._init_mtmd_context(self.llm)
        except (ValueError, RuntimeError) as e:
            self.llm.close()
            raise ModelError(
                f"The vision projector {mmproj.name} could not be loaded with {model.name}.",
                "Use the mmproj file made for this model.",
            ) from e
        self.handler = handler
        self.closed = False

    def _usable(self) -> None:
        if self.closed:
            raise ModelError("The vision model has been closed.")

    @property
    def name(self) -> str:
        return self.model_info.name or self.model_info.path.name

    @property
    def pixels_per_token(self) -> int:
        return self.mmproj_info.pixels_per_token or DEFAULT_PIXELS_PER_TOKEN

    @property
    def cost(self) -> PromptCost:
        """What evaluating the last prompt cost."""
        return getattr(self.handler, "stats", PromptCost())

    def count_tokens(self, messages: list[dict[str, Any]]) -> int:
        self._usable()
        return int(self.handler.count_tokens(self.llm, messages))

    def prefill(
        self, messages: list[dict[str, Any]], stop: Callable[[], bool] | None = None, then_text: str = ""
    ) -> PromptCost | None:
        """Evaluate the messages up to the end of their last picture into the KV cache, and `then_text` where it
        follows the picture, asking `stop` before each picture; None when this model does not keep its KV cache
        between calls, so that preparing would be lost."""
        if not hasattr(self.handler, "prefill"):
            return None
        self._usable()
        try:
            return self.handler.prefill(self.llm, messages, stop, then_text)
        except ValueError as e:
            raise ModelError("The vision model could not read the picture.", str(e)) from e

    def stream(self, messages: list[dict[str, Any]], preset: Preset) -> Iterator[str]:
        self._usable()
        try:
            chunks = self.llm.create_chat_completion(
                messages=messages,
                stream=True,
                temperature=preset.temperature,
                top_p=preset.top_p,
                max_tokens=preset.max_tokens,
                repeat_penalty=preset.repeat_penalty,
                seed=self.seed,
                logit_bias=self.logit_bias,
            )
            for chunk in chunks:
                piece = chunk["choices"][0]["delta"].get("content")
                if piece:
                    yield piece
        except ValueError as e:
            raise ModelError("The vision model could not read the question and picture.", str(e)) from e

    def close(self) -> None:
        self.closed = True
        self.llm.close()
