"""The tiny random-weight pairs answer gibberish: these tests assert structure and flow, never wording."""

from pathlib import Path
from typing import Any

import pytest
from helpers import scene

from assistant.core.presets import VQA, Preset, choose_preset
from assistant.core.types import Frame
from assistant.errors import BadInputError, ModelError
from assistant.see.camera import frame_data_url
from assistant.think.vlm import LocalVisionChat, inspect_gguf
from tools.tiny_vlm import TinyVLMPair

GREEDY = Preset("vqa", temperature=0.0, top_p=1.0, max_tokens=12, repeat_penalty=1.0)


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


@pytest.mark.parametrize("family", ["qwen2.5-vl", "qwen3-vl"])
def test_each_family_completes_an_image_turn(tiny_pairs: dict[str, TinyVLMPair], family: str) -> None:
    pair = tiny_pairs[family]
    vlm = LocalVisionChat(pair.model, pair.mmproj, n_ctx=1024)
    try:
        assert vlm.model_info.arch == {"qwen2.5-vl": "qwen2vl", "qwen3-vl": "qwen3vl"}[family]
        messages = _image_turn(Frame(scene(2)))
        pieces = list(vlm.stream(messages, GREEDY))
        assert pieces, "the model produced tokens"
        assert all(isinstance(piece, str) for piece in pieces)
        text_only = vlm.count_tokens(messages[:1])
        with_image = vlm.count_tokens(messages)
        assert with_image > text_only + 16, "the picture takes context tokens"
        # Greedy decoding with the same seed repeats itself.
        assert list(vlm.stream(messages, GREEDY)) == pieces
    finally:
        vlm.close()


def test_a_follow_up_turn_with_history_and_a_new_image(tiny_pair: TinyVLMPair) -> None:
    vlm = LocalVisionChat(tiny_pair.model, tiny_pair.mmproj, n_ctx=1024)
    try:
        first = _image_turn(Frame(scene(1)))
        answer = "".join(vlm.stream(first, GREEDY))
        follow_up = [
            *first[:1],
            {"role": "user", "content": "What is this?"},
            {"role": "assistant", "content": answer},
            *_image_turn(Frame(scene(5)), "And now?")[1:],
        ]
        assert "".join(vlm.stream(follow_up, GREEDY))
    finally:
        vlm.close()


def test_image_urls_that_are_not_data_urls_are_refused(tiny_pair: TinyVLMPair) -> None:
    vlm = LocalVisionChat(tiny_pair.model, tiny_pair.mmproj, n_ctx=512)
    try:
        messages = [
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://example.com/a.jpg"}}]}
        ]
        with pytest.raises(BadInputError, match=r"data: URLs"):
            list(vlm.stream(messages, VQA))
    finally:
        vlm.close()


def test_missing_and_damaged_files_name_the_file_and_the_fix(tmp_path: Path, tiny_pair: TinyVLMPair) -> None:
    with pytest.raises(ModelError, match=r"vision model file .*absent.gguf is missing") as error:
        LocalVisionChat(tmp_path / "absent.gguf", tiny_pair.mmproj)
    assert "assistant models pull" in error.value.fix

    corrupt = tmp_path / "corrupt.gguf"
    corrupt.write_bytes(b"GGUF" + b"\xff" * 64)
    with pytest.raises(ModelError, match=r"corrupt.gguf is damaged or not a GGUF file"):
        LocalVisionChat(corrupt, tiny_pair.mmproj)

    truncated = tmp_path / "mmproj-truncated.gguf"
    truncated.write_bytes(tiny_pair.mmproj.read_bytes()[:5000])
    with pytest.raises(ModelError, match=r"mmproj-truncated.gguf is damaged"):
        LocalVisionChat(tiny_pair.model, truncated)


def test_swapped_model_and_mmproj_are_caught(tiny_pair: TinyVLMPair) -> None:
    with pytest.raises(ModelError, match=r"is a vision projector \(mmproj\), not the text model"):
        LocalVisionChat(tiny_pair.mmproj, tiny_pair.model)
    with pytest.raises(ModelError, match=r"is not a vision projector"):
        inspect_gguf(tiny_pair.model, "mmproj")


def test_a_test_model_never_passes_for_a_real_one(tiny_pair: TinyVLMPair, caplog: pytest.LogCaptureFixture) -> None:
    assert "test" in inspect_gguf(tiny_pair.model, "model").name.lower()
    LocalVisionChat(tiny_pair.model, tiny_pair.mmproj, n_ctx=256).close()
    assert "random test weights: its answers are gibberish" in caplog.text


@pytest.mark.parametrize(
    ("question", "preset"),
    [
        ("What's in front of me?", "describe"),
        ("Describe the room", "describe"),
        ("Is it the blue one?", "vqa"),
        ("Read this label", "vqa"),
        ("Tell me a story about this picture", "creative"),
        ("描述一下前面", "describe"),
    ],
)
def test_presets_are_chosen_from_the_question(question: str, preset: str) -> None:
    assert choose_preset(question).name == preset
    assert choose_preset(question, temperature_override=0.0).temperature == 0.0
