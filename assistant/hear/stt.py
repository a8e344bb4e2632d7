"""Speech to text with faster-whisper, from a local model folder only."""

from __future__ import annotations

import functools
import logging
import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assistant.core.heap import give_back_freed_memory
from assistant.core.heard import MIN_SPEECH_S
from assistant.core.routing import CHINESE_CHARACTERS, is_chinese
from assistant.core.types import AudioClip, Fit, Transcript
from assistant.errors import BadInputError, ModelError

_LOGGER = logging.getLogger(__name__)

WHISPER_FILES = ("model.bin", "config.json", "tokenizer.json")


@dataclass(frozen=True)
class SttOptions:
    compute_type: str = "int8"
    beam_size: int = 5
    language: str = ""
    """en or zh; empty (or auto) hears either, whichever whisper finds likelier."""
    vad: bool = True
    threads: int = 0
    hotwords: str = ""
    """Words to bias recognition towards: the voice commands, which small models mishear when said alone."""
    device: str = "auto"
    """cpu, cuda, or auto: CUDA when CTranslate2 finds a GPU and a first transcription on it works."""
    padding_s: float = 3.0
    """Seconds of silence the encoder sees after the speech, in place of the rest of its 30-second window; 0 keeps
    whole windows. A short question is encoded in a fraction of the time."""


CUDA_COMPUTE_TYPE = "float16"
_UNSURE_LOGPROB = -0.6
_AGAIN_PADDING_S = 10.0
"""A transcript from the short window less sure than _UNSURE_LOGPROB is heard again with this much silence after
the speech."""
_TOKENS_PER_S = 8
_MOST_TOKENS = 200
_FRAMES_PER_S = 100
"""Whisper's log-mel frames a second; its encoder halves them."""
_SCORED_AT_ONCE = 24
"""Texts `score` reads against the speech in one batch."""
_WORD = re.compile(rf"[{CHINESE_CHARACTERS}][^\w\s]*|[^\s{CHINESE_CHARACTERS}]+")
"""A word of a transcript with the punctuation after it: a Chinese character, or anything between spaces."""
HEARD_LANGUAGES = ("en", "zh")
"""The languages the assistant answers in: what a multilingual model listening for any language picks from."""


def check_whisper_dir(path: Path) -> None:
    """Raise a ModelError naming what is missing from a faster-whisper folder."""
    fix = "Run ./setup.sh, or set stt.whisper to a faster-whisper model folder."
    if not path.is_dir():
        raise ModelError(f"The speech model folder {path} is missing.", fix)
    missing = [name for name in WHISPER_FILES if not (path / name).is_file()]
    if missing:
        raise ModelError(f"The speech model folder {path} lacks {', '.join(missing)}.", fix)


