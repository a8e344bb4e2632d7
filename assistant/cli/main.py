"""The one entry point: assistant [run | ask | serve | doctor | models | voices]."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from assistant.cli.console import say
from assistant.config import LANGUAGES, Config, config_path, describe_settings, load_config
from assistant.errors import AssistantError
from assistant.think.catalog import QUANTS
from assistant.think.hubs import SOURCES
from assistant.think.models import CHINESE_VOICE

_LOGGER = logging.getLogger(__name__)

COMMANDS = ("run", "ask", "live", "serve", "doctor", "models", "voices")


def _common_flags() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("common options")
    group.add_argument("--config", type=Path, help="TOML config file (default ~/.config/assistant/config.toml)")
    group.add_argument("--model", help="vision model .gguf (vlm.model)")
    group.add_argument("--mmproj", help="vision projector .gguf matching the model (vlm.mmproj)")
    group.add_argument("--whisper", help="faster-whisper model folder (stt.whisper)")
    group.add_argument("--voice", help="Piper voice .onnx (tts.voice)")
    group.add_argument(
        "--language",
        choices=LANGUAGES,
        help="language heard: en, zh, or auto, each question's; answers follow the question (assistant.language)",
    )
    group.add_argument("--log-turns", metavar="FILE.jsonl", help="write one JSON line per turn (log.turns)")
    group.add_argument("--verbose", action="store_true", default=None, help="debug logs on stderr (log.verbose)")
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _common_flags()
    parser = argparse.ArgumentParser(
        prog="assistant",
        description="An offline assistant that sees and speaks. With no command, runs the push-to-talk loop.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Config file settings, with their defaults:\n  " + "\n  ".join(describe_settings()),
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser(
        "run",
        parents=[common],
        help="the push-to-talk loop (the default)",
        description="Space or Enter starts listening, the next key stops; r reads text live; q quits. "
        "With --audio-in, each WAV is one press-and-release.",
    )
    run.add_argument("--audio-in", nargs="+", type=Path, metavar="WAV", help="sound files instead of the microphone")
    run.add_argument("--camera", help="camera index, or a video or image file (camera.source)")
    run.add_argument("--audio-out", type=Path, metavar="DIR", help="write each answer as a WAV here, not to speakers")

    ask = commands.add_parser("ask", parents=[common], help="one question, from a sound file or text")
    question = ask.add_mutually_exclusive_group(required=True)
    question.add_argument("--audio", type=Path, metavar="Q.wav", help="the question, spoken")
    question.add_argument("--text", help="the question, typed")
    ask.add_argument("--image", type=Path, metavar="I.jpg", help="the picture to ask about")
    ask.add_argument("--out", type=Path, metavar="A.wav", help="write the spoken answer here, not to the speaker")

    live = commands.add_parser(
        "live",
        parents=[common],
        help="read text live: new text in view is spoken as it comes",
        description="The camera is read continuously; new text is spoken as it comes into view, once while it stays, "
        "and a new sign cuts the old one short. Any key stops it, and so does a minute without new text. A video "
        "file stands in for the camera, played at its own pace, until its end.",
    )
    live.add_argument("--camera", help="camera index, or a video or image file (camera.source)")
    live.add_argument("--audio-out", type=Path, metavar="DIR", help="write each reading as a WAV here, not to speakers")

    serve = commands.add_parser(
        "serve",
        parents=[common],
        help="the HTTP service and its accessible page (port 7860)",
        description="Serves the page at / and the API (described at /docs). Any address but loopback needs a token: "
        "server.token in the config, or $ASSISTANT_TOKEN.",
    )
    serve.add_argument("--host", help="address to listen on (server.host, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (server.port, default 7860)")
    serve.add_argument("--certfile", help="TLS certificate (PEM), to serve https (server.certfile)")
    serve.add_argument("--keyfile", help="the certificate's private key (PEM) (server.keyfile)")
    serve.add_argument(
        "--allow-dir",
        action="append",
        type=Path,
        metavar="DIR",
        help="a folder whose pictures POST /infer may open by path; repeat for more (server.allowed_dirs)",
    )

    doctor = commands.add_parser("doctor", parents=[common], help="check every part and say how to fix what is missing")
    doctor.add_argument("--buttons", action="store_true", help="list the input devices that can be a talk button")

    models = commands.add_parser("models", parents=[common], help="list vision and speech models; 'pull' fetches one")
    models.add_argument("action", nargs="?", choices=["list", "pull"], default="list")
    models.add_argument("name", nargs="?", help="catalog name for 'pull' (default: the one chosen for this machine)")
    models.add_argument("--quant", choices=QUANTS, default="", help="for 'pull': the quantisation")
    models.add_argument("--source", choices=SOURCES, default=SOURCES[0], help="for 'pull': the model hub")

    voices = commands.add_parser(
        "voices", parents=[common], help="which voice speaks each language; 'pull' fetches the Piper Chinese voice"
    )
    voices.add_argument("action", nargs="?", choices=["list", "pull"], default="list")
    voices.add_argument("name", nargs="?", help=f"for 'pull': the voice (default {CHINESE_VOICE})")
    return parser


def _config(args: argparse.Namespace) -> Config:
    overrides: dict[str, Any] = {
        "vlm.model": args.model,
        "vlm.mmproj": args.mmproj,
        "stt.whisper": args.whisper,
        "tts.voice": args.voice,
        "assistant.language": args.language,
        "log.turns": args.log_turns,
        "log.verbose": args.verbose,
        "camera.source": getattr(args, "camera", None),
        "server.host": getattr(args, "host", None),
        "server.port": getattr(args, "port", None),
        "server.certfile": getattr(args, "certfile", None),
        "server.keyfile": getattr(args, "keyfile", None),
        "server.token": os.environ.get("ASSISTANT_TOKEN") or None,
    }
    if getattr(args, "allow_dir", None):
        overrides["server.allowed_dirs"] = tuple(str(folder.expanduser().resolve()) for folder in args.allow_dir)
    return load_config(args.config).with_overrides(overrides)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl+C is: what is running stops, files are closed, and the exit status says which."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated()


def main(argv: Sequence[str] | None = None) -> int:
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
    args_list = list(sys.argv[1:] if argv is None else argv)
    if not args_list or (args_list[0] not in COMMANDS and args_list[0] not in {"-h", "--help"}):
        args_list.insert(0, "run")
    args = build_parser().parse_args(args_list)
    if args.command in {"run", "ask", "serve", "doctor"}:
        from assistant.think.native import load_llama_cpp

        load_llama_cpp()
    try:
        config = _config(args)
        _setup_logging(config.log.verbose)
        if args.command == "run":
            from assistant.cli.runner import run

            return run(config, args.audio_in, args.audio_out, config_path(args.config))
        if args.command == "ask":
            from assistant.cli.runner import ask

            return ask(config, args.audio, args.text, args.image, args.out)
        if args.command == "live":
            from assistant.cli.runner import live

            return live(config, args.audio_out)
        if args.command == "serve":
            from assistant.cli.runner import serve

            return serve(config)
        if args.command == "doctor":
            from assistant.cli.doctor import doctor, list_button_candidates

            return list_button_candidates(say) if args.buttons else doctor(config, say)
        if args.command == "models":
            from assistant.cli.runner import list_models, pull_model

            if args.action == "pull":
                return pull_model(config, args.name, args.quant, args.source)
            return list_models(config)
        from assistant.cli.runner import list_voices, pull_voice

        return pull_voice(config, args.name or CHINESE_VOICE) if args.action == "pull" else list_voices(config)
    except AssistantError as e:
        say(e.spoken())
        return 1
    except KeyboardInterrupt as e:
        say("Stopped.")
        return 128 + (signal.SIGTERM if isinstance(e, Terminated) else signal.SIGINT)


def entry() -> None:
    """The `assistant` command. Stopped by a signal, it leaves at once once it has said so: the models' own threads
    may still be at work, and their teardown at interpreter exit is not safe (every log line is already written)."""
    code = main()
    if code in (128 + signal.SIGINT, 128 + signal.SIGTERM):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    entry()
