"""Peak memory of the assistant's models in one process, by the choices that set it, on a model of real size.

    .venv/bin/python benchmarks/memory.py [--model-shape qwen3-vl-2b] [--quant Q4_K_M] [--rows 8,9]

Each configuration runs in a fresh process, as the assistant does: whisper and the Piper voice loaded, then the
vision pair (random weights of the real size, tools.shape_vlm) with the configuration's mmap choice, KV cache
type, flash attention (text model, vision encoder), context size, micro-batch and mmproj quant, and the C
allocator giving freed blocks back or not; then three spoken questions, each heard by whisper and read against
the command phrases as the assistant hears one, asked at temperature 0 about pictures at the first-look, detail
and reading budgets (64, 256 and 768 image tokens; the 640 x 480 pictures hold 300, so the last is read whole),
each answer followed by a spoken one of two sentences, as the voice's working memory is the process's too. It
prints the process's peak resident memory against the files it loaded, its memory once everything was loaded and
before the first question, and whether the answers are the very tokens that the configuration it changes gave
(the row it names): a change that keeps them is lossless on this model; one that does not is a trade-off.
"""

from __future__ import annotations

import llama_cpp  # noqa: F401  # before numpy: see assistant/think/native.py

# isort: split
import argparse
import ctypes
import ctypes.util
import dataclasses
import functools
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import new_frame  # beside this script

from assistant.config import Config
from assistant.core.conversation import SYSTEM_PROMPT
from assistant.core.presets import VQA
from assistant.think.models import voice_path, whisper_path
from tools.shape_vlm import MMPROJ_QUANTS, QUANT_BITS, SHAPES, add_pair_arguments, write_shape_vlm

_TODAY: dict[str, Any] = {
    "mmap": True,
    "kv": "f16",
    "flash_attn": False,
    "vision_fa": False,
    "n_ctx": 4096,
    "n_ubatch": 512,
    "mmproj": "F16",
    "give_back": False,
}
_DEFAULTS = {**_TODAY, "mmap": False, "vision_fa": True}
_LEANEST = {**_DEFAULTS, "flash_attn": True, "kv": "q8_0", "n_ctx": 2048, "n_ubatch": 256}
BEFORE, DEFAULTS, LEANEST = "before: mmap, f16 KV, no FA, 4096", "defaults: no mmap, vision FA", "all of them"
CONFIGS: dict[str, tuple[dict[str, Any], str]] = {
    BEFORE: (_TODAY, BEFORE),
    "no mmap, no FA": ({**_DEFAULTS, "vision_fa": False}, BEFORE),
    DEFAULTS: (_DEFAULTS, "no mmap, no FA"),
    "defaults + text FA": ({**_DEFAULTS, "flash_attn": True}, DEFAULTS),
    "defaults + n_ubatch 256": ({**_DEFAULTS, "n_ubatch": 256}, DEFAULTS),
    "defaults + context 2048": ({**_DEFAULTS, "n_ctx": 2048}, DEFAULTS),
    "defaults + text FA + q8_0 KV": ({**_DEFAULTS, "flash_attn": True, "kv": "q8_0"}, "defaults + text FA"),
    LEANEST: (_LEANEST, DEFAULTS),
    "all of them + Q8_0 mmproj": ({**_LEANEST, "mmproj": "Q8_0"}, LEANEST),
    "defaults + allocator gives back": ({**_DEFAULTS, "give_back": True}, DEFAULTS),
}
"""label: (settings, the label of the configuration whose answers it is compared with)."""
SPOKEN_ANSWER = (
    "There is a red mug on the table to your left, and behind it a bottle of water with a blue label. "
    "The label says spring water."
)
"""Said after each answer, as the assistant says its answers (the random-weight model's own are gibberish)."""
QUESTIONS = (
    ("What is in front of me?", 64),
    ("Describe it in more detail.", 256),
    ("What does the sign say?", 768),
)


def _files_mb(paths: list[Path]) -> float:
    return sum(path.stat().st_size for path in paths if path.is_file()) / 2**20


