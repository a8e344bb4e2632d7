"""Multimodal chat that keeps what the model has already read: the KV cache between turns, and each
picture's embeddings.

llama-cpp-python's MTMDChatHandler clears the KV cache on every call, so a follow-up about the same
picture encodes the picture again and reads the whole history again. This handler tokenizes the prompt
into mtmd chunks, keeps the longest prefix that is already in the KV cache (text tokens compared by id,
pictures by the sha256 of their pixels), removes the rest, and evaluates only what follows. A picture
seen before is not encoded again: its embeddings are kept, keyed by that sha256, and decoded again when
the KV cache no longer holds it.

A recurrent or hybrid model (LFM2's short convolutions) cannot cut its recurrent state back to an earlier
position. For those, as llama-server does, the handler keeps checkpoints of that state (before each message,
and before and after each picture); when a prompt parts from the cache, it restores the latest checkpoint at or
before that point and evaluates from there.

Positions follow mtmd-helper.cpp: a text token takes one position, a picture takes
mtmd_input_chunk_get_n_pos positions (for Qwen's M-RoPE, fewer than its tokens).
"""

from __future__ import annotations

import base64
import ctypes
import hashlib
import itertools
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from assistant.core.types import PromptCost
from assistant.errors import BadInputError

_LOGGER = logging.getLogger(__name__)


def offline_handler_class() -> type:
    import jinja2.ext
    import llama_cpp
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    from llama_cpp._utils import suppress_stdout_stderr
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter, MTMDChatHandler

    class OfflineMTMDChatHandler(MTMDChatHandler):
        """MTMDChatHandler that never touches the network, and can count a prompt's tokens."""

        vision_flash_attn = True
        """Flash attention in the vision encoder, chosen apart from the text model's."""

        def _init_mtmd_context(self, llama_model: Any) -> None:
            """As MTMDChatHandler's, with two choices of its own. The vision encoder gets `vision_flash_attn`, not
            the text model's flash attention choice. And on the CPU there is no warm-up: mtmd's would reserve the
            encoder's working memory for the largest picture it accepts (1472 x 1472 for Qwen3-VL) and leave more
            of it resident than our pictures need (86 MB on the Qwen3-VL-2B shape, benchmarks/README.md); on a
            GPU it is kept, so that a lack of GPU memory shows at start and not at the first picture."""
            if self.mtmd_ctx is not None:
                return
            mtmd = self._mtmd_cpp
            params = mtmd.mtmd_context_params_default()
            params.use_gpu = True
            params.print_timings = self.verbose
            params.n_threads = llama_model.n_threads
            params.flash_attn_type = (
                llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED
                if self.vision_flash_attn
                else llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
            )
            params.warmup = bool(llama_cpp.llama_supports_gpu_offload())
            with suppress_stdout_stderr(disable=self.verbose):
                self.mtmd_ctx = mtmd.mtmd_init_from_file(self.clip_model_path.encode(), llama_model.model, params)
            if self.mtmd_ctx is None:
                raise ValueError(f"Failed to load mtmd context from: {self.clip_model_path}")
            if not mtmd.mtmd_support_vision(self.mtmd_ctx):
                raise ValueError("Vision is not supported by this model")

            def free() -> None:
                if self.mtmd_ctx is not None:
                    mtmd.mtmd_free(self.mtmd_ctx)
                    self.mtmd_ctx = None

            llama_model._stack.callback(free)

        @staticmethod
        def _load_image(image_url: str) -> bytes:
            if not image_url.startswith("data:"):
                raise BadInputError("Pictures must be given as data: URLs; nothing is fetched from the network.")
            return base64.b64decode(image_url.split(",", 1)[1])

        def _create_bitmap_from_bytes(self, image_bytes: bytes) -> Any:
            """As MTMDChatHandler's, but without pointing the whole process's stdout and stderr at /dev/null while
            it runs: a picture is decoded while the question is spoken, and the loop's lines for the screen reader
            would be lost. mtmd's own messages go to logging (vlm._route_mtmd_logs)."""
            if self.mtmd_ctx is None:
                raise ValueError("mtmd context not initialized")
            data = (ctypes.c_uint8 * len(image_bytes)).from_buffer(bytearray(image_bytes))
            bitmap = self._mtmd_cpp.mtmd_helper_bitmap_init_from_buf(self.mtmd_ctx, data, len(image_bytes), False)
            if bitmap is None:
                raise ValueError("Failed to create bitmap from image bytes")
            return bitmap

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


