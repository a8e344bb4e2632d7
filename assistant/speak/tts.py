"""Text to speech with Piper: one audio chunk per sentence."""

from __future__ import annotations

import io
import json
import logging
import re
import shutil
import subprocess
import wave
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assistant.core.interfaces import Synthesizer
from assistant.core.routing import main_language
from assistant.core.speech import clean_for_speech, pieces_for_voice
from assistant.core.types import AudioChunk
from assistant.errors import ModelError

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class SpeechOptions:
    """How the voice is loaded; the speech rate is not here: each call gives its session's."""

    noise_scale: float = -1.0
    """-1 keeps the voice's own; 0 makes speech repeatable."""
    noise_w_scale: float = -1.0
    volume: float = 1.0


def voice_config_path(voice: Path) -> Path:
    return voice.with_name(voice.name + ".json")


def check_voice(voice: Path) -> None:
    fix = "Run ./setup.sh, or set tts.voice to a Piper .onnx file with its .onnx.json beside it."
    if not voice.is_file():
        raise ModelError(f"The voice file {voice} is missing.", fix)
    config = voice_config_path(voice)
    if not config.is_file():
        raise ModelError(f"The voice settings file {config} is missing.", fix)


def _piper_voice(voice: Path) -> Any:
    """The Piper voice, its session without onnxruntime's memory patterns (a plan of blocks kept for the shapes of
    input it has run): with them, four sentences spoken six times left the voice holding 350 MB, without them 307 MB,
    and spoken no slower (benchmarks/README.md, Memory)."""
    import onnxruntime
    from piper import PiperVoice
    from piper.config import PiperConfig

    options = onnxruntime.SessionOptions()
    options.enable_mem_pattern = False
    session = onnxruntime.InferenceSession(str(voice), sess_options=options, providers=["CPUExecutionProvider"])
    config = PiperConfig.from_dict(json.loads(voice_config_path(voice).read_text(encoding="utf-8")))
    return PiperVoice(session=session, config=config)


class PiperSynthesizer:
    def __init__(self, voice: Path, options: SpeechOptions | None = None) -> None:
        check_voice(voice)
        self.label = f"Piper {voice.name.removesuffix('.onnx')}"
        self.options = options or SpeechOptions()
        try:
            self.voice: Any = _piper_voice(voice)
        except Exception as e:  # JSON, onnxruntime and espeak each raise their own kinds
            raise ModelError(
                f"The voice {voice.name} is damaged and cannot be loaded.",
                "Run ./setup.sh again, or choose another voice with tts.voice.",
            ) from e

    @property
    def sample_rate(self) -> int:
        return int(self.voice.config.sample_rate)

    def _synthesis_config(self, speech_rate: float) -> Any:
        """Piper's per-call config: its length_scale divided by the speech rate."""
        from piper import SynthesisConfig

        voice_config = self.voice.config
        rate = min(max(speech_rate, 0.25), 4.0)
        return SynthesisConfig(
            length_scale=voice_config.length_scale / rate,
            noise_scale=None if self.options.noise_scale < 0 else self.options.noise_scale,
            noise_w_scale=None if self.options.noise_w_scale < 0 else self.options.noise_w_scale,
            volume=self.options.volume,
        )

    def synthesize(self, text: str, speech_rate: float = 1.0) -> Iterator[AudioChunk]:
        text = clean_for_speech(text)
        config = self._synthesis_config(speech_rate)
        for piece in pieces_for_voice(text):
            for chunk in self.voice.synthesize(piece, config):
                yield AudioChunk(chunk.audio_float_array, chunk.sample_rate, text=text)


class MandarinFallback:
    """Mandarin when no Piper Chinese voice is installed: espeak-ng's cmn-latn-pinyin voice, fed pinyin with tone
    numbers from pypinyin's dictionary (Debian's espeak-ng reads many characters wrongly, and tone numbers aloud).
    Robotic, but offline and understood."""

    label = "espeak-ng Mandarin from pinyin (a fallback; 'assistant voices pull' fetches a natural Chinese voice)"
    VOICE = "cmn-latn-pinyin+f3"
    WORDS_PER_MINUTE = 130
    """espeak-ng's speed at rate 1.0: slower than its own 175, which ran syllables together."""

    def __init__(self, sample_rate: int = 22_050) -> None:
        self.espeak = shutil.which("espeak-ng")
        if self.espeak is None:
            raise ModelError(
                "There is no Chinese voice: espeak-ng is not installed, and no Piper Chinese voice is.",
                "Run ./setup.sh, or 'assistant voices pull' when online.",
            )
        self._rate = sample_rate

    @property
    def sample_rate(self) -> int:
        return self._rate

    def synthesize(self, text: str, speech_rate: float = 1.0) -> Iterator[AudioChunk]:
        text = clean_for_speech(text)
        speed = round(min(max(self.WORDS_PER_MINUTE * speech_rate, 80), 450))
        for piece in pieces_for_voice(text):
            spoken = pinyin_for_speech(piece)
            if not spoken.strip(" ,.?!"):
                continue
            try:
                wav = subprocess.run(
                    [str(self.espeak), "-v", self.VOICE, "-s", str(speed), "--stdout"],
                    input=spoken.encode("utf-8"),
                    capture_output=True,
                    check=True,
                    timeout=30,
                ).stdout
                samples, rate = _read_wav(wav)
            except (OSError, subprocess.SubprocessError, wave.Error, EOFError) as e:
                raise ModelError(f"The Chinese voice (espeak-ng) failed: {e}.", "Run ./setup.sh again.") from e
            yield AudioChunk(resample(samples, rate, self._rate), self._rate, text=text)


