"""How well the assistant hears Chinese: character error rate, routing and commands, on a set spoken offline.

    .venv/bin/python benchmarks/hearing_zh.py [--speakers NAME,...] [--noises clean,white-10,babble-10]

The set is every Chinese command phrase (some said politely) and 24 questions, the write-up's three among them,
spoken by the assistant's Mandarin fallback (espeak-ng fed pinyin: its own voice and speed, a lower faster one, a
male one at espeak's own speed) and by the Piper Chinese voice when `assistant voices pull` has fetched it; clean
and with white or babble noise at 10 dB SNR. No recorded Mandarin ships in a package, so these are synthetic
voices, harder for whisper than people are: read the numbers side by side, not as what a person will get.

Three ways of hearing, side by side, with the multilingual whisper base:
- before: whisper's own call with language zh (its whole window, its temperature fallback), its characters as it
  writes them (often traditional), commands by the transcript alone;
- zh: the assistant with assistant.language = zh: short window, simplified characters, commands by text or sound;
- auto: the same with assistant.language = auto, whisper choosing between English and Chinese.
For each: character error rate on the questions (against the simplified text, punctuation ignored), questions
routed as their text is (reading, document, colour, light, text, scene), commands handled, questions taken for a
command, speech taken for English, and STT time per utterance.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tools/ lives beside benchmarks/ in the checkout

from assistant.cli.factory import make_transcriber
from assistant.config import Config
from assistant.core.commands import COMMANDS, by_sound, match
from assistant.core.routing import is_chinese, route
from assistant.core.types import AudioClip
from assistant.hear.stt import simplified
from assistant.speak.tts import MandarinFallback, PiperSynthesizer, pinyin_for_speech
from assistant.think.models import CHINESE_VOICE, MULTILINGUAL_WHISPER
from tools.hearing_set import RATE, babble, edits, noisy, resample, speak_espeak
from tools.hearing_set import Tally as Counts

QUESTIONS = (
    "请用中文描述这张图片。",
    "请列出表格中的三项产品名称及其价格。",
    "它的毛色呢？",
    "上面写的什么？",
    "请读一下这个标签。",
    "帮我念一下这段文字。",
    "这张纸上写了什么？",
    "把菜单上的菜名和价格列出来。",
    "这件衣服是什么颜色？",
    "这个杯子是什么颜色的？",
    "灯开着吗？",
    "房间里光线怎么样？",
    "这瓶药的保质期是什么时候？",
    "这个多少钱？",
    "这是什么牌子的？",
    "我前面有什么？",
    "桌子上有几个杯子？",
    "门是开着的还是关着的？",
    "前面有台阶吗？",
    "这个人在做什么？",
    "我的钥匙在哪里？",
    "这条路可以过马路吗？",
    "停车场在哪里？",
    "再看一遍这张照片好吗？",
)
"""The last three begin like a command (停, 再…一遍) and are not one."""
COMMAND_LINES = (
    *((command.name, phrase) for command in COMMANDS for phrase in command.phrases if is_chinese(phrase)),
    ("repeat", "请再说一遍"),
    ("slower", "说慢一点吧"),
    ("new_conversation", "我们开始新对话吧"),
)


@dataclass(frozen=True)
class Speaker:
    name: str
    voice: str
    """espeak-ng's voice and variant, or a Piper .onnx."""
    words_per_minute: int = 0


FALLBACK = Speaker("fallback", MandarinFallback.VOICE, MandarinFallback.WORDS_PER_MINUTE)
SPEAKERS = (
    FALLBACK,
    Speaker("espeak-m1-fast", "cmn-latn-pinyin+m1", 160),
    Speaker("espeak-own", "cmn-latn-pinyin", 175),
)
NOISES = ("clean", "white-10", "babble-10")


@dataclass(frozen=True)
class Line:
    text: str
    command: str | None


@dataclass
class Tally(Counts):
    questions: int = 0
    characters: int = 0
    character_errors: int = 0
    routed: int = 0
    false_commands: int = 0
    commands: int = 0
    handled: int = 0
    english: int = 0
    seconds: list[float] = field(default_factory=list)

    def count(self, line: Line, heard: str, language: str, command: str | None, seconds: float) -> None:
        self.seconds.append(seconds)
        self.english += language == "en"
        if line.command is not None:
            self.commands += 1
            self.handled += command == line.command
            return
        self.questions += 1
        errors, characters = character_errors(line.text, heard)
        self.character_errors, self.characters = self.character_errors + errors, self.characters + characters
        self.routed += route(heard) == route(line.text)
        self.false_commands += command is not None

    def row(self, label: str) -> str:
        utterances = max(1, self.questions + self.commands)
        return (
            f"{label:30} {self.character_errors / max(1, self.characters):6.1%}"
            f" {self.routed / max(1, self.questions):7.1%} {self.handled / max(1, self.commands):9.1%}"
            f" {self.false_commands:6d} {self.english / utterances:8.1%} {statistics.fmean(self.seconds):7.2f}"
        )