SAMPLING_ARGS = (
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "typical_p",
    "stop",
    "seed",
    "max_tokens",
    "presence_penalty",
    "frequency_penalty",
    "repeat_penalty",
    "tfs_z",
    "mirostat_mode",
    "mirostat_tau",
    "mirostat_eta",
    "logits_processor",
    "grammar",
    "logit_bias",
)
"""The create_chat_completion arguments passed on to sampling; tools and formats are not used here."""

_IMAGE_SLOT = 0
"""What Llama.input_ids holds at a picture's positions; the handler never compares it."""

_MAX_CHECKPOINTS = 32
"""The most recurrent-state checkpoints kept (about 80 KB each for LFM2-VL-450M); the oldest go first."""


@dataclass(frozen=True)
class _Unit:
    """One piece of a prompt: a text token (its id) or a picture (its sha256), and the positions it takes."""

    key: int | str
    n_pos: int = 1


def _through(units: list[_Unit], start: int, tokens: list[int]) -> int:
    """Where `tokens` end, when they come soon after `start` (after the template's few marks that close a
    picture); else `start`."""
    if not tokens:
        return start
    keys = [unit.key for unit in units]
    for at in range(start, min(start + _CLOSING_MARKS + 1, len(keys) - len(tokens) + 1)):
        if keys[at : at + len(tokens)] == tokens:
            return at + len(tokens)
    return start


_CLOSING_MARKS = 8
"""At most this many tokens come between a picture and the text after it (such as Qwen's <|vision_end|>)."""


class ImageEmbeddingCache:
    """A picture's embeddings from the vision encoder, by the sha256 of its pixels; the least recently
    used go first."""

    def __init__(self, max_images: int = 4) -> None:
        self.max_images = max(1, max_images)
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> np.ndarray | None:
        embeddings = self._items.get(key)
        if embeddings is None:
            self.misses += 1
            return None
        self.hits += 1
        self._items.move_to_end(key)
        return embeddings

    def put(self, key: str, embeddings: np.ndarray) -> None:
        self._items[key] = embeddings
        self._items.move_to_end(key)
        while len(self._items) > self.max_images:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)


