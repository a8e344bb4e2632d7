"""What each CLI command does, once its Config is known."""

from __future__ import annotations

import ipaddress
import logging
import socket
import ssl
import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import numpy as np

from assistant.cli.console import notify, say
from assistant.cli.factory import make_engine, make_session, make_synthesizer
from assistant.cli.loop import PushToTalkLoop
from assistant.config import Config
from assistant.core.interfaces import AudioSink, AudioSource, FrameSource
from assistant.core.live import Heard, LiveReader
from assistant.core.phrases import BOOKS, Phrases, for_text
from assistant.core.turn import Session
from assistant.core.turnlog import TurnLog
from assistant.core.types import AudioChunk, Frame
from assistant.errors import AssistantError, BadInputError, DeviceError, NoPictureError, ReadingOffError
from assistant.hear.audio import MicrophoneSource, WavFileSource
from assistant.hear.keys import KeySource, ScriptedKeys, TerminalKeys
from assistant.see.camera import (
    BurstSource,
    ImageFileSource,
    OpenCVCamera,
    PacedVideoSource,
    VideoFileSource,
    frame_source,
)
from assistant.see.ocr import TextReader
from assistant.speak.sinks import SpeakerSink, WavFileSink
from assistant.speak.tts import PiperSynthesizer
from assistant.think.catalog import TIERS, catalog_entry, choose, load_catalog
from assistant.think.hubs import pull
from assistant.think.hubs import pull_voice as fetch_voice
from assistant.think.machine import detect_machine
from assistant.think.models import find_vlm, installed_voices, installed_whispers


class DiscardSink:
    """For `ask` on a machine with no speaker: the answer is printed, and its sound goes nowhere."""

    def play(self, chunks: Iterable[AudioChunk], cancel: threading.Event | None = None) -> int:
        return sum(1 for _ in chunks)

    def cue(self, sound: AudioChunk) -> None:
        pass

    def close(self) -> None:
        pass


def say_where_questions_go(config: Config) -> None:
    """Nothing leaves the machine unless the user set a server: then say so, and where, at every start."""
    if config.vlm.backend == "openai":
        say(f"Questions and pictures for the vision model go to the server at {config.vlm.url}.")


def run(config: Config, audio_in: list[Path] | None, audio_out: Path | None, settings_path: Path | None = None) -> int:
    """The push-to-talk loop; files stand in for the microphone, camera or speaker where given."""
    say_where_questions_go(config)
    sink: AudioSink
    if audio_out is not None:
        sink = WavFileSink(audio_out)
    else:
        speaker = SpeakerSink(config.audio.output_device)
        speaker.check()
        sink = speaker
    audio: AudioSource
    if audio_in:
        audio = WavFileSource(audio_in, config.audio.max_record_s)
    else:
        microphone = MicrophoneSource(config.audio.input_device, config.audio.max_record_s)
        microphone.check()
        audio = microphone
    camera: FrameSource | None = None
    camera_problem: AssistantError | None = None
    source = frame_source(config.camera.source)
    try:
        source.open()
        # At 30 frames a second, a burst of 5 takes about 170 ms.
        camera = BurstSource(source, config.camera.burst) if isinstance(source, OpenCVCamera) else source
    except AssistantError as e:
        camera_problem = e
    say(BOOKS[config.assistant.first_language].loading)
    session = make_session(config, sink, notify, settings_path)
    # Light mode wants one frame per tone, without waiting for a burst.
    session.camera = source if camera is not None else None
    interactive = not audio_in and audio_out is None
    for problem in (camera_problem, session.engine.vlm_problem):
        if problem is not None:
            said = session.book.explain(problem)
            say(said)
            if interactive:
                session.speak(said)
    if camera_problem is not None:
        say("I will answer without the camera, and tell you when a question needs it.")
    keys = ScriptedKeys([" ", " "] * len(audio_in)) if audio_in else _live_keys(config)
    try:
        if interactive:
            session.speak(session.book.ready)
        prepare, moved = config.vlm.prepare, config.camera.moved
        PushToTalkLoop(session, audio, camera, keys, say, camera_problem, prepare, moved).run()
    finally:
        if camera is not None:
            camera.close()
        session.engine.close()
    return 0


