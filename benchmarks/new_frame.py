"""Questions about a new picture, on a random-weight model of a catalog model's real size, through the real loop.

    .venv/bin/python benchmarks/latency.py --model-shape NAME --new-frame [--quant Q] [--scale S] [--rounds N]

Each round is a conversation whose questions are spoken (Piper, about 2 s each) through the file-backed
microphone at their real pace, so that what is done while the user speaks is done in real time. In the same run,
round by round, two paths take turns on the same loaded model:
- ours: the defaults: a warm start, the picture taken in at the press while the question is spoken, image-token
  budgets by intent;
- before: the path before these: no warm start, the picture grabbed and encoded after the release, at the
  768-pixel copy (300 image tokens for 640 x 480).
A round asks: the first question after start; a question about a new picture; a follow-up about the same
picture; another new picture; and one where the camera moves while the question is spoken. The model's answers
are steered onto a fixed English text (the weights are random), so that sentences end where a real answer's do.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import shape_latency  # beside this script

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tools/ lives beside benchmarks/ in the checkout

from assistant.cli.factory import assemble_engine, make_synthesizer, make_transcriber, warm_up
from assistant.cli.loop import PushToTalkLoop
from assistant.cli.runner import DiscardSink
from assistant.config import Config
from assistant.core.turn import AnswerOptions, ImageBudgets
from assistant.core.turnlog import TurnLog
from assistant.core.types import Frame, PromptCost
from assistant.hear.audio import WavFileSource, read_audio_file
from assistant.hear.keys import ScriptedKeys
from assistant.speak.sinks import wav_bytes
from assistant.think.catalog import bundled_catalog, load_catalog
from assistant.think.machine import usable_cores
from assistant.think.vlm import LocalVisionChat


@dataclass(frozen=True)
class Step:
    kind: str
    question: str
    at_press: tuple[int, int]
    """The camera's picture at the press: (scene, take)."""
    at_release: tuple[int, int]


STEPS = [
    Step("first after start", "Could you tell me what is in front of me right now?", (0, 1), (0, 2)),
    Step("new frame", "And now, what can you see in front of me, please?", (1, 1), (1, 2)),
    # the picture the last answer was about, as the 2.6-s follow-up was measured before
    Step("follow-up, same frame", "Is the thing in the middle the blue one?", (1, 1), (1, 1)),
    Step("new frame", "What is in front of me at this moment, please?", (2, 1), (2, 2)),
    Step("camera moved", "Tell me what is in front of me now, would you?", (3, 1), (4, 1)),
]
KINDS = list(dict.fromkeys(step.kind for step in STEPS))
STAGES = [
    "stt",
    "command_by_sound",
    "prepare_wait",
    "image_encode",
    "prefill",
    "vlm_first_token",
    "tts_first_chunk",
    "first_audio",
]
BEFORE = ImageBudgets(0, 0, 0)
"""No budgets: the model gets the 768-pixel copy, as before budgets were."""


class SteeredPreparingChat(shape_latency.SteeredChat):
    """The steered model, able to take a picture in before its question."""

    @property
    def pixels_per_token(self) -> int:
        return self.vlm.pixels_per_token

    @property
    def cost(self) -> PromptCost:
        return self.vlm.cost

    def prefill(
        self, messages: list[dict[str, Any]], stop: Callable[[], bool] | None = None, then_text: str = ""
    ) -> PromptCost | None:
        return self.vlm.prefill(messages, stop, then_text)


class SceneCamera:
    """A camera giving, grab by grab, the pictures of a script. A picture is a scene and a take: two takes of one
    scene differ by sensor noise, as two grabs of a real camera do; the same take is the very same picture."""

    def __init__(self, takes: list[tuple[int, int]]) -> None:
        self.takes = takes
        self.grabs = 0
        self._pictures: dict[tuple[int, int], Frame] = {}

    def grab(self) -> Frame:
        take = self.takes[min(self.grabs, len(self.takes) - 1)]
        self.grabs += 1
        return self.picture(take)

    def picture(self, take: tuple[int, int]) -> Frame:
        if take not in self._pictures:
            scene, variant = take
            noise = np.random.default_rng(variant).normal(0, 2, (480, 640, 3))
            image = np.clip(_scene(scene) + noise, 0, 255).astype(np.uint8)
            self._pictures[take] = Frame(image, source="camera")
        return self._pictures[take]

    def close(self) -> None:
        pass


