"""Components built from Config, shared by the terminal loop, `ask` and (later) the HTTP service."""

from __future__ import annotations

import logging
from pathlib import Path

from assistant.assistant import AnswerOptions, Assistant, Notify
from assistant.commands import HOTWORDS
from assistant.config import Config
from assistant.earcons import Earcons
from assistant.errors import ModelError
from assistant.interfaces import AudioSink
from assistant.memory import Conversation
from assistant.models import vlm_pair, voice_path, whisper_path
from assistant.ocr import TextReader
from assistant.perception import QualityLimits
from assistant.stt import SttOptions, WhisperTranscriber
from assistant.tts import PiperSynthesizer, SpeechOptions
from assistant.turnlog import TurnLog
from assistant.vlm import LocalVisionChat

_LOGGER = logging.getLogger(__name__)


def make_transcriber(config: Config) -> WhisperTranscriber:
    stt = config.stt
    hotwords = HOTWORDS if stt.command_hints else ""
    options = SttOptions(stt.compute_type, stt.beam_size, stt.language, stt.vad, stt.threads, hotwords)
    return WhisperTranscriber(whisper_path(config), options)


def make_synthesizer(config: Config) -> PiperSynthesizer:
    tts = config.tts
    return PiperSynthesizer(
        voice_path(config), SpeechOptions(tts.speech_rate, tts.noise_scale, tts.noise_w_scale, tts.volume)
    )


def make_vision_chat(config: Config) -> LocalVisionChat | None:
    """The configured or installed VLM pair, loaded; None when there is none."""
    pair = vlm_pair(config)
    if pair is None:
        return None
    vlm = config.vlm
    return LocalVisionChat(
        pair.model,
        pair.mmproj,
        n_ctx=vlm.n_ctx,
        n_threads=vlm.n_threads,
        n_batch=vlm.n_batch,
        n_ubatch=vlm.n_ubatch,
        use_mmap=vlm.use_mmap,
        seed=vlm.seed,
        verbose=config.log.verbose,
    )


def make_assistant(config: Config, sink: AudioSink, notify: Notify, settings_path: Path | None = None) -> Assistant:
    """Load every model; a missing required one raises a ModelError naming it and its fix."""
    synthesizer = make_synthesizer(config)
    transcriber = make_transcriber(config)
    vision, problem = None, None
    try:
        vision = make_vision_chat(config)
    except ModelError as e:
        problem = ModelError(f"I can't answer about the picture: {e.message}", e.fix)
    if vision is None:
        _LOGGER.info("no vision model: answering without one")
    return Assistant(
        transcriber,
        synthesizer,
        sink,
        vlm=vision,
        conversation=Conversation(max_turns=config.vlm.max_turns),
        turn_log=TurnLog(Path(config.log.turns)) if config.log.turns else None,
        options=AnswerOptions(
            n_ctx=config.vlm.n_ctx,
            max_short_side=config.camera.max_short_side,
            temperature=config.vlm.temperature,
            max_tokens=config.vlm.max_tokens,
            quality=QualityLimits(dark=config.camera.dark, blur=config.camera.blur),
        ),
        notify=notify,
        vlm_problem=problem,
        settings_path=settings_path,
        earcons=Earcons(config.audio.earcon_volume, config.audio.earcons),
        reader=TextReader(config.ocr.min_score) if config.ocr.enabled else None,
    )