def live(config: Config, audio_out: Path | None) -> int:
    """Live text on the configured camera until a key, a quiet minute, or a video's end; each reading is printed,
    spoken (or written as a WAV, at a speaker's pace) and logged with when it was seen and when it was spoken."""
    if not config.ocr.enabled:
        raise ReadingOffError("Live reading needs text reading, which is turned off.", "Set ocr.enabled = true.")
    sink: AudioSink
    if audio_out is not None:
        sink = WavFileSink(audio_out, realtime=True)
    else:
        speaker = SpeakerSink(config.audio.output_device)
        speaker.check()
        sink = speaker
    source = frame_source(config.camera.source)
    camera = PacedVideoSource(source.path) if isinstance(source, VideoFileSource) else source
    camera.open()
    log = TurnLog(Path(config.log.turns)) if config.log.turns else None
    reader = TextReader(config.ocr.min_score)
    reader.read(np.full((32, 32, 3), 255, np.uint8))  # the engine loads and warms up before the clock starts
    book = BOOKS[config.assistant.first_language]

    def heard(reading: Heard) -> None:
        say(reading.text)
        if log is not None:
            log.write_record(reading.record())

    reading = LiveReader(camera, reader, make_synthesizer(config), sink, book, config.tts.speech_rate, on_heard=heard)
    say(book.live_started)
    cancel = threading.Event()
    try:
        with _stop_on_any_key(cancel):
            why = reading.run(cancel)
    finally:
        camera.close()
    say(book.live_quiet if why == "quiet" else book.live_stopped)
    return 0


@contextmanager
def _stop_on_any_key(cancel: threading.Event) -> Iterator[None]:
    """At a terminal, any key sets `cancel`; elsewhere (a pipe, a test) only Ctrl+C stops."""
    if not sys.stdin.isatty():
        yield
        return
    keys = TerminalKeys()

    def watch() -> None:
        while not cancel.is_set():
            if keys.poll(0.1) is not None:
                cancel.set()

    with keys.session():
        watcher = threading.Thread(target=watch, name="live-keys", daemon=True)
        watcher.start()
        try:
            yield
        finally:
            cancel.set()
            watcher.join()


def _live_keys(config: Config) -> KeySource:
    """The terminal's keys, and the hardware button beside them when one is configured."""
    terminal = TerminalKeys()
    if not config.button.device:
        return terminal
    from assistant.hear.button import ButtonAndTerminalKeys, key_code, open_button

    try:
        keys = ButtonAndTerminalKeys(open_button(config.button.device), key_code(config.button.key), terminal)
    except AssistantError as e:
        say(f"{e.spoken()} The keyboard still works.")
        return terminal
    say(f"Hold the button to talk: {keys.device.name}.")
    return keys


def ask(config: Config, audio: Path | None, text: str | None, image: Path | None, out: Path | None) -> int:
    """One turn; prints the transcript and the answer. Exit status 1 if the turn ended in an error."""
    say_where_questions_go(config)
    sink: AudioSink
    if out is not None:
        sink = WavFileSink(out, single_file=True)
    else:
        speaker = SpeakerSink(config.audio.output_device)
        try:
            speaker.check()
            sink = speaker
        except AssistantError as e:
            say(f"{e.message} The answer is printed only.")
            sink = DiscardSink()
    session = make_session(config, sink, notify)
    try:
        frame: Frame | None = None
        camera_problem: AssistantError | None = session.engine.vlm_problem
        book = for_text(text) if text else session.book
        if image is None:
            camera_problem = NoPictureError(
                book.no_picture_given, "Add one with --image." if book is BOOKS["en"] else ""
            )
        else:
            try:
                frame = ImageFileSource(image).grab()
            except AssistantError as e:
                return _spoken_failure(book, session, e)
        if audio is not None:
            source = WavFileSource([audio], config.audio.max_record_s)
            try:
                source.start()
                clip = source.stop()
            except AssistantError as e:
                return _spoken_failure(book, session, e)
            turn = session.answer_recording(clip, frame, camera_problem)
        else:
            turn = session.answer_text(text or "", frame, camera_problem)
    finally:
        session.engine.close()
    return 0 if turn.error is None else 1


def _spoken_failure(book: Phrases, session: Session, error: AssistantError) -> int:
    said = book.explain(error)
    say(f"{book.sorry}{said}")
    session.speak(said)
    return 1


def serve(config: Config) -> int:
    """The HTTP service on config.server's address, until Ctrl+C."""
    import uvicorn

    from assistant.serve.app import create_app
    from assistant.serve.service import Service

    server = config.server
    if not _is_loopback(server.host) and not server.token:
        raise BadInputError(
            f"I won't serve on {server.host} without a token: anyone on the network could use the camera's answers.",
            "Set server.token in the config or ASSISTANT_TOKEN, or keep the default host 127.0.0.1.",
        )
    tls = _tls_files(server.certfile, server.keyfile)
    listening = _listen(server.host, server.port)
    logging.getLogger("python_multipart").setLevel(logging.ERROR)  # a malformed upload is answered, not logged
    say_where_questions_go(config)
    say("Loading the models.")
    engine = make_engine(config)
    service = Service(engine, server, moved=config.camera.moved)
    service.start()
    try:
        if engine.vlm_problem is not None:
            say(engine.vlm_problem.spoken())
        for folder in server.allowed_dirs:
            say(f"POST /infer may open pictures in {folder}.")
        host = "127.0.0.1" if server.host in {"0.0.0.0", "::"} else server.host
        query = f"?token={quote(server.token, safe='')}" if server.token else ""
        say(f"Serving on {'https' if tls else 'http'}://{host}:{server.port}/{query}")
        if not tls and not _is_loopback(server.host):
            say("Browsers allow the microphone and camera only over https away from this machine: see --certfile.")
        app = create_app(service, server.token)
        certfile, keyfile = (server.certfile, server.keyfile) if tls else (None, None)
        settings = uvicorn.Config(app, log_level="warning", ssl_certfile=certfile, ssl_keyfile=keyfile)
        uvicorn.Server(settings).run(sockets=[listening])
    finally:
        service.stop()
        engine.close()
    return 0


