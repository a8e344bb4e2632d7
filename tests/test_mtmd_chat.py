"""The prefix-reusing handler must answer exactly as evaluating every prompt from scratch does.

Each conversation runs on two models loaded from the same tiny pair: one keeps its KV cache and
pictures' embeddings between turns, the other (llama-cpp-python's own MTMD path) starts afresh every
turn. Greedy decoding with the same seed must give the same tokens, turn after turn. LFM2-VL's hybrid text
model cannot cut its recurrent state back, so where a prompt parts from the cache it goes back to a
checkpoint of that state: it must reuse as the Qwen models do, and answer just as exactly.
"""

from collections.abc import Iterator
from typing import Any

import llama_cpp
import numpy as np
import pytest
from helpers import scene

from assistant.core.conversation import Conversation
from assistant.core.presets import Preset
from assistant.core.types import Frame
from assistant.errors import ModelError
from assistant.see.camera import frame_data_url
from assistant.think import mtmd_chat
from assistant.think.mtmd_chat import ImageEmbeddingCache
from assistant.think.vlm import LocalVisionChat
from tools.tiny_vlm import TinyVLMPair, write_tiny_vlm

GREEDY = Preset("vqa", temperature=0.0, top_p=1.0, max_tokens=16, repeat_penalty=1.0)
FAMILIES = ["qwen2.5-vl", "qwen3-vl", "lfm2-vl"]


def _image_part(frame: Frame) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": frame_data_url(frame)}}


@pytest.fixture(scope="module")
def pairs(tiny_pairs: dict[str, TinyVLMPair], tmp_path_factory: pytest.TempPathFactory) -> dict[str, TinyVLMPair]:
    return {**tiny_pairs, "lfm2-vl": write_tiny_vlm(tmp_path_factory.mktemp("tiny-lfm2-vl"), "lfm2-vl")}


@pytest.fixture(params=FAMILIES)
def models(request: pytest.FixtureRequest, pairs: dict[str, TinyVLMPair]) -> Iterator[tuple[Any, Any]]:
    pair = pairs[request.param]
    # Answers equal to those from scratch, token for token, need the same kernels for any batch split: flash
    # attention's sums run in another order for another split, so it is off here.
    reusing = LocalVisionChat(pair.model, pair.mmproj, n_ctx=2048, flash_attn=False)
    scratch = LocalVisionChat(pair.model, pair.mmproj, n_ctx=2048, keep_prefix=False, flash_attn=False)
    yield reusing, scratch
    reusing.close()
    scratch.close()


def _turn(models: tuple[Any, Any], conversation: Conversation, question: str, frame: Frame, budget: int = 0) -> Any:
    """Ask on both models; record the answer; return the reusing handler's stats for the turn."""
    reusing, scratch = models
    conversation.add_user(question, frame)
    start = conversation.fit(_image_part, reusing.count_tokens, budget) if budget else 0
    messages = conversation.messages(_image_part, start)
    answer = "".join(reusing.stream(messages, GREEDY))
    assert answer, "the model produced tokens"
    assert answer == "".join(scratch.stream(messages, GREEDY)), f"turn {question!r} differs from scratch"
    conversation.add_assistant(answer)
    return reusing.handler.stats


def test_reused_prefix_answers_as_from_scratch(models: tuple[Any, Any]) -> None:
    reusing, _ = models
    conversation = Conversation(system_prompt="Be brief.")
    first, second = Frame(scene(1)), Frame(scene(4))

    stats = _turn(models, conversation, "What is in front of me?", first)
    assert stats.reused_positions == 0 and stats.images_encoded == 1

    # A follow-up on the same frame: the picture and the first turn stay in the KV cache.
    stats = _turn(models, conversation, "What colour is it?", Frame(scene(1)))
    assert stats.images_encoded == 0 and stats.images_from_cache == 0
    assert stats.reused_positions > 0 and stats.evaluated_tokens < 40

    # A new frame mid-conversation: moved into the first turn, it is evaluated from there on.
    stats = _turn(models, conversation, "And now?", second)
    assert stats.images_encoded == 1 and stats.reused_positions > 0
    _turn(models, conversation, "Is it the blue one?", second)
    stats = _turn(models, conversation, "Read the sign.", second)
    assert stats.images_encoded == 0

    # History trimmed by the context limit: the picture moves to the earliest kept turn, and comes
    # from the embedding cache rather than the encoder.
    conversation.add_user("Which way is the exit?", second)
    budget = reusing.count_tokens(conversation.messages(_image_part, 3))
    assert reusing.count_tokens(conversation.messages(_image_part, 2)) > budget
    conversation.discard_pending()
    stats = _turn(models, conversation, "Which way is the exit?", second, budget=budget)
    assert stats.images_encoded == 0 and stats.images_from_cache == 1
    assert stats.reused_positions > 0, "the system prompt stays in the cache"