def child(settings: dict[str, Any]) -> dict[str, Any]:
    """Load everything, ask the questions, and return the peak RSS and the answers."""
    from assistant.cli.factory import make_synthesizer, make_transcriber
    from assistant.core.commands import by_sound
    from assistant.hear.audio import read_audio_file
    from assistant.see.camera import frame_data_url, prepare_frame
    from assistant.think.vlm import LocalVisionChat

    if settings["give_back"]:
        fix_mmap_threshold()
    config = Config()
    started_mb = _rss_mb()
    ears = make_transcriber(config)  # kept to the end, as the assistant keeps it, and so is the voice
    ears.warm_up()
    voice = make_synthesizer(config)
    list(voice.synthesize("Ready."))
    speech_mb = _rss_mb()
    vlm = LocalVisionChat(
        Path(settings["model"]),
        Path(settings["mmproj"]),
        n_ctx=settings["n_ctx"],
        use_mmap=settings["mmap"],
        n_ubatch=settings["n_ubatch"],
        kv_cache=settings["kv"],
        flash_attn=settings["flash_attn"],
        vision_flash_attn=settings["vision_fa"],
    )
    loaded_mb = _rss_mb()
    preset = dataclasses.replace(VQA, temperature=0.0, max_tokens=24, repeat_penalty=1.0)
    camera = new_frame.SceneCamera([])
    messages: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM_PROMPT}]
    answers, first_tokens, after_mb = [], [], []
    for index, ((question, budget), recording) in enumerate(zip(QUESTIONS, settings["recordings"], strict=True)):
        clip = read_audio_file(Path(recording))
        heard = ears.transcribe(clip)
        by_sound(heard, functools.partial(ears.score, clip, language=heard.language))
        frame = prepare_frame(camera.picture((index, 1)), 768, budget, vlm.pixels_per_token)
        picture = {"type": "image_url", "image_url": {"url": frame_data_url(frame)}}
        messages = [m if m["role"] != "user" else {**m, "content": _text(m)} for m in messages]
        messages.append({"role": "user", "content": [picture, {"type": "text", "text": question}]})
        started, first, pieces = time.perf_counter(), 0.0, []
        for piece in vlm.stream(messages, preset):
            first = first or time.perf_counter()
            pieces.append(piece)
        first_tokens.append((first - started) * 1000)
        answers.append("".join(pieces))
        list(voice.synthesize(SPOKEN_ANSWER))
        after_mb.append(_rss_mb())
        messages.append({"role": "assistant", "content": answers[-1]})
    vlm.close()
    return {
        "stages_mb": [started_mb, speech_mb, loaded_mb, *after_mb],
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "answers": answers,
        "first_token_ms": first_tokens,
    }


def fix_mmap_threshold() -> None:
    """Fix glibc's mmap threshold at 128 KB, so that every freed block of that size or more goes back to the
    system at once (glibc raises the threshold, up to 32 MB, as big blocks are freed, and keeps them)."""
    ctypes.CDLL(ctypes.util.find_library("c")).mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _text(message: dict[str, Any]) -> str:
    content = message["content"]
    return content if isinstance(content, str) else next(p["text"] for p in content if p.get("type") == "text")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-shape", choices=SHAPES, default="qwen3-vl-2b")
    parser.add_argument("--quant", choices=QUANT_BITS, default="Q4_K_M")
    parser.add_argument("--rows", help="only these configurations, by number: 8,9")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    add_pair_arguments(parser)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return 0
    pairs = {
        quant: write_shape_vlm(
            args.models_out, args.scale, shape=args.model_shape, quant=args.quant, mmproj_quant=quant
        )
        for quant in MMPROJ_QUANTS
    }
    speech = [*whisper_path(Config()).rglob("*"), voice_path(Config()), voice_path(Config()).with_suffix(".onnx.json")]
    speech_mb = _files_mb(speech)
    print(f"{args.model_shape} shape, {args.quant}; whisper and voice files {speech_mb:.0f} MB")
    print(
        f"{'configuration':<40}{'peak RSS MB':>12}{'files MB':>10}{'over files':>11}"
        f"{'answers, against':>18}{'1st token ms':>14}{'loaded MB':>11}"
    )
    with tempfile.TemporaryDirectory() as folder:
        recordings = new_frame.voice_questions(Path(folder), Config(), [question for question, _ in QUESTIONS])
        answers: dict[str, list[str]] = {}
        rows = {label: row for row, label in enumerate(CONFIGS, 1)}
        chosen = {int(row) for row in args.rows.split(",")} if args.rows else set(rows.values())
        for label, (settings, against) in CONFIGS.items():
            if rows[label] not in chosen:
                continue
            pair = pairs[settings["mmproj"]]
            settings = {**settings, "model": str(pair.model), "mmproj": str(pair.mmproj), "recordings": recordings}
            done = subprocess.run(
                [sys.executable, __file__, "--child", json.dumps(settings)], capture_output=True, text=True, check=False
            )
            name = f"{rows[label]:>2} {label}"
            if done.returncode != 0:
                print(f"{name:<40} failed: {done.stderr.strip().splitlines()[-1:]}")
                continue
            result = json.loads(done.stdout.strip().splitlines()[-1])
            answers[label] = result["answers"]
            files = _files_mb([pair.model, pair.mmproj]) + speech_mb
            compared = "-"
            if label != against and against in answers:
                compared = f"{'same' if result['answers'] == answers[against] else 'differ'}, {rows[against]}"
            first = sorted(result["first_token_ms"])[1]
            print(
                f"{name:<40}{result['peak_mb']:>12.0f}{files:>10.0f}{result['peak_mb'] - files:>+11.0f}"
                f"{compared:>18}{first:>14.0f}{result['stages_mb'][2]:>11.0f}",
                flush=True,
            )
    print("target: peak RSS <= files + 400 MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
