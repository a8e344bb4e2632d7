"""Fetching a catalog model from Hugging Face or ModelScope (魔搭), or a Piper voice from Hugging Face, only when the
user asks (`models pull`, `voices pull`).

Both hubs publish each file's size and sha256 in their listing; a file is kept only when it matches both. The
Hugging Face endpoint follows $HF_ENDPOINT (huggingface_hub's own setting) and the ModelScope one $MODELSCOPE_DOMAIN
(the modelscope package's: a bare domain, served over https; a full URL is taken as it is).
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import json
import os
import re
import shutil
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from assistant.errors import BadInputError, DownloadError, ModelError
from assistant.think.catalog import CatalogEntry
from assistant.think.models import VlmPair

SOURCES = ("huggingface", "modelscope")
TIMEOUT_S = 30
_CHUNK = 1 << 20

Say = Callable[[str], None]


@dataclass(frozen=True)
class HubFile:
    name: str
    size: int | None
    sha256: str | None


class Hub(Protocol):
    label: str

    def files(self) -> dict[str, HubFile]: ...

    def download(self, file: HubFile, folder: Path, say: Say) -> Path: ...


class HuggingFace:
    def __init__(self, repo: str) -> None:
        self.repo = repo
        self.label = f"{repo} on Hugging Face"

    def files(self) -> dict[str, HubFile]:
        from huggingface_hub import HfApi

        info = HfApi().model_info(self.repo, files_metadata=True, timeout=TIMEOUT_S)
        return {
            s.rfilename: HubFile(s.rfilename, s.size, getattr(s.lfs, "sha256", None) if s.lfs else None)
            for s in info.siblings or []
        }

    def download(self, file: HubFile, folder: Path, say: Say) -> Path:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(self.repo, file.name, local_dir=folder, tqdm_class=_plain_progress_class(say)))


class ModelScope:
    def __init__(self, repo: str) -> None:
        self.repo = repo
        self.label = f"{repo} on ModelScope"
        domain = os.environ.get("MODELSCOPE_DOMAIN") or "www.modelscope.cn"
        self.endpoint = (domain if "://" in domain else f"https://{domain}").rstrip("/")

    def _url(self, path: str, **query: str) -> str:
        return f"{self.endpoint}/api/v1/models/{self.repo}/{path}?{urllib.parse.urlencode(query)}"

    def files(self) -> dict[str, HubFile]:
        url = self._url("repo/files", Revision="master", Recursive="True")
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            listing = json.load(response)
        if listing.get("Code") != 200 or not isinstance(listing.get("Data"), dict):
            raise ValueError(f"ModelScope answered {listing.get('Code')}: {listing.get('Message')}")
        return {
            f["Path"]: HubFile(f["Path"], f.get("Size"), f.get("Sha256") or None)
            for f in listing["Data"].get("Files", [])
            if f.get("Type") == "blob"
        }

    def download(self, file: HubFile, folder: Path, say: Say) -> Path:
        """Into folder, by way of a .partial file that a later pull resumes."""
        local = folder / file.name
        partial = local.with_name(local.name + ".partial")
        have = partial.stat().st_size if partial.exists() else 0
        request = urllib.request.Request(self._url("repo", Revision="master", FilePath=file.name))
        if have:
            request.add_header("Range", f"bytes={have}-")
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            if response.status != 206:  # the server sends the whole file again
                have = 0
            total = file.size or have + int(response.headers.get("Content-Length") or 0)
            progress = _Progress(say, total, have)
            with partial.open("ab" if have else "wb") as out:
                while block := response.read(_CHUNK):
                    out.write(block)
                    progress.advance(len(block))
        partial.replace(local)
        return local


def hub_for(entry: CatalogEntry, source: str) -> Hub:
    if source == "modelscope":
        return ModelScope(entry.modelscope or entry.repo)
    if source == "huggingface":
        return HuggingFace(entry.repo)
    raise ModelError(f"There is no model source called {source}.", f"Choose one of {', '.join(SOURCES)}.")


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


def pull(entry: CatalogEntry, models_dir: Path, say: Say, quant: str = "", source: str = "huggingface") -> VlmPair:
    """Download the entry's model at `quant` (its own by default) and its mmproj into models_dir/<name>-<quant>/,
    then check each file's size and sha256."""
    quant = entry.check_quant(quant or entry.quant)
    hub = hub_for(entry, source)
    files = _listing(hub, "place the model files in the models folder by hand")
    chosen = []
    for patterns, exclude in ((entry.model_patterns(quant), True), (entry.mmproj_patterns, False)):
        name = pick_file(list(files), patterns, exclude_mmproj=exclude)
        if name is None:
            raise ModelError(f"{hub.label} has no file matching {', '.join(patterns)}.")
        chosen.append(files[name])
    target = models_dir / entry.folder(quant)
    target.mkdir(parents=True, exist_ok=True)
    needed, free = sum(f.size or 0 for f in chosen), shutil.disk_usage(target).free
    if needed > free:
        raise DownloadError(
            f"There is not enough disk space: the model needs {_size(needed)} and {_size(free)} is free."
        )
    paths = [_fetch(hub, file, target, say) for file in chosen]
    return VlmPair(paths[0], paths[1])


