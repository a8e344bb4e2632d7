"""LiquidAI's LFM2-VL layout: a hybrid text model (gated short convolutions and attention layers, arch lfm2)
and a SigLIP2 tower with the lfm2 projector. The tiny random-weight pair answers gibberish: these tests
assert structure and flow, never wording."""

import ctypes
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gguf import GGUFReader
from helpers import scene

from assistant.core.presets import Preset
from assistant.core.types import Frame
from assistant.see.camera import frame_data_url
from assistant.think.vlm import LocalVisionChat
from tools.shape_vlm import LFM2_VL_450M, scaled
from tools.tiny_vlm import TinyVLMPair, main, write_tiny_vlm

GREEDY = Preset("vqa", temperature=0.0, top_p=1.0, max_tokens=12, repeat_penalty=1.0)


@pytest.fixture(scope="module")
def lfm2_pair(tmp_path_factory: pytest.TempPathFactory) -> TinyVLMPair:
    return write_tiny_vlm(tmp_path_factory.mktemp("tiny-lfm2-vl"), "lfm2-vl")


@pytest.fixture
def vlm(lfm2_pair: TinyVLMPair) -> Iterator[LocalVisionChat]:
    chat = LocalVisionChat(lfm2_pair.model, lfm2_pair.mmproj, n_ctx=1024, flash_attn=False)
    yield chat
    chat.close()


def _image_turn(frame: Frame, text: str = "What is this?") -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": "Be brief."},
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": frame_data_url(frame)}},
                {"type": "text", "text": text},
            ],
        },
    ]


def test_the_pair_has_the_lfm2_layout(lfm2_pair: TinyVLMPair) -> None:
    text = GGUFReader(lfm2_pair.model)
    fields = {key: field.contents() for key, field in text.fields.items()}
    assert fields["general.architecture"] == "lfm2"
    # No kv heads marks a short-convolution layer: conv, attention, conv.
    assert fields["lfm2.attention.head_count_kv"] == [0, 2, 0]
    assert fields["lfm2.shortconv.l_cache"] == 3
    assert fields["tokenizer.ggml.pre"] == "lfm2"
    tensors = {tensor.name for tensor in text.tensors}
    assert {"blk.0.shortconv.in_proj.weight", "blk.1.attn_q.weight", "token_embd_norm.weight"} <= tensors
    assert "blk.1.shortconv.conv.weight" not in tensors
    vision = {key: field.contents() for key, field in GGUFReader(lfm2_pair.mmproj).fields.items()}
    assert vision["clip.projector_type"] == "lfm2" and vision["clip.vision.projector.scale_factor"] == 2
    assert lfm2_pair.model.stat().st_size < 1_000_000 and lfm2_pair.mmproj.stat().st_size < 1_000_000


def test_the_same_seed_writes_the_same_bytes_and_the_command_names_the_pair(
    tmp_path: Path, lfm2_pair: TinyVLMPair, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(tmp_path), "--family", "lfm2-vl"]) == 0
    model, mmproj = capsys.readouterr().out.split()
    assert (model, mmproj) == (str(tmp_path / "tiny-lfm2-vl.gguf"), str(tmp_path / "mmproj-tiny-lfm2-vl.gguf"))
    assert Path(model).read_bytes() == lfm2_pair.model.read_bytes()
    assert Path(mmproj).read_bytes() == lfm2_pair.mmproj.read_bytes()


