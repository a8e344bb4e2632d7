"""A hearing test set that is not only our own voice: every English command phrase and 30 questions, spoken by
seven speakers or styles, clean and mixed with white or babble noise at 10 and 5 dB SNR.

    python -m tools.hearing_set OUT_DIR

The speakers are the bundled Piper voice (as shipped, faster and higher, slower and lower: pitch and speed moved
by resampling, which also moves the formants, as a shorter or longer vocal tract would) and four of
espeak-ng's accents and voice variants at their own speeds. Babble is six other sentences by other speakers,
overlapped. Everything is made here, from packages; the same call makes the same audio.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import tempfile
import wave
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from assistant.core.commands import COMMANDS

RATE = 16_000

QUESTIONS = (
    "What is in front of me?",
    "What colour is this shirt?",
    "Read the label on this jar.",
    "Is the light on in this room?",
    "How many people are in the picture?",
    "What does this sign say?",
    "Is there a car parked on the left?",
    "Which bus number is that?",
    "What is the expiry date on this carton?",
    "Describe the room for me.",
    "Is this the blue mug or the green one?",
    "What time does the clock show?",
    "Are there any steps ahead of me?",
    "Is the door open or closed?",
    "What is written on the whiteboard?",
    "How much does this bottle cost?",
    "Which way is the exit?",
    "What brand of cereal is this?",
    "Is my coffee cup empty?",
    "Tell me what is on the plate.",
    # each of these holds a command word, and is still a question for the model
    "Can you repeat the label on this bottle?",
    "Is there a stop sign ahead?",
    "Can you read the help line number?",
    "Is the light in the hallway switched on?",
    "Should I slow down at this crossing?",
    "Is this the faster train to Leeds?",
    "Can you tell me more about this letter?",
    "Is this a brief note or a long letter?",
    "Read the settings on the oven display.",
    "Is there a new message on the screen?",
)
WITH_COMMAND_WORD = QUESTIONS[20:]

COMMAND_PHRASES: tuple[tuple[str, str], ...] = (
    *(
        (command.name, phrase[:1].upper() + phrase[1:].replace(" i ", " I ") + ".")
        for command in COMMANDS
        for phrase in command.phrases
        if phrase.isascii()
    ),
    ("repeat", "Repeat that, please."),
    ("repeat", "Say that again, please."),
    ("slower", "Slower, please."),
    ("stop", "Please stop."),
    ("faster", "Can you speak faster?"),
    ("new_conversation", "Start over, please."),
)
"""Every English command phrase, and some said politely, as (command, sentence)."""


@dataclass(frozen=True)
class Speaker:
    name: str
    engine: str
    """piper or espeak-ng."""
    voice: str = ""
    """espeak-ng's voice and variant."""
    words_per_minute: int = 175
    speed: float = 1.0
    """Piper's speech rate, before resampling."""
    pitch: float = 1.0
    """Resampling factor: above 1 is higher and faster."""


SPEAKERS = (
    Speaker("piper-joe", "piper"),
    Speaker("piper-joe-fast-high", "piper", speed=1.15, pitch=1.15),
    Speaker("piper-joe-slow-low", "piper", speed=0.85, pitch=0.88),
    Speaker("espeak-us-f3", "espeak-ng", "en-us+f3", 165),
    Speaker("espeak-scotland-m3", "espeak-ng", "en-gb-scotland+m3", 140),
    Speaker("espeak-caribbean-m2", "espeak-ng", "en-029+m2", 195),
    Speaker("espeak-rp-f4", "espeak-ng", "en-gb-x-rp+f4", 180),
)
NOISES = ("clean", "white-10", "white-5", "babble-10", "babble-5")
BABBLE_VOICES = ("en-us+m1", "en-gb+f2", "en-gb-x-rp+m4", "en-us+f5", "en-029+f1", "en-gb-scotland+m6")
BABBLE_TEXTS = QUESTIONS[:6]


@dataclass(frozen=True)
class Utterance:
    path: str
    """Relative to the set's folder."""
    speaker: str
    noise: str
    text: str
    command: str | None
    """The command it says, or None for a question."""


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def speak_espeak(text: str, voice: str, words_per_minute: int) -> np.ndarray:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "speech.wav"
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(words_per_minute), "-w", str(out), text],
            check=True,
            capture_output=True,
            timeout=60,
        )
        samples, rate = read_wav(out)
    return resample(samples, rate, RATE)


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """A mono 16-bit WAV as floats, and its sample rate."""
    with wave.open(str(path), "rb") as reader:
        rate, frames = reader.getframerate(), reader.readframes(reader.getnframes())
    return np.frombuffer(frames, np.int16).astype(np.float32) / 32768, rate


def write_wav(path: Path, samples: np.ndarray) -> None:
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(RATE)
        writer.writeframes((np.clip(samples, -1, 1) * 32767).astype(np.int16).tobytes())


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    if rate == target:
        return samples.astype(np.float32)
    length = round(len(samples) * target / rate)
    return np.interp(np.linspace(0, len(samples) - 1, length), np.arange(len(samples)), samples).astype(np.float32)


def piper_speaker(voice_file: Path) -> Callable[[str, float], np.ndarray]:
    from assistant.speak.tts import PiperSynthesizer, SpeechOptions

    synthesizer = PiperSynthesizer(voice_file, SpeechOptions(noise_scale=0.667, noise_w_scale=0.8))

    def speak(text: str, speed: float) -> np.ndarray:
        chunks = list(synthesizer.synthesize(text, speed))
        samples = np.concatenate([chunk.samples for chunk in chunks])
        return resample(samples, chunks[0].sample_rate, RATE)

    return speak