def prefix_reusing_handler_class() -> type:
    import llama_cpp
    from llama_cpp.llama_chat_format import _convert_completion_to_chat

    class PrefixReusingChatHandler(offline_handler_class()):  # type: ignore[misc]
        """An offline MTMD chat handler that evaluates only what the KV cache does not already hold."""

        def __init__(self, clip_model_path: str, verbose: bool = False, max_images: int = 4) -> None:
            super().__init__(clip_model_path=clip_model_path, verbose=verbose)
            self.images = ImageEmbeddingCache(max_images)
            self.stats = PromptCost()
            self._units: list[_Unit] = []
            """The last prompt, as evaluated into the KV cache from position 0."""
            self._checkpoints: list[tuple[int, bytes]] = []
            """For a recurrent or hybrid model: (positions, its recurrent state after them), oldest first."""

        def forget(self, llama: Any) -> None:
            """Empty the KV cache, so that the next prompt is evaluated from scratch."""
            llama._ctx.kv_cache_clear()
            llama.n_tokens = 0
            self._units = []
            self._checkpoints = []

        def __call__(self, *, llama: Any, messages: Any, stream: bool = False, **kwargs: Any) -> Any:
            last = self._evaluate_messages(llama, messages, through_last_picture=False)
            assert last is not None
            # Llama.generate finds all but the last token evaluated, evaluates that one and samples.
            prompt = [*llama.input_ids[: llama.n_tokens].tolist(), last]
            sampling = {name: kwargs[name] for name in SAMPLING_ARGS if name in kwargs}
            completion = llama.create_completion(prompt=prompt, stream=stream, **sampling)
            return _convert_completion_to_chat(completion, stream=stream)

        def prefill(
            self, llama: Any, messages: Any, stop: Callable[[], bool] | None = None, then_text: str = ""
        ) -> PromptCost:
            """Evaluate `messages` into the KV cache up to the end of their last picture, and `then_text` when the
            picture is followed by it, so that a question asked next about the same picture, with the same
            history, has only its own words left to evaluate."""
            after = llama.tokenize(then_text.encode(), add_bos=False, special=False) if then_text else []
            self._evaluate_messages(llama, messages, through_last_picture=True, stop=stop, then_tokens=after)
            return self.stats

        def _evaluate_messages(
            self,
            llama: Any,
            messages: Any,
            through_last_picture: bool,
            stop: Callable[[], bool] | None = None,
            then_tokens: Sequence[int] = (),
        ) -> int | None:
            self._init_mtmd_context(llama)
            chunks = self.tokenize_prompt(llama, messages)
            try:
                return self._evaluate(llama, chunks, through_last_picture, stop, then_tokens)
            except BaseException:
                self.forget(llama)
                raise
            finally:
                self._mtmd_cpp.mtmd_input_chunks_free(chunks)

        def _held(self, llama: Any) -> list[_Unit]:
            """What the KV cache holds now: the last prompt as far as it got, then the tokens generated."""
            held: list[_Unit] = []
            position = 0
            for unit in self._units:
                if position + unit.n_pos > llama.n_tokens:
                    return held
                held.append(unit)
                position += unit.n_pos
            return held + [_Unit(int(token)) for token in llama.input_ids[position : llama.n_tokens]]

        def _evaluate(
            self,
            llama: Any,
            chunks: Any,
            through_last_picture: bool = False,
            stop: Callable[[], bool] | None = None,
            then_tokens: Sequence[int] = (),
        ) -> int | None:
            """Evaluate the prompt but its last token, reusing the KV cache, and return that last token; or,
            `through_last_picture`, evaluate it only up to the end of its last picture, and `then_tokens` when
            they follow it, and return None. `stop` is asked before each picture: when it says so, what is
            evaluated so far stays and the rest is left."""
            mtmd = self._mtmd_cpp
            units: list[_Unit] = []
            sources: list[Any] = []  # the image chunk of each picture unit, None for text
            for i in range(mtmd.mtmd_input_chunks_size(chunks)):
                chunk = mtmd.mtmd_input_chunks_get(chunks, i)
                if mtmd.mtmd_input_chunk_get_type(chunk) == mtmd.MTMD_INPUT_CHUNK_TYPE_TEXT:
                    n_tokens = ctypes.c_size_t()
                    tokens = mtmd.mtmd_input_chunk_get_tokens_text(chunk, ctypes.byref(n_tokens))
                    units += [_Unit(int(tokens[j])) for j in range(n_tokens.value)]
                    sources += [None] * n_tokens.value
                else:
                    key = "image:" + (mtmd.mtmd_input_chunk_get_id(chunk) or b"").decode()
                    units.append(_Unit(key, int(mtmd.mtmd_input_chunk_get_n_pos(chunk))))
                    sources.append(chunk)
            if not units or not isinstance(units[-1].key, int):
                raise ValueError("the prompt must end with text")
            end = len(units) - 1
            if through_last_picture:
                pictures = [i for i, source in enumerate(sources) if source is not None]
                end = pictures[-1] + 1 if pictures else end
                end = _through(units, end, list(then_tokens))
            n_cells = sum(
                mtmd.mtmd_input_chunk_get_n_tokens(mtmd.mtmd_input_chunks_get(chunks, i))
                for i in range(mtmd.mtmd_input_chunks_size(chunks))
            )
            if n_cells > llama.n_ctx():
                raise ValueError(f"Prompt exceeds n_ctx: {n_cells} > {llama.n_ctx()}")

            held = self._held(llama)
            kept = next(
                (i for i, (a, b) in enumerate(zip(held, units[:end], strict=False)) if a != b),
                min(len(held), end),
            )
            position = sum(unit.n_pos for unit in units[:kept])
            image_tokens = sum(int(mtmd.mtmd_input_chunk_get_n_tokens(c)) for c in sources if c is not None)
            stats = self.stats = PromptCost(reused_positions=position, image_tokens=image_tokens)
            if through_last_picture and kept == end:
                return None  # all of it is held already: what follows it in the cache may be asked about next
            if not llama._ctx.kv_cache_seq_rm(-1, position, -1):
                kept = self._roll_back(llama, units[:kept])
                position = stats.reused_positions = sum(unit.n_pos for unit in units[:kept])
            self._checkpoints = [c for c in self._checkpoints if c[0] <= position]
            llama.n_tokens = position
            self._units = units[:kept]
            self._checkpoint(llama)

            started = time.perf_counter()
            message_start = self._message_start(llama)
            text: list[int] = []
            done = kept
            for index in range(kept, end):
                source = sources[index]
                if source is None and units[index].key != message_start:
                    text.append(int(units[index].key))
                    continue
                if text:
                    llama.eval(text)
                    stats.evaluated_tokens += len(text)
                    text = []
                    done = index
                if source is None:  # a message starts, where a later prompt most often parts from this one
                    self._checkpoint(llama)
                    text.append(int(units[index].key))
                    continue
                if stop is not None and stop():
                    break
                self._checkpoint(llama)
                self._decode_image(llama, source, str(units[index].key))
                self._checkpoint(llama)
                stats.evaluated_tokens += int(mtmd.mtmd_input_chunk_get_n_tokens(source))
                done = index + 1
            else:
                if text:
                    llama.eval(text)
                    stats.evaluated_tokens += len(text)
                done = end
            stats.prefill_ms = (time.perf_counter() - started) * 1000 - stats.image_encode_ms
            self._units = units[:done]
            _LOGGER.debug(
                "prompt: %d positions reused, %d tokens evaluated, %d pictures encoded, %d from the cache",
                stats.reused_positions,
                stats.evaluated_tokens,
                stats.images_encoded,
                stats.images_from_cache,
            )
            if done < end:
                return None
            return None if through_last_picture else int(units[-1].key)

        @staticmethod
        def _message_start(llama: Any) -> int | None:
            """ChatML's <|im_start|> token, before which a recurrent model's state is kept; None for a model that
            is not recurrent or has no such token."""
            if not (llama._is_recurrent or llama._is_hybrid):
                return None
            tokens = llama.tokenize(b"<|im_start|>", add_bos=False, special=True)
            return int(tokens[0]) if len(tokens) == 1 else None

        def _checkpoint(self, llama: Any) -> None:
            """Keep a recurrent model's recurrent state as it is after llama.n_tokens positions: only that state
            (LLAMA_STATE_SEQ_FLAGS_PARTIAL_ONLY), as the KV cache of the attention layers can be cut back."""
            if not (llama._is_recurrent or llama._is_hybrid) or llama.n_tokens == 0:
                return
            if self._checkpoints and self._checkpoints[-1][0] == llama.n_tokens:
                return
            flags = llama_cpp.LLAMA_STATE_SEQ_FLAGS_PARTIAL_ONLY
            size = llama_cpp.llama_state_seq_get_size_ext(llama._ctx.ctx, 0, flags)
            state = (ctypes.c_uint8 * size)()
            written = llama_cpp.llama_state_seq_get_data_ext(llama._ctx.ctx, state, size, 0, flags)
            if written:
                self._checkpoints.append((llama.n_tokens, ctypes.string_at(state, written)))
                del self._checkpoints[:-_MAX_CHECKPOINTS]

        def _roll_back(self, llama: Any, kept: list[_Unit]) -> int:
            """Restore the latest checkpoint within `kept`, the units the KV cache holds that the new prompt
            begins with, and cut the KV cache there; return how many units it keeps. With none that fits, clear
            the KV cache and return 0."""
            boundaries = {
                position: i for i, position in enumerate(itertools.accumulate((u.n_pos for u in kept), initial=0))
            }
            flags = llama_cpp.LLAMA_STATE_SEQ_FLAGS_PARTIAL_ONLY
            for n_pos, data in reversed(self._checkpoints):
                if n_pos not in boundaries:
                    continue
                state = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
                if llama_cpp.llama_state_seq_set_data_ext(llama._ctx.ctx, state, len(data), 0, flags) and (
                    llama._ctx.kv_cache_seq_rm(0, n_pos, -1)
                ):
                    return boundaries[n_pos]
            llama._ctx.kv_cache_clear()
            return 0

        def _decode_image(self, llama: Any, chunk: Any, key: str) -> None:
            """Decode a picture's embeddings at the next position, encoding the picture only if it is new."""
            mtmd = self._mtmd_cpp
            embeddings = self.images.get(key)
            if embeddings is None:
                started = time.perf_counter()
                if mtmd.mtmd_encode_chunk(self.mtmd_ctx, chunk) != 0:
                    raise ValueError("Failed to encode the picture")
                size = mtmd.mtmd_input_chunk_get_n_tokens(chunk) * llama_cpp.llama_model_n_embd_inp(llama.model)
                output = mtmd.mtmd_get_output_embd(self.mtmd_ctx)
                embeddings = np.ctypeslib.as_array(output, shape=(size,)).copy()
                self.images.put(key, embeddings)
                self.stats.image_encode_ms += (time.perf_counter() - started) * 1000
                self.stats.images_encoded += 1
            else:
                self.stats.images_from_cache += 1
            new_n_past = llama_cpp.llama_pos(0)
            result = mtmd.mtmd_helper_decode_image_chunk(
                self.mtmd_ctx,
                llama._ctx.ctx,
                chunk,
                embeddings.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                llama_cpp.llama_pos(llama.n_tokens),
                llama_cpp.llama_seq_id(0),
                llama.n_batch,
                ctypes.byref(new_n_past),
                mtmd.mtmd_helper_post_decode_callback(),
                None,
            )
            if result != 0:
                raise ValueError(f"Failed to decode the picture: error code {result}")
            llama.input_ids[llama.n_tokens : new_n_past.value] = _IMAGE_SLOT
            llama.n_tokens = new_n_past.value

    return PrefixReusingChatHandler
