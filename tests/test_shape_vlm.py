"""The Qwen3-VL-2B-shaped benchmark pair, at a twentieth of its layers so that the suite stays quick."""

from pathlib import Path

import pytest
from gguf import GGUFReader
from helpers import scene

from assistant.core.presets import Preset
from assistant.core.types import Frame
from assistant.see.camera import frame_data_url
from assistant.think.vlm import LocalVisionChat
from tools.shape_vlm import QWEN3_VL_2B, main, scaled, write_shape_vlm
from tools.tiny_vlm import TinyVLMPair

pytestmark = pytest.mark.slow

GREEDY = Preset("vqa", temperature=0.0, top_p=1.0, max_tokens=6, repeat_penalty=1.0)


@pytest.fixture(scope="module")
def small_pair(tmp_path_factory: pytest.TempPathFactory) -> TinyVLMPair:
    return write_shape_vlm(tmp_path_factory.mktemp("shape"), scale=0.05)


def _fields(path: Path) -> dict[str, object]:
    reader = GGUFReader(path)
    return {key: field.contents() for key, field in reader.fields.items() if not key.startswith("tokenizer.ggml.")}


def test_the_pair_has_the_2b_widths_and_a_q4_k_m_text_model(small_pair: TinyVLMPair) -> None:
    text = _fields(small_pair.model)
    assert text["general.architecture"] == "qwen3vl"
    assert (text["qwen3vl.embedding_length"], text["qwen3vl.feed_forward_length"]) == (2048, 6144)
    assert (text["qwen3vl.attention.head_count"], text["qwen3vl.attention.head_count_kv"]) == (16, 8)
    assert text["qwen3vl.block_count"] == 4  # scaled down from 28, but never below the deepstack layers + 1
    assert text["general.file_type"] == 15  # LLAMA_FTYPE_MOSTLY_Q4_K_M
    assert len(GGUFReader(small_pair.model).fields["tokenizer.ggml.tokens"].data) == 151936
    vision = _fields(small_pair.mmproj)
    assert (vision["clip.vision.embedding_length"], vision["clip.vision.feed_forward_length"]) == (1024, 4096)
    assert vision["clip.vision.image_size"] == 768 and vision["clip.vision.projection_dim"] == 2048


def test_llama_cpp_loads_and_runs_it(small_pair: TinyVLMPair) -> None:
    vlm = LocalVisionChat(small_pair.model, small_pair.mmproj, n_ctx=1024)
    try:
        eog = [vlm.llm.token_eos(), *vlm.llm.tokenize(b"<|endoftext|>", add_bos=False, special=True)]
        vlm.logit_bias = dict.fromkeys(eog, -1e9)  # random weights would end at random
        messages = [
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": frame_data_url(Frame(scene(1)))}}]}
        ]
        pieces = list(vlm.stream(messages, GREEDY))
        assert len(pieces) == GREEDY.max_tokens
        assert vlm.handler.stats.images_encoded == 1
    finally:
        vlm.close()


def test_a_written_pair_is_found_again_not_rewritten(small_pair: TinyVLMPair) -> None:
    before = small_pair.model.stat().st_mtime_ns, small_pair.mmproj.stat().st_mtime_ns
    assert write_shape_vlm(small_pair.model.parent, scale=0.05) == small_pair
    assert (small_pair.model.stat().st_mtime_ns, small_pair.mmproj.stat().st_mtime_ns) == before
    assert not list(small_pair.model.parent.glob("*.partial"))


def test_scales_keep_the_widths_and_spread_the_deepstack_layers() -> None:
    assert scaled(QWEN3_VL_2B, 1.0) == QWEN3_VL_2B
    quarter = scaled(QWEN3_VL_2B, 0.25)
    assert (quarter.text_layers, quarter.vision_layers, quarter.deepstack) == (7, 6, (0, 2, 3))
    assert (quarter.text_embd, quarter.vocab_size) == (QWEN3_VL_2B.text_embd, QWEN3_VL_2B.vocab_size)
    half = scaled(QWEN3_VL_2B, 0.5)
    assert (half.text_layers, half.vision_layers, half.deepstack) == (14, 12, (2, 5, 8))
    for bad in (0.0, 1.5, -1.0):
        with pytest.raises(ValueError, match="scale"):
            scaled(QWEN3_VL_2B, bad)


def test_the_command_refuses_a_bad_scale(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as error:
        main(["--out", str(tmp_path), "--scale", "2"])
    assert error.value.code == 2
    assert "scale must be above 0" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
