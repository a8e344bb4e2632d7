"""The vision-language model: a Qwen-VL GGUF pair (text model + mmproj) through llama-cpp-python's mtmd."""

from __future__ import annotations

import base64
import ctypes
import hashlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.errors import BadInputError, ModelError
from assistant.presets import Preset

_LOGGER = logging.getLogger(__name__)

VISION_ARCHS = {"qwen2vl": "Qwen2.5-VL", "qwen3vl": "Qwen3-VL", "qwen3vlmoe": "Qwen3-VL MoE"}
GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class GgufInfo:
    path: Path
    arch: str
    name: str
    projector: str = ""
    """For an mmproj: the clip projector type, such as qwen2.5vl_merger."""


def _field_text(reader: Any, key: str) -> str:
    field = reader.fields.get(key)
    if field is None:
        return ""
    try:
        return str(field.contents())
    except (AttributeError, IndexError, ValueError):
        return ""


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
    info = GgufInfo(path, arch, _field_text(reader, "general.name"), _field_text(reader, "clip.projector_type"))
    if role == "mmproj" and arch != "clip":
        raise ModelError(f"The file {path} is not a vision projector (mmproj): its architecture is '{arch}'.", fix)
    if role == "model" and arch == "clip":
        raise ModelError(f"The file {path} is a vision projector (mmproj), not the text model.", fix)
    return info


def usable_cores() -> int:
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


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


def _offline_handler_class() -> type:
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter, MTMDChatHandler

    class OfflineMTMDChatHandler(MTMDChatHandler):
        """MTMDChatHandler that never touches the network, and can count a prompt's tokens."""

        @staticmethod
        def _load_image(image_url: str) -> bytes:
            if not image_url.startswith("data:"):
                raise BadInputError("Pictures must be given as data: URLs; nothing is fetched from the network.")
            return base64.b64decode(image_url.split(",", 1)[1])

        def count_tokens(self, llama: Any, messages: Any) -> int:
            """Tokens the prompt for `messages` takes, image tokens included, without evaluating it."""
            mtmd = self._mtmd_cpp
            chunks = self.tokenize_prompt(llama, messages)
            try:
                return sum(
                    mtmd.mtmd_input_chunk_get_n_tokens(mtmd.mtmd_input_chunks_get(chunks, i))
                    for i in range(mtmd.mtmd_input_chunks_size(chunks))
                )
            finally:
                mtmd.mtmd_input_chunks_free(chunks)

        def tokenize_prompt(self, llama: Any, messages: Any) -> Any:
            """The prompt for `messages` as mtmd input chunks, which the caller frees. Each image chunk's id
            is the sha256 of the picture's decoded pixels."""
            self._init_mtmd_context(llama)
            mtmd = self._mtmd_cpp
            marker = mtmd.mtmd_default_marker().decode("utf-8")
            # The same template environment MTMDChatHandler.__call__ renders with.
            environment = ImmutableSandboxedEnvironment(
                trim_blocks=True,
                lstrip_blocks=True,
                extensions=[Jinja2ChatFormatter.IgnoreGenerationTags, jinja2.ext.loopcontrols],
            )
            environment.filters["tojson"] = Jinja2ChatFormatter.tojson

            def raise_exception(message: str) -> None:
                raise ValueError(message)

            text = environment.from_string(self._get_chat_template(llama)).render(
                messages=self._get_template_messages(messages, marker),
                add_generation_prompt=True,
                eos_token=self._decode_token_piece(llama.detokenize([llama.token_eos()])),
                bos_token=self._decode_token_piece(llama.detokenize([llama.token_bos()])),
                raise_exception=raise_exception,
                strftime_now=Jinja2ChatFormatter.strftime_now,
            )
            text = self._postprocess_template_text(text, self.get_image_urls(messages), marker)
            bitmaps = [self._create_bitmap_from_bytes(self.load_image(url)) for url in self.get_image_urls(messages)]
            chunks = mtmd.mtmd_input_chunks_init()
            try:
                for bitmap in bitmaps:
                    pixels = ctypes.string_at(mtmd.mtmd_bitmap_get_data(bitmap), mtmd.mtmd_bitmap_get_n_bytes(bitmap))
                    size = f"{mtmd.mtmd_bitmap_get_nx(bitmap)}x{mtmd.mtmd_bitmap_get_ny(bitmap)}:"
                    mtmd.mtmd_bitmap_set_id(bitmap, hashlib.sha256(size.encode() + pixels).hexdigest().encode())
                data = text.encode("utf-8")
                input_text = mtmd.mtmd_input_text()
                input_text.text, input_text.text_len = data, len(data)
                input_text.add_special, input_text.parse_special = True, True
                array = (mtmd.mtmd_bitmap_p_ctypes * len(bitmaps))(*bitmaps)
                if mtmd.mtmd_tokenize(self.mtmd_ctx, chunks, ctypes.byref(input_text), array, len(bitmaps)) != 0:
                    raise BadInputError("The picture could not be prepared for the vision model.")
            except BaseException:
                mtmd.mtmd_input_chunks_free(chunks)
                raise
            finally:
                for bitmap in bitmaps:
                    mtmd.mtmd_bitmap_free(bitmap)
            return chunks

    return OfflineMTMDChatHandler


class LocalVisionChat:
    """A Qwen2.5-VL or Qwen3-VL GGUF pair answering with the GGUF's own chat template."""

    def __init__(
        self,
        model: Path,
        mmproj: Path,
        n_ctx: int = 4096,
        n_threads: int = 0,
        n_batch: int = 512,
        n_ubatch: int = 512,
        use_mmap: bool = True,
        seed: int = 0,
        verbose: bool = False,
        keep_prefix: bool = True,
        logit_bias: dict[int, float] | None = None,
    ) -> None:
        """keep_prefix: keep the KV cache and pictures' embeddings between calls and evaluate only what is
        new (see mtmd_chat); False evaluates every prompt from scratch. logit_bias: added to those tokens'
        logits at every step."""
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
            from assistant.mtmd_chat import prefix_reusing_handler_class

            handler = prefix_reusing_handler_class()(clip_model_path=str(mmproj), verbose=verbose)
        else:
            handler = _offline_handler_class()(clip_model_path=str(mmproj), verbose=verbose)
        threads = n_threads or usable_cores()
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

    @property
    def name(self) -> str:
        return self.model_info.name or self.model_info.path.name

    def count_tokens(self, messages: list[dict[str, Any]]) -> int:
        return int(self.handler.count_tokens(self.llm, messages))

    def stream(self, messages: list[dict[str, Any]], preset: Preset) -> Iterator[str]:
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
        self.llm.close()