def test_the_template_and_mtmd_mark_the_picture(vlm: LocalVisionChat) -> None:
    assert vlm.model_info.arch == "lfm2" and vlm.mmproj_info.projector == "lfm2"
    assert "<image>" in vlm.llm.metadata["tokenizer.chat_template"]
    mtmd = vlm.handler._mtmd_cpp
    chunks = vlm.handler.tokenize_prompt(vlm.llm, _image_turn(Frame(scene(1))))
    try:
        pieces: list[str] = []
        for i in range(mtmd.mtmd_input_chunks_size(chunks)):
            chunk = mtmd.mtmd_input_chunks_get(chunks, i)
            if mtmd.mtmd_input_chunk_get_type(chunk) != mtmd.MTMD_INPUT_CHUNK_TYPE_TEXT:
                pieces.append(f"[{mtmd.mtmd_input_chunk_get_n_tokens(chunk)} image tokens]")
                continue
            n_tokens = ctypes.c_size_t()
            tokens = mtmd.mtmd_input_chunk_get_tokens_text(chunk, ctypes.byref(n_tokens))
            pieces += [vlm.llm.detokenize([tokens[j]], special=True).decode() for j in range(n_tokens.value)]
    finally:
        mtmd.mtmd_input_chunks_free(chunks)
    # One BOS (mtmd's; the template's renders empty), then ChatML; 320 x 240 pixels in 32-pixel tokens, 10 x 8.
    assert pieces[:2] == ["<|startoftext|>", "<|im_start|>"]
    image = pieces.index("[80 image tokens]")
    assert pieces[image - 1 : image + 2] == ["<|image_start|>", "[80 image tokens]", "<|image_end|>"]


def test_an_answer_comes_back_with_a_picture(vlm: LocalVisionChat) -> None:
    messages = _image_turn(Frame(scene(2)))
    pieces = list(vlm.stream(messages, GREEDY))
    assert len(pieces) == GREEDY.max_tokens, "the output head never ends an answer early"
    assert vlm.handler.stats.images_encoded == 1 and vlm.handler.stats.image_tokens == 80
    assert vlm.count_tokens(messages) > vlm.count_tokens(messages[:1]) + 80, "the picture takes context tokens"


def test_a_follow_up_reuses_the_prefix_and_answers_as_from_scratch(
    lfm2_pair: TinyVLMPair, vlm: LocalVisionChat
) -> None:
    scratch = LocalVisionChat(lfm2_pair.model, lfm2_pair.mmproj, n_ctx=1024, keep_prefix=False, flash_attn=False)
    try:
        first = _image_turn(Frame(scene(1)))
        # Prepared while the question is spoken: the picture is evaluated, and asking reuses it.
        vlm.prefill(first)
        answer = "".join(vlm.stream(first, GREEDY))
        stats = vlm.handler.stats
        assert stats.images_encoded == 0 and stats.reused_positions > 80 and stats.evaluated_tokens < 30
        assert answer == "".join(scratch.stream(first, GREEDY))

        # The next turn: the picture, the question and the answer stay in the KV cache and the conv state.
        second = [*first, {"role": "assistant", "content": answer}, {"role": "user", "content": "What colour is it?"}]
        follow_up = "".join(vlm.stream(second, GREEDY))
        stats = vlm.handler.stats
        assert stats.images_encoded == 0 and stats.images_from_cache == 0
        assert stats.reused_positions > 100 and stats.evaluated_tokens < 40
        assert follow_up == "".join(scratch.stream(second, GREEDY))

        # A new picture, sent as the conversation sends it: only with the newest turn, the first turn's text
        # kept. The prompt now parts from the cache inside the first turn; llama.cpp cannot cut LFM2's
        # recurrent conv state back to there (llama_memory_seq_rm fails), so the handler goes back to its
        # latest checkpoint of that state before the parting, and the answer is still the one from scratch.
        third = [
            first[0],
            {"role": "user", "content": "What is this?"},
            {"role": "assistant", "content": answer},
            {"role": "user", "content": "What colour is it?"},
            {"role": "assistant", "content": follow_up},
            *_image_turn(Frame(scene(4)), "And now?")[1:],
        ]
        assert "".join(vlm.stream(third, GREEDY)) == "".join(scratch.stream(third, GREEDY))
        assert vlm.handler.stats.images_encoded == 1
    finally:
        scratch.close()


def test_a_scaled_lfm2_shape_keeps_both_kinds_of_layer() -> None:
    assert scaled(LFM2_VL_450M, 1.0) == LFM2_VL_450M
    quarter = scaled(LFM2_VL_450M, 0.25)
    assert (quarter.text_layers, quarter.attention_layers, quarter.vision_layers) == (4, (0, 3), 3)
    assert scaled(LFM2_VL_450M, 0.01).attention_layers == (0,) and scaled(LFM2_VL_450M, 0.01).text_layers == 2