def test_an_interrupted_answer_leaves_the_next_turn_exact(models: tuple[Any, Any]) -> None:
    reusing, _ = models
    conversation = Conversation(system_prompt="Be brief.")
    conversation.add_user("What is in front of me?", Frame(scene(2)))
    pieces = reusing.stream(conversation.messages(_image_part), GREEDY)
    heard = next(pieces) + next(pieces)
    for _ in range(2):
        next(pieces)  # generated, and in the KV cache, but not heard
    pieces.close()  # as the pipeline does when the user presses the key
    conversation.add_assistant(heard, interrupted=True)
    stats = _turn(models, conversation, "Go on.", Frame(scene(2)))
    assert stats.images_encoded == stats.images_from_cache == 0 and stats.reused_positions > 0

    conversation.add_user("What is that?", Frame(scene(2)))
    pieces = reusing.stream(conversation.messages(_image_part), GREEDY)
    next(pieces)
    pieces.close()  # cancelled before its first token was heard
    conversation.discard_pending()
    stats = _turn(models, conversation, "What is that?", Frame(scene(2)))
    assert stats.images_encoded == stats.images_from_cache == 0 and stats.reused_positions > 0


def test_a_hybrid_model_keeps_few_checkpoints_and_without_one_starts_afresh(
    pairs: dict[str, TinyVLMPair], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mtmd_chat, "_MAX_CHECKPOINTS", 2)
    pair = pairs["lfm2-vl"]
    models = (
        LocalVisionChat(pair.model, pair.mmproj, n_ctx=1024, flash_attn=False),
        LocalVisionChat(pair.model, pair.mmproj, n_ctx=1024, keep_prefix=False, flash_attn=False),
    )
    try:
        handler = models[0].handler
        conversation = Conversation(system_prompt="Be brief.")
        _turn(models, conversation, "What is in front of me?", Frame(scene(1)))
        assert len(handler._checkpoints) == 2, "the two newest: before the answer and after the picture"
        # Only the newest picture is sent, so the first turn loses its own: the prompt parts from the cache
        # before both checkpoints kept, and is evaluated from scratch.
        stats = _turn(models, conversation, "And now?", Frame(scene(4)))
        assert stats.reused_positions == 0 and stats.images_encoded == 1
        assert len(handler._checkpoints) == 2
        handler.forget(models[0].llm)
        assert handler._checkpoints == []
    finally:
        for vlm in models:
            vlm.close()


def test_the_same_frame_hits_the_cache_and_a_changed_pixel_misses(tiny_pairs: dict[str, TinyVLMPair]) -> None:
    pair = tiny_pairs["qwen3-vl"]
    vlm = LocalVisionChat(pair.model, pair.mmproj, n_ctx=1024)
    try:
        image = scene(3)
        changed = image.copy()
        changed[120, 200] = 255 - changed[120, 200]

        def ask(frame: Frame) -> Any:
            vlm.handler.forget(vlm.llm)  # the KV cache is lost; only the embedding cache can help
            messages = [{"role": "user", "content": [_image_part(frame), {"type": "text", "text": "What?"}]}]
            assert "".join(vlm.stream(messages, GREEDY))
            return vlm.handler.stats

        assert ask(Frame(image)).images_encoded == 1
        again = ask(Frame(image.copy()))
        assert (again.images_encoded, again.images_from_cache) == (0, 1)
        other = ask(Frame(changed))
        assert (other.images_encoded, other.images_from_cache) == (1, 0)
        assert len(vlm.handler.images) == 2
    finally:
        vlm.close()


def test_the_embedding_cache_drops_the_least_recently_used() -> None:
    cache = ImageEmbeddingCache(max_images=2)
    cache.put("a", np.zeros(4, np.float32))
    cache.put("b", np.ones(4, np.float32))
    assert cache.get("a") is not None  # "a" is now the most recently used
    cache.put("c", np.ones(4, np.float32))
    assert "a" in cache and "c" in cache and "b" not in cache
    assert cache.get("b") is None
    assert (cache.hits, cache.misses) == (1, 1)


def test_a_failed_prompt_loses_nothing(tiny_pairs: dict[str, TinyVLMPair]) -> None:
    pair = tiny_pairs["qwen2.5-vl"]
    vlm = LocalVisionChat(pair.model, pair.mmproj, n_ctx=256)
    try:
        text_only = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello?"}]
        before = "".join(vlm.stream(text_only, GREEDY))
        too_long = [*text_only, {"role": "user", "content": "word " * 400}]
        with pytest.raises(ModelError, match="could not read"):
            list(vlm.stream(too_long, GREEDY))
        assert "".join(vlm.stream(text_only, GREEDY)) == before
    finally:
        vlm.close()


@pytest.mark.parametrize("vision_flash_attn", [True, False])
def test_the_vision_encoder_takes_its_own_flash_attention_choice(
    tiny_pairs: dict[str, TinyVLMPair], vision_flash_attn: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """The text model keeps flash attention off; the vision encoder, which on the CPU is not warmed up at load but
    at its first picture, says then which it was given."""
    pair = tiny_pairs["qwen3-vl"]
    question = {"role": "user", "content": [_image_part(Frame(scene(1))), {"type": "text", "text": "What is it?"}]}
    with caplog.at_level("DEBUG", logger="assistant.think.vlm"):
        chat = LocalVisionChat(pair.model, pair.mmproj, n_ctx=1024, vision_flash_attn=vision_flash_attn)
        try:
            assert not [r for r in caplog.records if "warmup:" in r.getMessage()], "it was warmed up at load"
            list(chat.stream([question], GREEDY))
            said = [r.getMessage() for r in caplog.records if "warmup: flash attention is" in r.getMessage()]
            assert said == [f"mtmd: warmup: flash attention is {'enabled' if vision_flash_attn else 'disabled'}"]
            text_choice = chat.llm.context_params.flash_attn_type
            assert text_choice == llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED, "the text model's choice was changed"
        finally:
            chat.close()
