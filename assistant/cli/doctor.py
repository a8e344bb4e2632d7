"""`assistant doctor`: one plain line per part, saying ok or what is missing and how to fix it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from assistant.cli.factory import make_remote_chat
from assistant.config import Config
from assistant.errors import AssistantError, ModelError, ReadingOffError
from assistant.hear.audio import MicrophoneSource, import_sounddevice, list_devices
from assistant.hear.stt import SttOptions, WhisperTranscriber
from assistant.see.camera import OpenCVCamera, frame_source
from assistant.speak.sinks import SpeakerSink
from assistant.speak.tts import MandarinFallback, PiperSynthesizer
from assistant.think.catalog import choose, load_catalog
from assistant.think.machine import Machine, detect_machine
from assistant.think.models import chinese_voice_path, find_vlm, voice_path, whisper_path
from assistant.think.vlm import VISION_ARCHS, inspect_gguf

NO_VLM = (
    "none installed. Without one the assistant still reads text aloud, reads documents into JSON, and says the "
    "light level, the colour in the middle of the picture and how many faces it sees; for anything else it says "
    "that a full description needs the vision model. "
    "When online, run 'assistant models pull', or place a model .gguf and its mmproj .gguf in {models_dir}."
)
READ_CHECK = "READ 42"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    required: bool = True

    def line(self) -> str:
        if self.ok:
            return f"ok: {self.name}: {self.detail}"
        return f"{'missing' if self.required else 'not available'}: {self.name}: {self.detail}"


def _check(name: str, required: bool, probe: Callable[[], str]) -> Check:
    try:
        return Check(name, True, probe(), required)
    except AssistantError as e:
        return Check(name, False, e.spoken(), required)


_HEARS = {"en": "English", "zh": "Chinese", "": "English and Chinese, each question's"}


def _whisper(config: Config) -> str:
    path = whisper_path(config)
    options = SttOptions(config.stt.compute_type, language=config.assistant.language, device=config.stt.device)
    transcriber = WhisperTranscriber(path, options)
    where = "GPU (CUDA)" if transcriber.device == "cuda" else "CPU"
    return (
        f"{path}, hears {_HEARS[transcriber.language]} (assistant.language {config.assistant.language}), on the {where}"
    )


def _voice(config: Config) -> str:
    path = voice_path(config)
    synthesizer = PiperSynthesizer(path)
    return f"{path} ({synthesizer.sample_rate} Hz), for English"


def _chinese_voice(config: Config) -> str:
    path = chinese_voice_path(config)
    if path is not None:
        return f"{path} ({PiperSynthesizer(path).sample_rate} Hz)"
    return MandarinFallback().label


def _vlm(config: Config, machine: Machine) -> Check:
    """A broken or half-given pair is missing; no pair at all is a mode the assistant runs in."""
    if config.vlm.backend == "openai":
        return _check("vision model", True, lambda: _remote(config))
    try:
        found = find_vlm(config, machine)
        if found is None:
            choice = choose(load_catalog(Path(config.paths.models_dir)), machine, config.vlm.tier, config.vlm.quant)
            advice = f" For this machine, vlm.tier {config.vlm.tier} would choose {choice.label}: {choice.reason}."
            return Check(
                "vision model", False, NO_VLM.format(models_dir=config.paths.models_dir) + advice, required=False
            )
        model = inspect_gguf(found.pair.model, "model")
        mmproj = inspect_gguf(found.pair.mmproj, "mmproj")
    except AssistantError as e:
        return Check("vision model", False, e.spoken())
    family = VISION_ARCHS.get(model.arch, f"architecture {model.arch}, untested")
    return Check(
        "vision model",
        True,
        f"{model.name or found.pair.model.name} ({family}) with {found.pair.mmproj.name} "
        f"({mmproj.projector or 'clip'}), used because {found.why}. "
        "To change it: set vlm.tier (auto, fast, balanced, best) and vlm.quant, or vlm.model and vlm.mmproj; "
        "'assistant models' lists the catalog",
    )


def _remote(config: Config) -> str:
    chat = make_remote_chat(config)
    try:
        return f"{chat.check()}, over the network: questions and pictures are sent there"
    finally:
        chat.close()


def _compute(config: Config, machine: Machine) -> str:
    """Where the vision model runs."""
    if config.vlm.backend == "openai":
        return f"the server at {config.vlm.url}"
    if not machine.gpus:
        return f"the CPU: {machine.describe()}; llama.cpp was built without a GPU backend, or sees no GPU"
    layers = "every layer" if config.vlm.n_gpu_layers < 0 else f"{config.vlm.n_gpu_layers} layers"
    gpu = machine.gpus[0]
    return f"{gpu.name} ({gpu.description}) with {layers} of the text model; {machine.describe()}"


def _ocr(config: Config) -> str:
    """Reads a line it draws itself, so the engine and its bundled models are known to work."""
    import cv2
    import numpy as np

    from assistant.see.ocr import TextReader

    if not config.ocr.enabled:
        raise ReadingOffError("turned off.", "Set ocr.enabled to true to read text.")
    image = np.full((360, 480, 3), 255, np.uint8)
    cv2.putText(image, READ_CHECK, (20, 200), cv2.FONT_HERSHEY_SIMPLEX, 1.6, (0, 0, 0), 3)
    reading = TextReader(config.ocr.min_score).read(image)
    if reading.text.replace(" ", "") != READ_CHECK.replace(" ", ""):
        raise ModelError(f"the OCR engine read {reading.text!r} instead of {READ_CHECK!r}.", "Run ./setup.sh.")
    return f"RapidOCR with its bundled models, {reading.elapsed_ms:.0f} ms for a test line"


def _portaudio() -> str:
    sd = import_sounddevice()
    return f"{sd.get_portaudio_version()[1]}, {len(sd.query_devices())} devices"


def _camera(config: Config) -> str:
    source = frame_source(config.camera.source)
    try:
        source.open()
        frame = source.grab()
    finally:
        source.close()
    width, height = frame.size
    kind = "camera" if isinstance(source, OpenCVCamera) else "file"
    return f"{kind} {config.camera.source} gives {width}x{height} pictures"


def run_checks(config: Config) -> list[Check]:
    audio = config.audio
    machine = detect_machine()
    return [
        _check("speech recognition", True, lambda: _whisper(config)),
        _check("voice", True, lambda: _voice(config)),
        _check("Chinese voice", False, lambda: _chinese_voice(config)),
        _vlm(config, machine),
        _check("vision compute", False, lambda: _compute(config, machine)),
        _check("text reading", False, lambda: _ocr(config)),
        _check("sound library", True, _portaudio),
        _check("microphone", False, MicrophoneSource(audio.input_device).check),
        _check("speaker", False, SpeakerSink(audio.output_device).check),
        _check("camera", False, lambda: _camera(config)),
    ]


def doctor(config: Config, say: Callable[[str], None]) -> int:
    """Print every check; return 1 if a required part is missing, else 0."""
    checks = run_checks(config)
    for check in checks:
        say(check.line())
        if check.name == "sound library" and check.ok:
            for device in list_devices():
                say(f"  sound device {device}")
    missing = [c for c in checks if c.required and not c.ok]
    if any(not c.ok and c.name in {"microphone", "speaker", "camera"} for c in checks):
        say("Files can stand in for a missing device: assistant run --audio-in Q.wav --camera FILE --audio-out DIR.")
    if missing:
        say(f"{len(missing)} required part{'s are' if len(missing) > 1 else ' is'} missing.")
        return 1
    say("All required parts are ready.")
    return 0


def list_button_candidates(say: Callable[[str], None]) -> int:
    """`assistant doctor --buttons`: the input devices with keys, for button.device."""
    from assistant.hear.button import NO_ACCESS_FIX, list_buttons

    try:
        buttons = list_buttons()
    except AssistantError as e:
        say(e.spoken())
        return 1
    if not buttons:
        say(f"No input devices with keys could be read. Plug in or pair the button. {NO_ACCESS_FIX}")
        return 1
    say("Input devices that can be the talk button (set button.device to the path or the name):")
    for button in buttons:
        say(f"  {button.path}: {button.name} ({button.keys} keys)")
    say("Then set button.key to the key it sends, such as KEY_VOLUMEUP for most shutter remotes.")
    return 0