HEADER = f"{'speaker / noise':30} {'CER':>6} {'routed':>7} {'commands':>9} {'false':>6} {'English':>8} {'STT s':>7}"


def characters(text: str) -> list[str]:
    return [c for c in text if c.isalnum()]


def character_errors(said: str, heard: str) -> tuple[int, int]:
    """Characters substituted, dropped or added in `heard`, and the number `said`: CER's parts."""
    reference = characters(said)
    return edits(reference, characters(heard)), len(reference)


def voice_of(speaker: Speaker) -> Callable[[str], np.ndarray]:
    """Text -> speech at 16 kHz, with a quarter second of silence around it."""
    piper = PiperSynthesizer(Path(speaker.voice)) if speaker.voice.endswith(".onnx") else None

    def say(text: str) -> np.ndarray:
        if piper is not None:
            speech = resample(np.concatenate([c.samples for c in piper.synthesize(text)]), piper.sample_rate, RATE)
        else:
            speech = speak_espeak(pinyin_for_speech(text), speaker.voice, speaker.words_per_minute)
        pad = np.zeros(RATE // 4, np.float32)
        return np.concatenate([pad, speech, pad])

    return say


def hear(mode: str, config: Config, utterances: dict[tuple[str, str], list[tuple[Line, np.ndarray]]]) -> None:
    if mode == "before":
        from faster_whisper import WhisperModel

        model = WhisperModel(config.stt.whisper, device="cpu", compute_type="int8", cpu_threads=os.cpu_count() or 1)
    else:
        transcriber = make_transcriber(config.with_overrides({"assistant.language": mode}))
        transcriber.warm_up()
    print(f"\n== {mode}")
    print(HEADER)
    by_noise: dict[str, Tally] = {}
    for (speaker, noise), lines in utterances.items():
        tally = Tally()
        for line, samples in lines:
            clip = AudioClip(samples, RATE)
            started = time.perf_counter()
            if mode == "before":
                segments, info = model.transcribe(samples, language="zh", beam_size=5, vad_filter=True)
                text, language = "".join(segment.text.strip() for segment in segments), info.language
                command = match(text)
            else:
                transcript = transcriber.transcribe(clip)
                text, language = transcript.text, transcript.language
                command = match(text) or by_sound(transcript, partial(transcriber.score, clip, language=language))
            tally.count(line, text, language, command, time.perf_counter() - started)
        print(tally.row(f"{speaker} / {noise}"), flush=True)
        by_noise.setdefault(noise, Tally()).add(tally)
    total = Tally()
    for noise, tally in by_noise.items():
        print(tally.row(f"all speakers / {noise}"))
        total.add(tally)
    print(total.row("all"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    pulled = Path(Config().paths.voices_dir) / f"{CHINESE_VOICE}.onnx"
    speakers = [*SPEAKERS, Speaker(CHINESE_VOICE, str(pulled))] if pulled.is_file() else list(SPEAKERS)
    parser.add_argument("--speakers", default=",".join(s.name for s in speakers))
    parser.add_argument("--noises", default=",".join(NOISES))
    parser.add_argument("--modes", default="before,zh,auto")
    args = parser.parse_args()
    base = Path(Config().paths.models_dir) / MULTILINGUAL_WHISPER
    if not (base / "model.bin").is_file():
        raise SystemExit(f"The multilingual whisper base is missing from {base}: run ./setup.sh")
    chosen = [s for s in speakers if s.name in args.speakers.split(",")]
    noises = args.noises.split(",")
    lines = [Line(simplified(q), None) for q in QUESTIONS] + [Line(text, name) for name, text in COMMAND_LINES]
    noise = babble()
    utterances: dict[tuple[str, str], list[tuple[Line, np.ndarray]]] = {}
    for speaker in chosen:
        say = voice_of(speaker)
        spoken = [(line, say(line.text)) for line in lines]
        for level in noises:
            utterances[(speaker.name, level)] = [
                (line, noisy(samples, level, noise, seed)) for seed, (line, samples) in enumerate(spoken)
            ]
    print(
        f"{len(lines)} lines ({len(QUESTIONS)} questions, {len(COMMAND_LINES)} commands) x {len(chosen)} speakers"
        f" x {len(noises)} noise levels; whisper base on {os.cpu_count()} cores"
    )
    config = Config().with_overrides({"stt.whisper": str(base)})
    for mode in args.modes.split(","):
        hear(mode, config, utterances)


if __name__ == "__main__":
    main()