class WhisperTranscriber:
    def __init__(self, model_dir: Path, options: SttOptions | None = None) -> None:
        self.options = options or SttOptions()
        check_whisper_dir(model_dir)
        if self.options.device not in ("auto", "cpu", "cuda"):
            raise BadInputError(f"stt.device is {self.options.device!r}; it can be auto, cpu or cuda.")
        if not 0 <= self.options.padding_s <= 30:
            raise BadInputError(f"stt.padding_s is {self.options.padding_s}; it can be 0 to 30 seconds.")
        self.device = "cpu"
        self._heard = threading.local()
        """Each thread's last transcription: its clip and whisper's encoding of it, which `score` reuses."""
        if self.options.device != "cpu" and (self.options.device == "cuda" or _cuda_devices() > 0):
            try:
                self.model: Any = self._load(model_dir, "cuda")
                self._transcribe_tone()  # CUDA's libraries load at the first transcription, not before
                self.device = "cuda"
            except (RuntimeError, ValueError) as e:
                if self.options.device == "cuda":
                    raise ModelError(
                        f"Speech recognition cannot run on CUDA here: {e}.", "Set stt.device to auto or cpu."
                    ) from e
                _LOGGER.warning("speech recognition stays on the CPU: CUDA failed with %s", e)
        if self.device == "cpu":
            self.model = self._load(model_dir, "cpu")
        language = "" if self.options.language == "auto" else self.options.language
        if language not in ("", *HEARD_LANGUAGES):
            raise BadInputError(f"The speech language is {language!r}; it can be auto, en or zh.")
        if not self.model.model.is_multilingual:
            if language == "zh":
                raise ModelError(
                    f"The speech model in {model_dir} hears only English, so Chinese cannot be heard.",
                    "Run ./setup.sh for the multilingual base model, or set stt.whisper to a multilingual one.",
                )
            language = "en"
        self.language = language
        """en or zh, or empty: either, as whisper hears it."""
        _LOGGER.debug("whisper %s loaded on %s, language %s", model_dir, self.device, self.language or "auto")

    def _load(self, model_dir: Path, device: str) -> Any:
        from faster_whisper import WhisperModel

        heard = self._heard

        class KeepingWhisperModel(WhisperModel):
            """Encodes a window only as far as its speech and the thread's `heard.padding` frames of silence, and
            keeps the encoder's output for `score`."""

            def encode(self, features: np.ndarray) -> Any:
                padding = getattr(heard, "padding", 0)
                if padding > 0:
                    features = features[..., : _content_frames(features) + padding]
                    features = features[..., : features.shape[-1] // 2 * 2]  # the encoder halves the frames
                last = getattr(heard, "features", None)
                if last is not None and heard.encoded is not None and np.array_equal(last, features):
                    return heard.encoded  # the window the language was told from, encoded again for its words
                heard.features, heard.encoded = features, super().encode(features)
                return heard.encoded

            def detect_language(self, *args: Any, **kwargs: Any) -> tuple[str, float, list[tuple[str, float]]]:
                """Whisper's likeliest of the languages the assistant answers in: a short question in an unusual
                voice is otherwise often taken for Japanese or Welsh."""
                if kwargs.get("features") is not None:
                    # transcribe passes its features whole, but its segments leave out the extractor's last frame:
                    # without that frame, the window told from is the very one transcribed, and encoded once.
                    kwargs["features"] = kwargs["features"][..., :-1]
                language, probability, likelihoods = super().detect_language(*args, **kwargs)
                heard_as = [(code, p) for code, p in likelihoods if code in HEARD_LANGUAGES]
                if heard_as:
                    language, probability = max(heard_as, key=lambda pair: pair[1])
                return language, probability, likelihoods

        try:
            return KeepingWhisperModel(
                str(model_dir),
                device=device,
                compute_type=self.options.compute_type if device == "cpu" else CUDA_COMPUTE_TYPE,
                cpu_threads=self.options.threads or (os.cpu_count() or 1),
                local_files_only=True,
            )
        except Exception as e:  # CTranslate2 raises RuntimeError or ValueError on a bad model.bin
            if device != "cpu":
                raise RuntimeError(str(e)) from e
            raise ModelError(
                f"The speech model in {model_dir} is damaged and cannot be loaded.",
                "Run ./setup.sh again, or point stt.whisper at a good model folder.",
            ) from e

    def _transcribe_tone(self) -> None:
        segments, _ = self.model.transcribe(_quiet_tone(), beam_size=1, vad_filter=False, language="en")
        list(segments)

    def warm_up(self) -> None:
        """Run the voice detector and the model once, on a second of quiet tone, so that the first question does
        not pay for their first call (over two seconds on two cores)."""
        tone = _quiet_tone()
        self._heard.padding = round(self.options.padding_s * _FRAMES_PER_S)
        if self.options.vad:
            speech_seconds(AudioClip(tone, 16_000))
        segments, _ = self.model.transcribe(
            tone, language=self.language or None, beam_size=self.options.beam_size, vad_filter=False
        )
        list(segments)

    def transcribe(self, clip: AudioClip) -> Transcript:
        if clip.sample_rate != 16_000:
            raise BadInputError("The recording must be 16 kHz for speech recognition.")
        speech_s = speech_seconds(clip) if self.options.vad else clip.duration_s
        if speech_s < MIN_SPEECH_S:
            return Transcript("", no_speech_prob=1.0, speech_s=speech_s)
        transcript = self._transcribe(clip, speech_s, self.options.padding_s)
        if (
            0 < self.options.padding_s < _AGAIN_PADDING_S
            and transcript.text
            and transcript.avg_logprob < _UNSURE_LOGPROB
        ):
            # Heard doubtfully in the short window: a longer one, nearer whisper's 30 s, hears some voices better.
            again = self._transcribe(clip, speech_s, _AGAIN_PADDING_S)
            if again.avg_logprob > transcript.avg_logprob:
                transcript = again
        return transcript

    def _transcribe(self, clip: AudioClip, speech_s: float, padding_s: float) -> Transcript:
        """The speech heard in a window of it and `padding_s` of silence after it (0: whisper's whole window)."""
        heard = self._heard
        heard.clip, heard.encoded, heard.features = None, None, None
        heard.padding = round(padding_s * _FRAMES_PER_S)
        segments, info = self.model.transcribe(
            clip.samples,
            language=self.language or None,
            beam_size=self.options.beam_size,
            vad_filter=self.options.vad,
            condition_on_previous_text=False,
            hotwords=self.options.hotwords or None,
            # One pass at temperature 0, and no more tokens than the fastest speech holds: with whisper's fallback
            # temperatures and 448 tokens, a hard voice kept it repeating itself for 11 s.
            temperature=0.0,
            max_new_tokens=min(_MOST_TOKENS, round(_TOKENS_PER_S * clip.duration_s) + 10),
        )
        # segments is a lazy generator: the work happens here.
        parts = list(segments)
        heard.clip, heard.frames = clip, round(info.duration_after_vad * _FRAMES_PER_S) + 1
        if not parts:
            return Transcript("", info.language, no_speech_prob=1.0, speech_s=speech_s)
        if info.language == "zh":
            text = simplified("".join(part.text.strip() for part in parts))
        else:
            text = " ".join(part.text.strip() for part in parts).strip()
            text = text[:1].upper() + text[1:]  # the command hints make whisper start in lower case
        return Transcript(
            without_repeats(text),
            info.language,
            no_speech_prob=max(part.no_speech_prob for part in parts),
            avg_logprob=sum(part.avg_logprob for part in parts) / len(parts),
            speech_s=speech_s,
        )

    def score(self, clip: AudioClip, texts: Sequence[str], language: str = "") -> list[Fit] | None:
        """How well each of `texts` fits the speech in `clip`: whisper's decoder reads it against the encoded speech,
        giving the log-probability of its tokens and of its ending there. None unless `clip` was this thread's last
        transcription and fitted in one window, whose encoding this reuses."""
        heard = self._heard
        if getattr(heard, "clip", None) is not clip or heard.encoded is None or heard.frames > 3000 or not texts:
            return None
        import ctranslate2
        from faster_whisper.tokenizer import Tokenizer

        multilingual = self.model.model.is_multilingual
        tokenizer = Tokenizer(
            self.model.hf_tokenizer, multilingual, task="transcribe", language=language or self.language or "en"
        )
        start = [*tokenizer.sot_sequence, tokenizer.no_timestamps]
        tokens = [tokenizer.encode(" " + text.strip()) for text in texts]
        # The decoder attends only to the encoded frames that hold speech, not to the window's silent rest.
        encoded = heard.encoded if heard.encoded.device == "cpu" else heard.encoded.to_device(ctranslate2.Device.cpu)
        encoded = np.asarray(encoded)[:, : heard.frames // 2 + 10]
        # Each text is the forced start of a greedy decoding that returns the scores over the whole vocabulary at
        # every step (the end token among them), 200 KB a step for each text: the texts are read a batch of similar
        # lengths at a time (the 87 command phrases said with polite words took 360 MB at once, 130 MB 24 at a
        # time). CTranslate2 makes one step for every two of max_length: texts of n tokens need 2 (n + 1).
        by_length = sorted(range(len(texts)), key=lambda index: len(tokens[index]))
        fits: dict[int, Fit] = {}
        for first in range(0, len(by_length), _SCORED_AT_ONCE):
            batch = by_length[first : first + _SCORED_AT_ONCE]
            results = self.model.model.generate(
                ctranslate2.StorageView.from_array(np.ascontiguousarray(np.repeat(encoded, len(batch), axis=0))),
                [start + tokens[index] for index in batch],
                beam_size=1,
                max_length=2 * (len(tokens[batch[-1]]) + 1),
                return_logits_vocab=True,
                suppress_blank=False,
                suppress_tokens=[],
            )
            for index, result in zip(batch, results, strict=True):
                text_tokens = tokens[index]
                steps = result.logits[0][: len(text_tokens) + 1]
                if len(steps) <= len(text_tokens):
                    return None
                logits = np.stack([np.asarray(step, dtype=np.float32) for step in steps])
                logprobs = logits - _logsumexp(logits)
                said = logprobs[np.arange(len(text_tokens)), text_tokens].sum()
                fits[index] = Fit(float(said), len(text_tokens), float(logprobs[-1, tokenizer.eot]))
        give_back_freed_memory()  # the logits: about 100 MB that glibc would keep
        return [fits[index] for index in range(len(texts))]


def _logsumexp(logits: np.ndarray) -> np.ndarray:
    """Each row's log of the sum of its exponentials, as a column."""
    most = logits.max(axis=1, keepdims=True)
    return most + np.log(np.exp(logits - most).sum(axis=1, keepdims=True))


@functools.cache
def _to_simplified() -> Any:
    import opencc

    return opencc.OpenCC("t2s.json")


def simplified(text: str) -> str:
    """Chinese in simplified characters (zh-Hans), by OpenCC's tables: whisper writes traditional ones as often."""
    return str(_to_simplified().convert(text))


def without_repeats(text: str) -> str:
    """The text with whisper's loops said once: words said three times or more in a row ("Stop. Stop. Stop."), or
    two or more words said twice or more ("Say that again. Say that again. Say"), with a last repeat cut short;
    punctuation and case aside. A word said twice ("no, no") stays."""
    words = list(_WORD.finditer(text))
    keys = [re.sub(r"\W", "", word.group()).lower() for word in words]
    kept: list[int] = []
    start = 0
    while start < len(keys):
        found = _repeated_at(keys, start)
        if found is None:
            kept.append(start)
            start += 1
            continue
        size, times = found
        kept.extend(range(start, start + size))
        start += size * times
        if _cut_short(keys[start:], keys[start - size : start]):
            start = len(keys)  # the last repeat, cut off by the token limit
    if len(kept) == len(words):
        return text
    pieces = [text[words[i].start() : words[i + 1].start() if i + 1 < len(words) else len(text)] for i in kept]
    return "".join(pieces).rstrip().rstrip(",;:，、；").rstrip()


def _cut_short(rest: list[str], unit: list[str]) -> bool:
    """Whether `rest` is the beginning of `unit`, its last word perhaps not finished."""
    return (
        0 < len(rest) <= len(unit) and rest[:-1] == unit[: len(rest) - 1] and unit[len(rest) - 1].startswith(rest[-1])
    )


def _repeated_at(keys: list[str], start: int) -> tuple[int, int] | None:
    """The shortest run of words from `start` said again and again right after it, as (its words, times). Chinese
    runs are of two characters or more, and said twice only when of three or more: 谢谢 and 看看 are words."""
    chinese = is_chinese(keys[start][:1])
    for size in range(2 if chinese else 1, (len(keys) - start) // 2 + 1):
        unit = keys[start : start + size]
        if not all(unit):
            continue
        times = 1
        while keys[start + times * size : start + (times + 1) * size] == unit:
            times += 1
        if times >= 3 or (times == 2 and size >= (3 if chinese else 2)):
            return size, times
    return None


def _content_frames(features: np.ndarray) -> int:
    """How many frames of a window precede its padding: the trailing frames that are all zero."""
    padded = np.all(features == 0, axis=-2).reshape(-1)
    return len(padded) - int(np.argmin(padded[::-1])) if not padded.all() else 0


def _quiet_tone() -> np.ndarray:
    """A second of quiet 220 Hz tone at 16 kHz."""
    return 0.01 * np.sin(2 * np.pi * 220 * np.arange(16_000) / 16_000).astype(np.float32)


def _cuda_devices() -> int:
    import ctranslate2

    return int(ctranslate2.get_cuda_device_count())


def speech_seconds(clip: AudioClip) -> float:
    """Seconds of speech in the clip, by faster-whisper's bundled Silero VAD."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    stamps = get_speech_timestamps(clip.samples, VadOptions(speech_pad_ms=0), sampling_rate=clip.sample_rate)
    return sum(stamp["end"] - stamp["start"] for stamp in stamps) / clip.sample_rate