def _scene(index: int) -> np.ndarray:
    """A camera-sized picture, 640 x 480: 300 image tokens for Qwen3-VL at full size."""
    rng = np.random.default_rng(index)
    image = np.full((480, 640, 3), (40 + 37 * index % 200, 90 + 23 * index % 120, 160), np.uint8)
    for _ in range(6):
        x, y = int(rng.integers(0, 560)), int(rng.integers(0, 400))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        cv2.rectangle(image, (x, y), (x + int(rng.integers(40, 200)), y + int(rng.integers(40, 160))), colour, -1)
    cv2.putText(image, f"PLATFORM {index + 3}", (200, 440), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (255, 255, 255), 3)
    return image


def voice_questions(folder: Path, config: Config, questions: list[str]) -> list[str]:
    """WAV files of the questions, voiced in a child process, as the voice's working memory would otherwise stay in
    this one's."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as child:
        return child.submit(_voice, folder, config, questions).result()


def _voice(folder: Path, config: Config, questions: list[str]) -> list[str]:
    synthesizer = make_synthesizer(config)
    paths = []
    for index, question in enumerate(questions):
        path = folder / f"q{index}.wav"
        path.write_bytes(wav_bytes(list(synthesizer.synthesize(question))))
        paths.append(str(path))
    return paths


def _round(
    config: Config, vlm: LocalVisionChat, folder: Path, wavs: list[Path], ours: bool, tokens: int
) -> list[dict[str, Any]]:
    """One conversation of STEPS on one path; a row per turn."""
    folder.mkdir(parents=True, exist_ok=True)
    vlm.handler.forget(vlm.llm)  # as if just started
    vlm.handler.images.clear()
    chat = SteeredPreparingChat(vlm, fresh=False) if ours else shape_latency.SteeredChat(vlm, fresh=False)
    log = folder / "turns.jsonl"
    options = AnswerOptions(
        n_ctx=vlm.n_ctx, temperature=0.0, max_tokens=tokens, budgets=ImageBudgets() if ours else BEFORE
    )
    # a new transcriber and voice for each round: the first question after start pays what it would
    transcriber, synthesizer = make_transcriber(config), make_synthesizer(config)
    engine = assemble_engine(transcriber, synthesizer, vlm=chat, turn_log=TurnLog(log), options=options)
    warm_ms = 0.0
    if ours:
        started = time.monotonic()
        warm_up(engine, transcriber, synthesizer)
        warm_ms = (time.monotonic() - started) * 1000
    # before grabbed once, at the release; the follow-up is about the picture its last answer was about
    takes = [take for step in STEPS for take in ((step.at_press, step.at_release) if ours else (step.at_release,))]
    if not ours:
        takes[2] = takes[1]
    microphone = WavFileSource(wavs, realtime=True)
    keys: list[str | tuple[float, str]] = []
    for wav in wavs:
        keys += [" ", (read_audio_file(wav).duration_s, " ")]
    session = engine.session(DiscardSink())
    camera = SceneCamera(takes)
    PushToTalkLoop(session, microphone, camera, ScriptedKeys(keys), lambda line: None, prepare=ours).run()
    turns = [json.loads(line) for line in log.read_text().splitlines()]
    if len(turns) != len(STEPS) or len(chat.calls) != len(STEPS):
        raise RuntimeError(f"{len(turns)} turns logged and {len(chat.calls)} model calls; expected {len(STEPS)}")
    pixels = chat.pixels_per_token if isinstance(chat, SteeredPreparingChat) else 32
    rows = []
    for step, turn, call in zip(STEPS, turns, chat.calls, strict=True):
        at_release = engine.sight.for_model(camera.picture(step.at_release), options.budgets.first_look, pixels)
        timings = dict(turn["timings_ms"])
        timings["image_encode"], timings["prefill"] = call["image_encode"], call["prefill"]
        timings.setdefault("prepare_wait", 0.0)
        timings.setdefault("command_by_sound", 0.0)
        rows.append(
            {
                "kind": step.kind,
                "error": turn["error"],
                "timings_ms": timings,
                "image_tokens": call["image_tokens"],
                "prepared": turn.get("prepared"),
                "saw_release_view": turn["image_sha256"] == at_release.sha256,
                "warm_ms": warm_ms,
            }
        )
    rows[0]["late_ms"] = max(microphone.late_ms, default=0.0)
    return rows


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    pair = shape_latency.shape_pair(args)
    print(f"model pair ready in {time.perf_counter() - started:.0f} s: {pair.model.name}, {pair.mmproj.name}")
    config = Config().with_overrides(
        {"vlm.model": str(pair.model), "vlm.mmproj": str(pair.mmproj), "tts.noise_scale": 0.0, "tts.noise_w_scale": 0.0}
    )
    results: dict[str, list[dict[str, Any]]] = {"ours": [], "before": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        wavs = [Path(path) for path in voice_questions(folder, config, [step.question for step in STEPS])]
        seconds = [read_audio_file(wav).duration_s for wav in wavs]
        vlm = LocalVisionChat(
            pair.model,
            pair.mmproj,
            n_ctx=config.vlm.n_ctx,
            n_threads=args.threads,
            n_batch=args.batch,
            n_ubatch=args.ubatch,
            vision_flash_attn=not args.no_vision_flash_attn,
            seed=config.vlm.seed,
        )
        print(
            f"{usable_cores()} cores, n_threads {args.threads or usable_cores()}; questions of "
            f"{min(seconds):.1f} to {max(seconds):.1f} s, played at their real pace; {args.rounds} rounds a path; "
            f"answers of {args.answer_tokens} tokens; budgets {ImageBudgets()}; "
            f"vision flash attention {not args.no_vision_flash_attn}",
            flush=True,
        )
        assistant_peak_mb = 0.0
        for index in range(args.rounds):
            for label in ("ours", "before"):
                rows = _round(config, vlm, folder / f"{label}-{index}", wavs, label == "ours", args.answer_tokens)
                results[label] += rows
                if not assistant_peak_mb:  # one start of the assistant and its five turns, before any other round
                    assistant_peak_mb = _peak_mb()
                print(
                    f"round {index + 1}, {label}: {time.perf_counter() - started:.0f} s so far; "
                    f"RSS {shape_latency._rss_mb():.0f} MB, peak {_peak_mb():.0f} MB",
                    flush=True,
                )
        vlm.close()
    tier = next(e.tier for e in load_catalog(bundled_catalog().parent) if e.name == args.model_shape)
    return _report(results, tier, shape_latency.files_mb(pair), assistant_peak_mb)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _median(rows: list[dict[str, Any]], kind: str, stage: str) -> float:
    values = [row["timings_ms"][stage] for row in rows if row["kind"] == kind and not row["error"]]
    return statistics.median(values) if values else float("nan")


def _report(results: dict[str, list[dict[str, Any]]], tier: str, files_mb: float, assistant_peak_mb: float) -> int:
    ours, before = results["ours"], results["before"]
    errors = [row["error"] for rows in results.values() for row in rows if row["error"]]
    print(f"errors: {len(errors)}{' ' + repr(errors[0]) if errors else ''}")
    print(f"\n{'turn':<24}{'stage (ms)':<18}{'ours':>9}{'before':>9}{'ratio':>8}")
    for kind in KINDS:
        for stage in STAGES:
            mine, theirs = _median(ours, kind, stage), _median(before, kind, stage)
            ratio = mine / theirs if theirs else float("nan")
            print(f"{kind if stage == STAGES[0] else '':<24}{stage:<18}{mine:>9.0f}{theirs:>9.0f}{ratio:>8.2f}")
    print(f"\n{'turn':<24}{'image_tokens ours':>18}{'before':>9}{'prepared picture used (ours)':>31}")
    for kind in KINDS:
        tokens = [sorted({row["image_tokens"] for row in rows if row["kind"] == kind}) for rows in (ours, before)]
        used = [row["prepared"] for row in ours if row["kind"] == kind]
        print(f"{kind:<24}{tokens[0]!s:>18}{tokens[1]!s:>9}{used!s:>31}")
    print(
        f"peak RSS: {assistant_peak_mb:.0f} MB after the first round of ours (one start and its turns), "
        f"{_peak_mb():.0f} MB after every round of both paths (each round makes its own whisper and voice); "
        f"the files of the VLM pair, whisper and the voice: {files_mb:.0f} MB"
    )
    warm = [row["warm_ms"] for row in ours if row["kind"] == KINDS[0]]
    late = [row["late_ms"] for rows in (ours, before) for row in rows if "late_ms" in row]
    print(f"\nwarm start (ours, at load): median {statistics.median(warm):.0f} ms")
    print(f"recording: the latest 20-ms block of any question came {max(late):.0f} ms late")

    def first_audio(rows: list[dict[str, Any]], kind: str) -> float:
        return _median(rows, kind, "first_audio")

    new_ours, new_before = first_audio(ours, "new frame"), first_audio(before, "new frame")
    first = first_audio(ours, "first after start")
    follow_ours, follow_before = (
        first_audio(ours, "follow-up, same frame"),
        first_audio(before, "follow-up, same frame"),
    )
    moved_ours, moved_before = first_audio(ours, "camera moved"), first_audio(before, "camera moved")
    moved_used = all(row["saw_release_view"] for row in ours if row["kind"] == "camera moved")
    ratio = new_ours / new_before
    if tier == "fast":  # the model tiers issue's targets
        targets = [
            ("new-frame first audio <= 3000 ms", f"{new_ours:.0f} ms", new_ours <= 3000),
            ("follow-up first audio <= 1500 ms", f"{follow_ours:.0f} ms", follow_ours <= 1500),
            (
                "peak RSS <= model files + 400 MB (ours, first round)",
                f"{assistant_peak_mb:.0f} MB, files {files_mb:.0f} MB",
                assistant_peak_mb <= files_mb + 400,
            ),
        ]
    else:  # the new-picture issue's, for the balanced tier
        targets = [
            (
                "new-frame first audio <= 6000 ms, ratio <= 0.30",
                f"{new_ours:.0f} ms, {ratio:.2f}",
                new_ours <= 6000 and ratio <= 0.30,
            ),
            (
                "follow-up on the same frame <= 2800 ms, no slower than before",
                f"{follow_ours:.0f} ms (before {follow_before:.0f})",
                follow_ours <= 2800 and follow_ours <= follow_before,
            ),
        ]
    targets += [
        (
            "first question after start within 10% of a later new frame",
            f"{first:.0f} / {new_ours:.0f} ms",
            first <= 1.1 * new_ours,
        ),
        (
            "camera moved: the new view used, first audio <= 0.5 x before",
            f"{'used' if moved_used else 'NOT used'}, {moved_ours:.0f} / {moved_before:.0f} ms",
            moved_used and moved_ours <= 0.5 * moved_before,
        ),
    ]
    print(f"\ntargets for the {tier} tier (2 cores, medians):")
    for name, value, ok in targets:
        print(f"  {name}: {value}  {_met(ok)}")
    print(f"new-frame first_audio: ours {new_ours:.0f} ms, before {new_before:.0f} ms, ratio {ratio:.2f}")
    return 1 if errors else 0


def _met(ok: bool) -> str:
    return "met" if ok else "NOT MET"