def _listing(hub: Hub, or_else: str) -> dict[str, HubFile]:
    try:
        return hub.files()
    except ImportError as e:
        raise ModelError("The huggingface_hub package is not installed.", "Run ./setup.sh.") from e
    except Exception as e:  # network, HTTP and hub errors alike mean the listing cannot be had
        raise DownloadError(
            f"I can't get the file list of {hub.label}: {type(e).__name__}.",
            f"Connect to the internet and try again, or {or_else}.",
        ) from e


def _fetch(hub: Hub, file: HubFile, folder: Path, say: Say) -> Path:
    say(f"Downloading {file.name} from {hub.label}.")
    try:
        local = hub.download(file, folder, say)
    except Exception as e:  # network or hub errors
        raise DownloadError(f"The download of {file.name} failed: {type(e).__name__}.", "Pull again.") from e
    verify(local, file, say)
    return local


PIPER_VOICES = "rhasspy/piper-voices"
_VOICE_NAME = re.compile(r"([a-z]{2,3})_([A-Z]{2})-(\w+)-(x_low|low|medium|high)")


def pull_voice(name: str, voices_dir: Path, say: Say) -> Path:
    """Download a Piper voice (its .onnx and .onnx.json) from Piper's voice repository into voices_dir, each file
    checked against the size and sha256 the listing publishes. Returns the .onnx."""
    named = _VOICE_NAME.fullmatch(name)
    if named is None:
        raise BadInputError(f"{name} is not a Piper voice's name.", "Names are like zh_CN-huayan-medium.")
    language, region, speaker, quality = named.groups()
    where = f"{language}/{language}_{region}/{speaker}/{quality}/{name}"
    hub = HuggingFace(PIPER_VOICES)
    files = _listing(hub, f"place {name}.onnx and {name}.onnx.json in {voices_dir} by hand")
    wanted = [files.get(where + ".onnx.json"), files.get(where + ".onnx")]
    chosen = [file for file in wanted if file is not None]
    if len(chosen) < len(wanted):
        raise ModelError(f"{hub.label} has no voice called {name}.", "The voices are listed in its VOICES.md.")
    voices_dir.mkdir(parents=True, exist_ok=True)
    staging = voices_dir / f".{name}.pulling"
    staging.mkdir(exist_ok=True)
    try:
        for file in chosen:  # the settings first: a voice is found by its .onnx, so that comes in last
            local = _fetch(hub, file, staging, say)
            local.replace(voices_dir / Path(file.name).name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # a file that failed its check is fetched afresh next time
    return voices_dir / f"{name}.onnx"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, file: HubFile, say: Say) -> None:
    size = path.stat().st_size
    if file.size is not None and size != file.size:
        raise ModelError(f"{path.name} is {size} bytes, not {file.size}.", "Delete it and pull again.")
    if file.sha256:
        say(f"Checking {path.name}.")
        if sha256_of(path) != file.sha256:
            raise ModelError(f"{path.name} does not match its published checksum.", "Delete it and pull again.")
    say(f"{path.name}: {_size(size)}, verified.")


def _size(n_bytes: float) -> str:
    return f"{n_bytes / 1e9:.1f} GB" if n_bytes >= 1e9 else f"{n_bytes / 1e6:.1f} MB"


class _Progress:
    """A plain line every 10 percent, for a screen reader, instead of a redrawn bar."""

    def __init__(self, say: Say, total: int, done: int = 0) -> None:
        self.say, self.total, self.done, self.last_step = say, total, done, -1

    def advance(self, n_bytes: int) -> None:
        self.done += n_bytes
        if self.total:
            step = min(10, self.done * 10 // self.total)
            if step != self.last_step:
                self.last_step = step
                self.say(f"  {step * 10} percent of {_size(self.total)}")


def _plain_progress_class(say: Say) -> Any:
    """huggingface_hub's tqdm, printing through _Progress."""
    from tqdm import tqdm

    class PlainProgress(tqdm):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self._progress: _Progress | None = None
            kwargs["disable"] = False
            kwargs["file"] = io.StringIO()  # tqdm's own bar goes nowhere
            super().__init__(*args, **kwargs)

        def display(self, msg: str | None = None, pos: int | None = None) -> bool:
            if self.total:
                if self._progress is None:
                    self._progress = _Progress(say, int(self.total))
                self._progress.advance(int(self.n) - self._progress.done)
            return True

    return PlainProgress