def _tls_files(certfile: str, keyfile: str) -> bool:
    """Whether to serve https; a BadInputError when only one file is given, or one cannot be read as PEM."""
    if not certfile and not keyfile:
        return False
    if not (certfile and keyfile):
        raise BadInputError("https needs both a certificate and its key.", "Give both --certfile and --keyfile.")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(certfile, keyfile)
    except (OSError, ssl.SSLError) as e:
        raise BadInputError(
            f"The certificate {certfile} and key {keyfile} cannot be used: {getattr(e, 'strerror', None) or e}.",
            "Give PEM files of a certificate and the private key that goes with it.",
        ) from e
    return True


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _listen(host: str, port: int) -> socket.socket:
    """The service's socket, bound now so that a taken port is a sentence, not a traceback."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listening = socket.socket(family, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind((host, port))
    except OSError as e:
        listening.close()
        raise DeviceError(f"I can't listen on {host} port {port}: {e.strerror}.", "Choose another with --port.") from e
    listening.listen(64)
    return listening


def list_models(config: Config) -> int:
    say("Speech recognition models:")
    for path in installed_whispers(config):
        say(f"  {path}")
    models_dir = Path(config.paths.models_dir)
    machine = detect_machine()
    found = find_vlm(config, machine)
    say("Vision model:")
    say(f"  {found.pair.model} with {found.pair.mmproj}: {found.why}." if found else "  none installed.")
    entries = load_catalog(models_dir)
    say("Vision models in the catalog, by tier ('assistant models pull NAME [--quant Q] [--source modelscope]'):")
    for entry in sorted(entries, key=lambda e: (TIERS.index(e.tier), e.size_gb(e.quant))):
        sizes = ", ".join(
            f"{quant} {entry.size_gb(quant):.1f} GB{' (default)' if quant == entry.quant else ''}"
            for quant in entry.quants
        )
        say(f"  {entry.tier}: {entry.name}: {entry.description}. With its mmproj: {sizes}.")
    choice = choose(entries, machine, config.vlm.tier, config.vlm.quant)
    say(f"This machine: {machine.describe()}.")
    say(f"For it, vlm.tier {config.vlm.tier} chooses {choice.label}: {choice.reason}.")
    return 0


def pull_model(config: Config, name: str | None, quant: str, source: str) -> int:
    """Pull the named entry, or the one vlm.tier chooses for this machine."""
    models_dir = Path(config.paths.models_dir)
    if name is None:
        choice = choose(load_catalog(models_dir), detect_machine(), config.vlm.tier, quant or config.vlm.quant)
        say(f"For this machine: {choice.label}, as {choice.reason}.")
        entry, quant = choice.entry, choice.quant
    else:
        entry = catalog_entry(models_dir, name)
    pair = pull(entry, models_dir, say, quant, source)
    say(f"Ready: {pair.model.name} with {pair.mmproj.name} in {pair.model.parent}.")
    return 0


LANGUAGE_NAMES = {"en": "English", "zh": "Chinese"}


def list_voices(config: Config) -> int:
    """Which voice speaks each language, then every Piper voice installed."""
    voices = make_synthesizer(config).voices
    say("Voices, by language:")
    for language, name in LANGUAGE_NAMES.items():
        voice = voices.get(language)
        label = getattr(voice, "label", "") if voice is not None else "none: spoken by the English voice"
        say(f"  {name}: {label}.")
    say("Piper voices installed ('assistant voices pull NAME' fetches another):")
    for path in installed_voices(config):
        say(f"  {path}")
    return 0


def pull_voice(config: Config, name: str) -> int:
    voice = fetch_voice(name, Path(config.paths.voices_dir), say)
    PiperSynthesizer(voice)  # a voice that does not load is said so now, not at the first Chinese answer
    say(f"Ready: {voice.name} in {voice.parent}.")
    return 0