def say(speaker: Speaker, text: str, piper: Callable[[str, float], np.ndarray]) -> np.ndarray:
    if speaker.engine == "piper":
        samples = piper(text, speaker.speed)
    else:
        samples = speak_espeak(text, speaker.voice, speaker.words_per_minute)
    if speaker.pitch != 1.0:
        samples = resample(samples, round(RATE * speaker.pitch), RATE)
    peak = float(np.max(np.abs(samples))) or 1.0
    quiet = np.zeros(int(0.3 * RATE), np.float32)
    return np.concatenate([quiet, 0.7 * samples / peak, quiet]).astype(np.float32)


def speech_rms(samples: np.ndarray) -> float:
    """Loudness of the voiced part: the frames within 30 dB of the loudest."""
    frames = samples[: len(samples) // 160 * 160].reshape(-1, 160)
    energy = np.sqrt(np.mean(np.square(frames), axis=1))
    voiced = energy[energy > energy.max() * 10 ** (-30 / 20)]
    return float(np.sqrt(np.mean(np.square(voiced)))) if voiced.size else 0.0


def mix(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    noise = np.resize(noise, speech.shape)
    gain = speech_rms(speech) / (float(np.sqrt(np.mean(np.square(noise)))) or 1.0) / 10 ** (snr_db / 20)
    mixed = speech + gain * noise
    return (mixed / max(1.0, float(np.max(np.abs(mixed))) / 0.95)).astype(np.float32)


def babble() -> np.ndarray:
    """Six speakers talking over one another, ten seconds, looped by `mix` as needed."""
    total = np.zeros(10 * RATE, np.float32)
    rng = np.random.default_rng(7)
    for voice, text in zip(BABBLE_VOICES, BABBLE_TEXTS, strict=True):
        talk = np.tile(speak_espeak(f"{text} {text}", voice, 170), 3)
        start = int(rng.integers(0, RATE * 2))
        talk = np.resize(np.roll(talk, start), total.shape)
        total += talk / (speech_rms(talk) or 1.0)
    return total


def noisy(speech: np.ndarray, noise: str, babble_noise: np.ndarray, seed: int) -> np.ndarray:
    if noise == "clean":
        return speech
    kind, snr = noise.split("-")
    rng = np.random.default_rng(seed)
    if kind == "white":
        source = rng.standard_normal(len(speech)).astype(np.float32)
    else:
        source = np.roll(babble_noise, int(rng.integers(0, len(babble_noise))))
    return mix(speech, source, float(snr))


def words(text: str) -> list[str]:
    """A sentence's words for counting errors: lower case, no punctuation, one spelling of colour."""
    text = text.lower().replace("colour", "color").replace("white board", "whiteboard")
    return "".join(c if c.isalnum() or c.isspace() or c == "'" else " " for c in text).split()


class Tally:
    """Base of a dataclass of counts, and lists of measurements, that adds another up field by field."""

    def add(self, other: Tally) -> None:
        for item in fields(self):  # type: ignore[arg-type]
            setattr(self, item.name, getattr(self, item.name) + getattr(other, item.name))


def edits(reference: list[str], hypothesis: list[str]) -> int:
    """Items substituted, dropped or added to make `hypothesis` of `reference` (Levenshtein distance)."""
    row = list(range(len(hypothesis) + 1))
    for i, item in enumerate(reference, 1):
        diagonal, row[0] = row[0], i
        for j, other in enumerate(hypothesis, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (item != other))
    return row[-1]


def word_errors(said: str, heard: str) -> tuple[int, int]:
    """Words substituted, dropped or added in `heard`, and the number of words `said`."""
    reference = words(said)
    return edits(reference, words(heard)), len(reference)


def fingerprint(speakers: Iterable[Speaker], noises: Iterable[str], lines: Iterable[tuple[str | None, str]]) -> str:
    text = json.dumps([[asdict(s) for s in speakers], list(noises), list(lines), Path(__file__).read_text()])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def all_lines() -> list[tuple[str | None, str]]:
    return [(name, phrase) for name, phrase in COMMAND_PHRASES] + [(None, q) for q in QUESTIONS]


def make_set(
    folder: Path,
    voice_file: Path,
    speakers: tuple[Speaker, ...] = SPEAKERS,
    noises: tuple[str, ...] = NOISES,
    lines: list[tuple[str | None, str]] | None = None,
) -> list[Utterance]:
    """Write the set's WAVs and manifest.json into `folder`, or reuse them when made by the same script and
    arguments; return its utterances."""
    lines = all_lines() if lines is None else lines
    manifest = folder / "manifest.json"
    key = fingerprint(speakers, noises, lines)
    if manifest.is_file():
        made = json.loads(manifest.read_text())
        if made.get("key") == key:
            return [Utterance(**u) for u in made["utterances"]]
    if not espeak_available():
        raise RuntimeError("espeak-ng is not installed: run ./setup.sh")
    piper = piper_speaker(voice_file)
    babble_noise = babble()
    utterances = []
    for speaker in speakers:
        for number, (command, text) in enumerate(lines):
            speech = say(speaker, text, piper)
            for noise in noises:
                path = f"{speaker.name}/{noise}/{number:03d}.wav"
                (folder / path).parent.mkdir(parents=True, exist_ok=True)
                write_wav(folder / path, noisy(speech, noise, babble_noise, seed=number))
                utterances.append(Utterance(path, speaker.name, noise, text, command))
    manifest.write_text(json.dumps({"key": key, "utterances": [asdict(u) for u in utterances]}, indent=1))
    return utterances


def main() -> None:
    from assistant.think.models import bundled_voice

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    voice = bundled_voice()
    if voice is None:
        raise SystemExit("The bundled Piper voice is not installed: run ./setup.sh")
    made = make_set(args.out, voice)
    print(f"{len(made)} utterances in {args.out}")


if __name__ == "__main__":
    main()
