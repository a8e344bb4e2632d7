"""`latency.py --model-shape qwen3-vl-2b`: whole turns on a random-weight model of Qwen3-VL-2B's real size.

Each round is one conversation through the real loop (whisper, the VLM, Piper, a WAV sink): a first
turn, three follow-ups on the same frame, then a new frame. Rounds go two ways over the same loaded
model, in turn: keeping the KV prefix and the pictures' embeddings between turns (as the assistant
does), and from scratch (the KV cache and the embedding cache emptied before every turn, as
llama-cpp-python's own handler does). Every round starts cold.

Random weights say nothing, so the answer is steered through the logits onto a fixed English answer,
token by token: decoding costs what it costs for any answer, never stops early (no end-of-turn token
can win), and its sentences, speech and history are those of a real answer.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tools/ lives beside benchmarks/ in the checkout

from assistant.cli.factory import (
    assemble_engine,
    make_synthesizer,
    make_transcriber,
)
from assistant.cli.loop import PushToTalkLoop
from assistant.config import Config
from assistant.core.presets import Preset
from assistant.core.turn import AnswerOptions
from assistant.core.turnlog import TurnLog
from assistant.core.types import Frame
from assistant.hear.audio import WavFileSource
from assistant.hear.keys import ScriptedKeys
from assistant.speak.sinks import WavFileSink, wav_bytes
from assistant.think.catalog import bundled_catalog, load_catalog
from assistant.think.machine import usable_cores
from assistant.think.models import voice_path, whisper_path
from assistant.think.vlm import LocalVisionChat
from tools.shape_vlm import MMPROJ_QUANTS, QUANT_BITS, SHAPES, default_out_dir, write_shape_vlm
from tools.tiny_vlm import TinyVLMPair

ANSWER = (
    "A white mug stands on the table, about an arm's length ahead. It is half full of coffee. "
    "To its right, at two o'clock, there is a folded newspaper. The handle of the mug points towards you. "
    "Nothing else is on the table."
)
TURNS = [
    ("first turn", "What is in front of me?", 0),
    ("follow-up, same frame", "Is it the blue one?", 0),
    ("follow-up, same frame", "Where is it?", 0),
    ("follow-up, same frame", "How big is it?", 0),
    ("new frame", "And now, what is in front of me?", 1),
]
KINDS = list(dict.fromkeys(kind for kind, _, _ in TURNS))
STAGES = ["image_encode", "prefill", "vlm_first_token", "tokens_per_s", "first_audio"]


class ScriptedFrames:
    """A camera that shows the given frames in turn."""

    def __init__(self, frames: list[Frame]) -> None:
        self.frames = frames
        self._next = 0

    def grab(self) -> Frame:
        frame = self.frames[self._next % len(self.frames)]
        self._next += 1
        return frame

    def close(self) -> None:
        pass


class SteeredChat:
    """The loaded model, answering ANSWER's tokens one per decode step; `fresh` empties its caches first."""

    def __init__(self, vlm: LocalVisionChat, fresh: bool) -> None:
        self.vlm = vlm
        self.fresh = fresh
        self.answer = vlm.llm.tokenize(ANSWER.encode(), add_bos=False)
        self.calls: list[dict[str, float]] = []

    def _steer(self) -> Any:
        base: list[int] = []

        def processor(input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
            if not base:
                base.append(len(input_ids))
            step = len(input_ids) - base[0]
            target = self.answer[step % len(self.answer)]
            scores[:] = -np.inf
            scores[target] = 0.0
            return scores

        return processor

    def stream(self, messages: list[dict[str, Any]], preset: Preset) -> Any:
        handler = self.vlm.handler
        if self.fresh:
            handler.forget(self.vlm.llm)
            handler.images.clear()
        call: dict[str, float] = {"started": time.monotonic()}
        self.calls.append(call)
        chunks = self.vlm.llm.create_chat_completion(
            messages=messages,
            stream=True,
            temperature=0.0,
            max_tokens=preset.max_tokens,
            seed=self.vlm.seed,
            logits_processor=[self._steer()],
        )
        tokens = 0
        for chunk in chunks:
            piece = chunk["choices"][0]["delta"].get("content")
            if not piece:
                continue
            tokens += 1
            if tokens == 1:
                call["first_token"] = time.monotonic()
                call["image_encode"] = handler.stats.image_encode_ms
                call["prefill"] = handler.stats.prefill_ms
                call["images_encoded"] = handler.stats.images_encoded
                call["evaluated_tokens"] = handler.stats.evaluated_tokens
                call["image_tokens"] = handler.stats.image_tokens
            yield piece
        call["tokens"] = tokens
        call["ended"] = time.monotonic()

    def count_tokens(self, messages: list[dict[str, Any]]) -> int:
        return self.vlm.count_tokens(messages)

    def close(self) -> None:
        pass


def _stats(values: list[float]) -> tuple[float, float]:
    if not values:
        return float("nan"), float("nan")
    ordered = sorted(values)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


def _scene(index: int) -> Frame:
    """A camera-sized frame: 640 x 480, 300 image tokens for Qwen3-VL."""
    image = np.full((480, 640, 3), (40 + 60 * index, 90, 160), np.uint8)
    cv2.rectangle(image, (60 + 40 * index, 80), (300, 330), (0, 200, 255), -1)
    cv2.putText(image, f"PLATFORM {index + 3}", (320, 400), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (255, 255, 255), 3)
    return Frame(image, source="benchmark")


def _wavs(folder: Path, config: Config) -> list[Path]:
    synthesizer = make_synthesizer(config)
    paths = []
    for index, (_, question, _) in enumerate(TURNS):
        path = folder / f"q{index}.wav"
        path.write_bytes(wav_bytes(list(synthesizer.synthesize(question))))
        paths.append(path)
    return paths


def _round(parts: dict[str, Any], chat: SteeredChat, folder: Path, wavs: list[Path], tokens: int) -> list[dict]:
    """One conversation of TURNS; a row per turn, with its timings in ms."""
    folder.mkdir(parents=True, exist_ok=True)
    handler = chat.vlm.handler
    handler.forget(chat.vlm.llm)
    handler.images.clear()
    first_sentence: list[float | None] = []  # per turn: when its first sentence was ready to speak

    def notify(kind: str, text: str) -> None:
        if kind == "question":
            first_sentence.append(None)
        elif kind == "sentence" and first_sentence and first_sentence[-1] is None:
            first_sentence[-1] = time.monotonic()

    log = folder / "turns.jsonl"
    assistant = assemble_engine(
        parts["stt"],
        parts["tts"],
        vlm=chat,
        turn_log=TurnLog(log),
        options=AnswerOptions(n_ctx=chat.vlm.n_ctx, temperature=0.0, max_tokens=tokens),
    ).session(WavFileSink(folder / "answers"), notify)
    frames = ScriptedFrames([parts["frames"][index] for _, _, index in TURNS])
    calls_before = len(chat.calls)
    keys = ScriptedKeys([" ", " "] * len(TURNS))
    PushToTalkLoop(assistant, WavFileSource(wavs), frames, keys, lambda line: None).run()
    turns = [json.loads(line) for line in log.read_text().splitlines()]
    calls = chat.calls[calls_before:]
    if not len(turns) == len(calls) == len(first_sentence) == len(TURNS):
        raise RuntimeError(f"{len(turns)} turns logged, {len(calls)} asked the model; expected {len(TURNS)}")
    rows = []
    for turn, call, sentence_at in zip(turns, calls, first_sentence, strict=True):
        timings = dict(turn["timings_ms"])
        decode_s = call["ended"] - call["first_token"]
        timings["tokens_per_s"] = (call["tokens"] - 1) / decode_s if decode_s > 0 else float("nan")
        timings["image_encode"] = call["image_encode"]
        timings["prefill"] = call["prefill"]
        vlm_stage = (sentence_at - call["started"]) * 1000 if sentence_at else timings["vlm_total"]
        timings["stage_sum"] = timings["stt"] + vlm_stage + timings["tts_first_chunk"]
        rows.append({"error": turn["error"], "timings_ms": timings, "evaluated": call["evaluated_tokens"]})
    return rows


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    pair = shape_pair(args)
    print(f"model pair ready in {time.perf_counter() - started:.0f} s: {pair.model.name}, {pair.mmproj.name}")
    model_mb = files_mb(pair)
    config = Config().with_overrides(
        {
            "vlm.model": str(pair.model),
            "vlm.mmproj": str(pair.mmproj),
            "tts.noise_scale": 0.0,
            "tts.noise_w_scale": 0.0,
            "vlm.n_threads": args.threads,
            "vlm.n_batch": args.batch,
            "vlm.n_ubatch": args.ubatch,
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        wavs = _wavs(folder, config)
        parts: dict[str, Any] = {"frames": [_scene(0), _scene(1)]}
        print(f"RSS before loading models: {_rss_mb():.0f} MB")
        for name, make in (("stt", make_transcriber), ("tts", make_synthesizer)):
            parts[name] = make(config)
        print(f"RSS with whisper and the voice loaded: {_rss_mb():.0f} MB")
        vlm_config = config.vlm
        load_started = time.perf_counter()
        vlm = LocalVisionChat(
            pair.model,
            pair.mmproj,
            n_ctx=vlm_config.n_ctx,
            n_threads=vlm_config.n_threads,
            n_batch=vlm_config.n_batch,
            n_ubatch=vlm_config.n_ubatch,
            use_mmap=not args.no_mmap,
            vision_flash_attn=not args.no_vision_flash_attn,
            seed=vlm_config.seed,
        )
        print(f"load vlm: {(time.perf_counter() - load_started) * 1000:.0f} ms")
        threads = vlm_config.n_threads or usable_cores()
        print(
            f"{usable_cores()} cores; n_threads {threads}, n_batch {vlm_config.n_batch}, "
            f"n_ubatch {min(vlm_config.n_ubatch, vlm_config.n_batch)}, mmap {not args.no_mmap}, "
            f"vision flash attention {not args.no_vision_flash_attn}; "
            f"model files {model_mb:.0f} MB; "
            f"{args.rounds} rounds of {len(TURNS)} turns; answers of {args.answer_tokens} tokens"
        )
        parts["tts"].synthesize("Warming up.")
        print(f"RSS with whisper, the voice and the VLM loaded: {_rss_mb():.0f} MB")
        results: dict[str, list[dict]] = {"kept prefix": [], "from scratch": []}
        # Rounds of the two paths take turns, so that a busy spell on a shared machine hits both alike.
        for index in range(args.rounds):
            for label, fresh in (("kept prefix", False), ("from scratch", True)):
                rows = _round(parts, SteeredChat(vlm, fresh), folder / f"{label}-{index}", wavs, args.answer_tokens)
                for (kind, _, _), row in zip(TURNS, rows, strict=True):
                    results[label].append({**row, "kind": kind})
                print(f"round {index + 1}, {label}: {time.perf_counter() - started:.0f} s so far", flush=True)
        vlm.close()
    return _report(results, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, model_mb)


def _rss_mb() -> float:
    """This process's resident memory now."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _report(results: dict[str, list[dict]], peak: float, model_mb: float) -> int:
    errors = [row["error"] for rows in results.values() for row in rows if row["error"]]
    print(f"errors: {len(errors)}{' ' + repr(errors[0]) if errors else ''}")
    kept, scratch = results["kept prefix"], results["from scratch"]
    print(f"\n{'turn':<23}{'stage':<20}{'kept median':>12}{'p90':>9}{'scratch median':>16}{'p90':>9}{'ratio':>8}")
    medians: dict[tuple[str, str, str], float] = {}
    for kind in KINDS:
        for stage in STAGES:
            line = f"{kind if stage == STAGES[0] else '':<23}{stage + (' (ms)' if stage != 'tokens_per_s' else ''):<20}"
            for label, rows in (("kept", kept), ("scratch", scratch)):
                med, p90 = _stats([r["timings_ms"][stage] for r in rows if r["kind"] == kind and not r["error"]])
                medians[(label, kind, stage)] = med
                line += f"{med:>12.0f}{p90:>9.0f}" if label == "kept" else f"{med:>16.0f}{p90:>9.0f}"
            scratch_med = medians[("scratch", kind, stage)]
            ratio = medians[("kept", kind, stage)] / scratch_med if scratch_med else float("nan")
            print(line + f"{ratio:>8.2f}")
    print(f"peak RSS of the process (both paths): {peak:.0f} MB")

    print("\ntargets (kept prefix):")
    first = medians[("kept", "first turn", "first_audio")]
    follow = medians[("kept", "follow-up, same frame", "first_audio")]
    ratio = follow / first
    verdict = _met(ratio <= 0.4)
    print(f"  follow-up first_audio <= 0.4 x first turn's: {follow:.0f} / {first:.0f} ms = {ratio:.2f}  {verdict}")
    overheads = [
        (r["timings_ms"]["first_audio"] - r["timings_ms"]["stage_sum"]) / r["timings_ms"]["stage_sum"]
        for r in kept
        if not r["error"]
    ]
    worst = max(overheads, default=float("nan"))
    print(
        f"  pipeline adds <= 10% to the sum of its stages (stt + model to first sentence + first speech chunk): "
        f"median {statistics.median(overheads) * 100:.1f}%, worst {worst * 100:.1f}%  {_met(worst <= 0.10)}"
    )
    print(
        f"  peak RSS <= model files + 400 MB: {peak:.0f} MB <= {model_mb:.0f} + 400 MB  {_met(peak <= model_mb + 400)}"
        " (the files of the VLM pair, whisper and the voice, all in this process)"
    )
    return 1 if errors else 0


def _met(ok: bool) -> str:
    return "met" if ok else "NOT MET"


def files_mb(pair: TinyVLMPair) -> float:
    """The files of the VLM pair, whisper and the voice, in MB."""
    voice = voice_path(Config())
    paths = [pair.model, pair.mmproj, *whisper_path(Config()).rglob("*"), voice, voice.with_suffix(".onnx.json")]
    return sum(path.stat().st_size for path in paths if path.is_file()) / 2**20


def shape_pair(args: argparse.Namespace) -> TinyVLMPair:
    """The --model-shape pair at --quant, by default the quant the catalog pulls for the model of that name."""
    quant = args.quant or next(e.quant for e in load_catalog(bundled_catalog().parent) if e.name == args.model_shape)
    return write_shape_vlm(
        args.models_out, args.scale, shape=args.model_shape, quant=quant, mmproj_quant=args.mmproj_quant
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model-shape",
        choices=SHAPES,
        help="benchmark a random-weight model of this real size (written and cached on first use) turn by "
        "turn, keeping the KV prefix against from scratch",
    )
    parser.add_argument("--scale", type=float, default=1.0, help="with --model-shape: fraction of the layers")
    parser.add_argument(
        "--quant", choices=QUANT_BITS, help="with --model-shape: the text model's quant (default: the catalog's)"
    )
    parser.add_argument("--mmproj-quant", choices=MMPROJ_QUANTS, default="F16", help="with --model-shape")
    parser.add_argument("--rounds", type=int, default=2, help="with --model-shape: conversations per path")
    parser.add_argument("--answer-tokens", type=int, default=40, help="with --model-shape: tokens per answer")
    parser.add_argument("--threads", type=int, default=0, help="with --model-shape: n_threads, 0 for every core")
    parser.add_argument("--batch", type=int, default=Config().vlm.n_batch, help="with --model-shape: n_batch")
    parser.add_argument("--ubatch", type=int, default=Config().vlm.n_ubatch, help="with --model-shape: n_ubatch")
    parser.add_argument(
        "--no-mmap",
        action="store_true",
        help="with --model-shape: read the model into memory rather than map it; where llama.cpp repacks weights "
        "for the CPU, the mapped file's pages otherwise count in RSS beside the repacked copy",
    )
    parser.add_argument(
        "--no-vision-flash-attn",
        action="store_true",
        help="with --model-shape: the vision encoder without flash attention (vlm.vision_flash_attn = false)",
    )
    parser.add_argument(
        "--models-out", type=Path, default=default_out_dir(), help="with --model-shape: where the pair is cached"
    )