class VoicesByLanguage:
    """Each sentence in the voice of its main language (English, or Chinese where a Chinese voice is given), at the
    English voice's sample rate."""

    def __init__(self, voices: Mapping[str, Synthesizer]) -> None:
        self.voices = dict(voices)
        self.english = self.voices["en"]

    @property
    def sample_rate(self) -> int:
        return self.english.sample_rate

    def voice_for(self, text: str) -> Synthesizer:
        return self.voices.get(main_language(text), self.english)

    def synthesize(self, text: str, speech_rate: float = 1.0) -> Iterator[AudioChunk]:
        for chunk in self.voice_for(text).synthesize(text, speech_rate):
            if chunk.sample_rate != self.sample_rate:
                chunk = AudioChunk(
                    resample(chunk.samples, chunk.sample_rate, self.sample_rate), self.sample_rate, chunk.text
                )
            yield chunk


_CHINESE_DIGITS = "零一二三四五六七八九"
_NUMBER = re.compile(r"(\d+(?:\.\d+)?)(%?)")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_PUNCTUATION = str.maketrans({"，": ",", "、": ",", "；": ",", "：": ",", "。": ".", "？": "?", "！": "!", "…": "."})


def _below_ten_thousand(n: int) -> str:
    out, gap = "", False
    for value, unit in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        digit, n = divmod(n, value)
        if digit:
            said = "两" if digit == 2 and value == 1000 else _CHINESE_DIGITS[digit]
            out += ("零" if gap and out else "") + said + unit
            gap = False
        else:
            gap = True
    return out


def chinese_number(number: str) -> str:
    """A number as it is read in Chinese: 3.5 三点五, 10050 一万零五十; one of more than eight digits (a phone
    number) or with a leading zero (a code) digit by digit."""
    whole, _, fraction = number.partition(".")
    if len(whole) > 8 or (len(whole) > 1 and whole.startswith("0")):
        spoken = "".join(_CHINESE_DIGITS[int(d)] for d in whole)
    else:
        n, spoken = int(whole), ""
        for value, unit in ((10**8, "亿"), (10**4, "万"), (1, "")):
            group, n = divmod(n, value)
            if group:
                spoken += ("零" if spoken and group < 1000 else "") + _below_ten_thousand(group) + unit
        spoken = spoken or "零"
        if spoken.startswith("一十"):
            spoken = spoken[1:]
    if fraction:
        spoken += "点" + "".join(_CHINESE_DIGITS[int(d)] for d in fraction)
    return spoken


def pinyin_for_speech(text: str) -> str:
    """Chinese text as pinyin with tone numbers (ni3 hao3), numbers read in Chinese, punctuation as pauses."""
    from pypinyin import Style, lazy_pinyin

    def number(match: re.Match[str]) -> str:
        return ("百分之" if match.group(2) else "") + chinese_number(match.group(1))

    text = _NUMBER.sub(number, _THOUSANDS.sub("", text))
    syllables = lazy_pinyin(
        text,
        style=Style.TONE3,
        neutral_tone_with_five=True,
        tone_sandhi=True,
        errors=lambda rest: rest.translate(_PUNCTUATION),
    )
    return re.sub(r"\s+", " ", " ".join(syllables)).strip()


def _read_wav(data: bytes) -> tuple[np.ndarray, int]:
    with wave.open(io.BytesIO(data)) as wav:
        rate, frames = wav.getframerate(), wav.readframes(wav.getnframes())
    return np.frombuffer(frames, np.int16).astype(np.float32) / 32768.0, rate


def resample(samples: np.ndarray, rate: int, to_rate: int) -> np.ndarray:
    """Linear resampling: enough for speech moved between voices' rates."""
    if rate == to_rate or len(samples) == 0:
        return samples.astype(np.float32, copy=False)
    count = round(len(samples) * to_rate / rate)
    return np.interp(np.arange(count) * rate / to_rate, np.arange(len(samples)), samples).astype(np.float32)
