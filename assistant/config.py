"""One frozen Config of sub-configs, loaded from TOML and overridden by command-line flags.

Every field carries a one-line doc in its metadata; `assistant --help` and the README list them.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.errors import BadInputError

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_PATH = Path("~/.config/assistant/config.toml").expanduser()


def _doc(default: Any, doc: str) -> Any:
    return field(default=default, metadata={"doc": doc})


LANGUAGES = ("auto", "en", "zh")


@dataclass(frozen=True)
class AssistantConfig:
    language: str = _doc(
        "en",
        "Language heard and spoken first: en, zh, or auto (each question's; the multilingual speech model). "
        "Answers are in the language of the question.",
    )

    @property
    def first_language(self) -> str:
        """en or zh: what is said before any question tells the language (auto starts in English)."""
        return "zh" if self.language == "zh" else "en"


@dataclass(frozen=True)
class PathsConfig:
    models_dir: str = _doc(str(PROJECT_DIR / "models"), "Folder searched for whisper folders and VLM .gguf pairs.")
    voices_dir: str = _doc(str(PROJECT_DIR / "voices"), "Folder searched for Piper voices (.onnx + .onnx.json).")


@dataclass(frozen=True)
class AudioConfig:
    input_device: str = _doc("", "Microphone: a sounddevice name or index; empty for the system default.")
    output_device: str = _doc("", "Speaker: a sounddevice name or index; empty for the system default.")
    max_record_s: float = _doc(30.0, "Longest recording; recording stops by itself after this many seconds.")
    earcons: bool = _doc(True, "Short sounds for ready, listening, thinking, still thinking and errors.")
    earcon_volume: float = _doc(0.3, "Loudness of the earcons, 0 to 1.")


@dataclass(frozen=True)
class ButtonConfig:
    device: str = _doc("", "Hardware push-to-talk button: a /dev/input path or part of its name; empty for none.")
    key: str = _doc("KEY_VOLUMEUP", "The button's key, as evdev names it; 'assistant doctor --buttons' lists devices.")


@dataclass(frozen=True)
class SttConfig:
    whisper: str = _doc(
        "", "faster-whisper model folder; empty for models/whisper-tiny.en, or models/whisper-base for zh and auto."
    )
    compute_type: str = _doc("int8", "CTranslate2 compute type on the CPU.")
    device: str = _doc("auto", "cpu, cuda, or auto: CUDA when CTranslate2 finds a GPU and it works, else the CPU.")
    beam_size: int = _doc(5, "Beam size; 1 is greedy and fastest, 5 hears unfamiliar voices better.")
    vad: bool = _doc(True, "Skip silence with faster-whisper's bundled Silero VAD.")
    threads: int = _doc(0, "CPU threads for whisper; 0 uses every core.")
    padding_s: float = _doc(
        3.0, "Seconds of silence encoded after the speech instead of whisper's whole 30 s window; 0 keeps it whole."
    )
    command_hints: bool = _doc(
        False, "Bias recognition towards the voice commands; off: it made questions harder to hear (see hearing.py)."
    )


@dataclass(frozen=True)
class CameraConfig:
    source: str = _doc("0", "Camera index, or a video or image file that stands in for the camera.")
    max_short_side: int = _doc(768, "Frames are downscaled so the short side is at most this many pixels.")
    burst: int = _doc(5, "A camera gives this many frames in a row at each question, and the sharpest is used.")
    dark: float = _doc(0.12, "Mean brightness (0 to 1) below which a picture is too dark to read or describe.")
    blur: float = _doc(60.0, "Sharpness (variance of the Laplacian) below which a picture is called blurred.")
    moved: float = _doc(0.06, "View change (0 to 1) between press and release above which the picture is taken again.")


@dataclass(frozen=True)
class OcrConfig:
    enabled: bool = _doc(True, "Read text with the bundled RapidOCR models: reading, documents, the model's context.")
    min_score: float = _doc(0.6, "Text read with less confidence than this (0 to 1) is left out.")
    say_first: bool = _doc(True, "For a general question about a new picture, say the text in view at once.")


@dataclass(frozen=True)
class VlmConfig:
    backend: str = _doc("local", "local: the GGUF pair here; openai: an OpenAI-compatible server at vlm.url.")
    url: str = _doc("", "With backend openai: the server's /v1 address; questions and pictures are sent there.")
    remote_model: str = _doc("", "With backend openai: the model the server should answer with; empty for its own.")
    remote_timeout_s: float = _doc(30.0, "With backend openai: seconds to wait for the answer to start.")
    ca_bundle: str = _doc("", "With backend openai over https: a private CA's certificate file to verify it with.")
    model: str = _doc("", "Text model .gguf; empty picks the pair found in models_dir.")
    mmproj: str = _doc("", "Vision projector (mmproj) .gguf matching the model.")
    tier: str = _doc("auto", "Of the pulled models, which to use: auto (for this machine), fast, balanced or best.")
    quant: str = _doc("", "Quantisation for the tier's model: Q4_0, Q4_K_M, Q8_0 or F16; empty lets the tier choose.")
    n_gpu_layers: int = _doc(-1, "Text-model layers on the GPU; -1 for all. Used only when llama.cpp has a GPU.")
    n_ctx: int = _doc(4096, "Context length in tokens; history is trimmed to fit with room for the answer.")
    n_threads: int = _doc(0, "CPU threads; 0 uses one for each core this process may run on.")
    n_batch: int = _doc(512, "Prompt tokens evaluated per batch.")
    n_ubatch: int = _doc(512, "Prompt tokens computed at once within a batch; at most n_batch.")
    use_mmap: bool = _doc(False, "Map the model file instead of reading it; on CPUs that repack weights, both count.")
    kv_cache: str = _doc("f16", "KV cache type: f16, or q8_0 (half the memory; needs flash_attn; slower on CPUs).")
    flash_attn: bool = _doc(False, "Flash attention in the text model: a little less memory (benchmarks/README.md).")
    vision_flash_attn: bool = _doc(True, "Flash attention in the vision encoder: less memory for big pictures.")
    seed: int = _doc(0, "Sampling seed, for repeatable answers.")
    temperature: float = _doc(-1.0, "Overrides every preset's temperature when 0 or more; -1 keeps the presets'.")
    max_tokens: int = _doc(0, "Caps every answer's length in tokens when above 0; 0 keeps the presets' caps.")
    max_turns: int = _doc(8, "Most earlier turns kept in the conversation.")
    image_tokens: int = _doc(64, "Picture budget, in image tokens, for a first look and short questions.")
    image_tokens_detail: int = _doc(256, "Picture budget for 'more detail' and questions asking for a description.")
    image_tokens_read: int = _doc(768, "Picture budget where the model must read: text questions OCR cannot answer.")
    prepare: bool = _doc(True, "Encode the picture taken at the press while the question is still being spoken.")
    warm_start: bool = _doc(True, "At load, evaluate the system prompt and encode one picture once.")


@dataclass(frozen=True)
class TtsConfig:
    voice: str = _doc("", "Piper voice .onnx; empty for voices/en_US-joe-medium.onnx or the bundled one.")
    voice_zh: str = _doc(
        "",
        "Chinese Piper voice .onnx; empty for voices/zh_CN-huayan-medium.onnx ('assistant voices pull'), "
        "else espeak-ng's Mandarin fed with pinyin.",
    )
    speech_rate: float = _doc(1.0, "Speaking speed: 1.0 is the voice's own, 1.5 is half again as fast.")
    noise_scale: float = _doc(-1.0, "Piper noise scale; -1 keeps the voice's own, 0 makes speech repeatable.")
    noise_w_scale: float = _doc(-1.0, "Piper phoneme-width noise; -1 keeps the voice's own.")
    volume: float = _doc(1.0, "Loudness of speech, 0 to 1.")


@dataclass(frozen=True)
class LogConfig:
    turns: str = _doc("", "Write one JSON line per turn to this file; empty stores nothing.")
    verbose: bool = _doc(False, "Show debug logs, llama.cpp's included, on stderr.")


@dataclass(frozen=True)
class ServerConfig:
    host: str = _doc("127.0.0.1", "Address 'assistant serve' listens on; any other than loopback needs a token.")
    port: int = _doc(7860, "Port of the HTTP service and its page.")
    token: str = _doc("", "Secret every request must carry; $ASSISTANT_TOKEN overrides it.")
    allowed_dirs: tuple[str, ...] = _doc((), "Folders whose pictures POST /infer may open by image_path.")
    max_queue: int = _doc(4, "Requests that may wait for the model; past that the service answers 503.")
    request_timeout_s: float = _doc(120.0, "A request still unanswered after this many seconds is stopped.")
    max_body_mb: float = _doc(16.0, "Largest request body, in megabytes.")
    max_image_pixels: int = _doc(40_000_000, "Largest picture, in pixels (width times height).")
    max_audio_s: float = _doc(60.0, "Longest spoken question, in seconds.")
    session_idle_s: float = _doc(1800.0, "A conversation unused for this many seconds is forgotten.")
    requests_per_minute: int = _doc(300, "Most requests one client address may make in a minute; 0 for no limit.")
    certfile: str = _doc("", "TLS certificate (PEM): serve https, which browsers need for the microphone elsewhere.")
    keyfile: str = _doc("", "The TLS certificate's private key (PEM).")
    allowed_origins: tuple[str, ...] = _doc((), "Web origins of other pages that may call the API (CORS); none.")


@dataclass(frozen=True)
class Config:
    assistant: AssistantConfig = field(default_factory=AssistantConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    button: ButtonConfig = field(default_factory=ButtonConfig)
    stt: SttConfig = field(default_factory=SttConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    vlm: VlmConfig = field(default_factory=VlmConfig)
    ocr: OcrConfig = field(default_factory=OcrConfig)
    tts: TtsConfig = field(default_factory=TtsConfig)
    log: LogConfig = field(default_factory=LogConfig)
    server: ServerConfig = field(default_factory=ServerConfig)

    def with_overrides(self, overrides: dict[str, Any]) -> Config:
        """Return a copy with dotted keys ("vlm.model") replaced; None values are ignored."""
        sections: dict[str, dict[str, Any]] = {}
        for key, value in overrides.items():
            if value is None:
                continue
            section, _, name = key.partition(".")
            sections.setdefault(section, {})[name] = value
        return _build(self, sections, "flags")


_KINDS = {
    int: "a whole number",
    float: "a number",
    str: "text in quotes",
    bool: "true or false",
    tuple: "a list of texts in quotes",
}
_PATH_FIELDS = {
    ("server", "certfile"),
    ("server", "keyfile"),
    ("paths", "models_dir"),
    ("paths", "voices_dir"),
    ("stt", "whisper"),
    ("vlm", "model"),
    ("vlm", "mmproj"),
    ("vlm", "ca_bundle"),
    ("tts", "voice"),
    ("tts", "voice_zh"),
    ("log", "turns"),
}


_PATH_LIST_FIELDS = {("server", "allowed_dirs")}


def _path(value: str, relative_to: Path | None) -> str:
    path = Path(value).expanduser()
    if relative_to is not None and not path.is_absolute():
        path = relative_to / path
    return str(path)


def _build(base: Config, sections: dict[str, Any], origin: str, relative_to: Path | None = None) -> Config:
    replaced: dict[str, Any] = {}
    for section_name, values in sections.items():
        if section_name not in {f.name for f in dataclasses.fields(Config)} or not isinstance(values, dict):
            raise BadInputError(f"The {origin} has an unknown section '{section_name}'.")
        section: Any = getattr(base, section_name)
        known = {f.name: f for f in dataclasses.fields(section)}
        changes: dict[str, Any] = {}
        for name, value in values.items():
            if name not in known:
                raise BadInputError(f"The {origin} has an unknown setting '{section_name}.{name}'.")
            expected = type(known[name].default)
            if expected is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if expected is str and isinstance(value, int | float) and not isinstance(value, bool):
                value = str(value)
            if expected is tuple and isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
                value = tuple(value)
            if not isinstance(value, expected) or (expected is not bool and isinstance(value, bool)):
                kind = _KINDS[expected]
                raise BadInputError(f"The {origin} setting '{section_name}.{name}' should be {kind}.")
            if (section_name, name) == ("assistant", "language") and value not in LANGUAGES:
                raise BadInputError(
                    f"The {origin} setting 'assistant.language' should be one of {', '.join(LANGUAGES)}."
                )
            if (section_name, name) in _PATH_FIELDS and value:
                value = _path(str(value), relative_to)
            if (section_name, name) in _PATH_LIST_FIELDS:
                value = tuple(_path(item, relative_to) for item in value)
            changes[name] = value
        replaced[section_name] = dataclasses.replace(section, **changes)
    return dataclasses.replace(base, **replaced)


def config_path(explicit: Path | None = None) -> Path:
    """The config file in use: the one given, else $ASSISTANT_CONFIG, else the default location."""
    return explicit if explicit is not None else Path(os.environ.get("ASSISTANT_CONFIG", DEFAULT_CONFIG_PATH))


def load_config(path: Path | None = None) -> Config:
    """Read the TOML file at `path`, or the default location if it exists, else use the defaults."""
    explicit = path is not None
    path = config_path(path)
    if not path.exists():
        if explicit:
            raise BadInputError(f"The config file {path} does not exist.")
        return Config()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise BadInputError(f"The config file {path} cannot be read: {e}.") from e
    return _build(Config(), data, f"config file {path}", relative_to=path.parent)


def describe_settings() -> list[str]:
    """One line per setting: `section.name = default  doc`."""
    lines = []
    defaults = Config()
    for section in dataclasses.fields(Config):
        for f in dataclasses.fields(getattr(defaults, section.name)):
            default = f.default
            shown = f'"{default}"' if isinstance(default, str) else str(default).lower()
            if isinstance(default, tuple):
                shown = "[" + ", ".join(f'"{item}"' for item in default) + "]"
            if (section.name, f.name) in {("paths", "models_dir"), ("paths", "voices_dir")}:
                shown = f'"<project>/{f.name.removesuffix("_dir")}"'
            lines.append(f"{section.name}.{f.name} = {shown}  # {f.metadata['doc']}")
    return lines


def save_setting(path: Path, section: str, name: str, value: float) -> None:
    """Set one number in the TOML file, keeping the rest of the file (and its comments) as it is."""
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    setting = f"{name} = {value}"
    header = f"[{section}]"
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == header)
    except StopIteration:
        lines += ["", header, setting] if lines else [header, setting]
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("[")), len(lines))
        found = [i for i in range(start + 1, end) if lines[i].split("=")[0].strip() == name]
        if found:
            lines[found[0]] = setting
        else:
            lines.insert(start + 1, setting)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    except OSError as e:
        raise BadInputError(f"I can't save the settings to {path}: {e.strerror}.") from e
