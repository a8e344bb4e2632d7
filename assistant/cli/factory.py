"""The composition root: the engine built from Config, for the terminal loop, `ask` and the HTTP service."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np

from assistant.config import Config
from assistant.core.clock import ms_since
from assistant.core.commands import HOTWORDS
from assistant.core.interfaces import AudioSink, Synthesizer, TextReader, Transcriber, VisionChat
from assistant.core.turn import AnswerOptions, Engine, ImageBudgets, Notify, Session, Settings
from assistant.core.turnlog import TurnLog
from assistant.core.types import Frame, QualityLimits
from assistant.errors import BadInputError, ModelError, NoVisionModelError
from assistant.hear.stt import SttOptions, WhisperTranscriber
from assistant.see.ocr import TextReader as OcrReader
from assistant.see.sight import OpenCVSight
from assistant.speak.earcons import Earcons
from assistant.speak.tts import MandarinFallback, PiperSynthesizer, SpeechOptions, VoicesByLanguage
from assistant.think.models import chinese_voice_path, vlm_pair, voice_path, whisper_path
from assistant.think.remote import RemoteVisionChat
from assistant.think.vlm import LocalVisionChat

_LOGGER = logging.getLogger(__name__)

API_KEY_VARIABLE = "ASSISTANT_VLM_API_KEY"
"""The vision server's key comes from the environment only, never from a file."""


def make_transcriber(config: Config) -> WhisperTranscriber:
    stt = config.stt
    hotwords = HOTWORDS if stt.command_hints else ""
    options = SttOptions(
        stt.compute_type,
        stt.beam_size,
        config.assistant.language,
        stt.vad,
        stt.threads,
        hotwords,
        device=stt.device,
        padding_s=stt.padding_s,
    )
    return WhisperTranscriber(whisper_path(config), options)


def make_synthesizer(config: Config) -> VoicesByLanguage:
    """The English voice, and the Chinese one: Piper's when there is one, else espeak-ng's Mandarin."""
    tts = config.tts
    options = SpeechOptions(tts.noise_scale, tts.noise_w_scale, tts.volume)
    english = PiperSynthesizer(voice_path(config), options)
    voices: dict[str, Synthesizer] = {"en": english}
    chinese = chinese_voice_path(config)
    try:
        voices["zh"] = PiperSynthesizer(chinese, options) if chinese else MandarinFallback(english.sample_rate)
    except ModelError as e:
        _LOGGER.warning("Chinese is spoken by the English voice: %s", e.spoken())
    return VoicesByLanguage(voices)


def make_vision_chat(config: Config) -> VisionChat | None:
    """The configured or installed VLM pair, loaded, or the configured server; None when there is none."""
    vlm = config.vlm
    if vlm.backend == "openai":
        if not vlm.url:
            raise BadInputError(
                "vlm.backend is openai, but vlm.url is empty.", "Set vlm.url to the server's /v1 address."
            )
        return RemoteVisionChat(
            vlm.url, vlm.remote_model, os.environ.get(API_KEY_VARIABLE, ""), vlm.remote_timeout_s, vlm.ca_bundle
        )
    if vlm.backend != "local":
        raise BadInputError(f"vlm.backend is {vlm.backend!r}; it can be local or openai.")
    pair = vlm_pair(config)
    if pair is None:
        return None
    return LocalVisionChat(
        pair.model,
        pair.mmproj,
        n_ctx=vlm.n_ctx,
        n_threads=vlm.n_threads,
        n_batch=vlm.n_batch,
        n_ubatch=vlm.n_ubatch,
        use_mmap=vlm.use_mmap,
        n_gpu_layers=vlm.n_gpu_layers,
        kv_cache=vlm.kv_cache,
        flash_attn=vlm.flash_attn,
        vision_flash_attn=vlm.vision_flash_attn,
        seed=vlm.seed,
        verbose=config.log.verbose,
    )


def make_remote_chat(config: Config) -> RemoteVisionChat:
    vlm = config.vlm
    if not vlm.url:
        raise BadInputError("vlm.backend is openai, but vlm.url is empty.", "Set vlm.url to the server's address.")
    api_key = os.environ.get(API_KEY_VARIABLE, "")
    return RemoteVisionChat(vlm.url, vlm.remote_model, api_key, vlm.remote_timeout_s, vlm.ca_bundle)


def assemble_engine(
    transcriber: Transcriber,
    synthesizer: Synthesizer,
    vlm: VisionChat | None = None,
    reader: TextReader | None = None,
    options: AnswerOptions | None = None,
    turn_log: TurnLog | None = None,
    cues: Earcons | None = None,
) -> Engine:
    """An engine over parts already made, with the default picture measures and sounds (for tests and benchmarks)."""
    return Engine(transcriber, synthesizer, OpenCVSight(), cues or Earcons(), vlm, None, reader, turn_log, options)


def make_engine(config: Config) -> Engine:
    """Load every model; a missing required one raises a ModelError naming it and its fix."""
    synthesizer = make_synthesizer(config)
    transcriber = make_transcriber(config)
    vision, problem = None, None
    try:
        vision = make_vision_chat(config)
    except ModelError as e:
        problem = NoVisionModelError(f"I can't answer about the picture: {e.message}", e.fix)
    if vision is None:
        _LOGGER.info("no vision model: answering without one")
    engine = Engine(
        transcriber,
        synthesizer,
        OpenCVSight(QualityLimits(dark=config.camera.dark, blur=config.camera.blur), config.camera.max_short_side),
        Earcons(config.audio.earcon_volume, config.audio.earcons),
        vlm=vision,
        vlm_problem=problem,
        reader=OcrReader(config.ocr.min_score) if config.ocr.enabled else None,
        turn_log=TurnLog(Path(config.log.turns)) if config.log.turns else None,
        options=AnswerOptions(
            n_ctx=config.vlm.n_ctx,
            temperature=config.vlm.temperature,
            max_tokens=config.vlm.max_tokens,
            budgets=ImageBudgets(config.vlm.image_tokens, config.vlm.image_tokens_detail, config.vlm.image_tokens_read),
            say_first=config.ocr.say_first,
            language=config.assistant.first_language,
        ),
        settings=Settings(speech_rate=config.tts.speech_rate),
        max_turns=config.vlm.max_turns,
    )
    if config.vlm.warm_start:
        warm_up(engine, transcriber, synthesizer)
    return engine


def warm_up(engine: Engine, transcriber: WhisperTranscriber, synthesizer: Synthesizer) -> None:
    """Run each model once, the vision model on the system prompt and one picture, so that the first question
    is as quick as later ones."""
    started = time.monotonic()
    transcriber.warm_up()
    list(synthesizer.synthesize("Ready."))
    cost = engine.warm_up(Frame(warm_up_picture(), source="warm-up"))
    if cost is not None:
        _LOGGER.info(
            "warm start in %.0f ms: %d image tokens encoded in %.0f ms",
            ms_since(started),
            cost.image_tokens,
            cost.image_encode_ms,
        )


def warm_up_picture() -> np.ndarray:
    """A camera-sized picture with detail at every scale, as a real one has."""
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)


def make_session(config: Config, sink: AudioSink, notify: Notify, settings_path: Path | None = None) -> Session:
    """The terminal's one session, with the state sounds on, over a newly loaded engine."""
    return make_engine(config).session(sink, notify, sounds=True, settings_path=settings_path)
