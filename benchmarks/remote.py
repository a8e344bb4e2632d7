"""The assistant's HTTP service under concurrent sessions, its answers from an OpenAI-compatible server on loopback.

    .venv/bin/python benchmarks/remote.py [--sessions 20] [--turns 3] [--model GGUF --mmproj GGUF]

llama-cpp-python's own server (`python -m llama_cpp.server`, its mtmd chat format) serves the vision pair, by
default the tiny random-weight test pair (its answers are gibberish; the timings are the plumbing's), and the
assistant's service (FastAPI on uvicorn, one worker, the real engine with vlm.backend = "openai") runs on
loopback too. Each session asks a question about its own picture, then follow-ups without one, all sessions at
once, each at a speech rate of its own (load.py's sessions); a 503 is retried after its Retry-After. It prints the
status counts (a 500 fails the run), the latency percentiles, and whether every session's conversation and
settings are its own. Then one turn is
timed through the server and the same turn through the same pair loaded here, to show what the hop costs.
"""

from __future__ import annotations

import llama_cpp  # noqa: F401  # before numpy: see assistant/think/native.py

# isort: split
import argparse
import dataclasses
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from load import each_its_own, free_port, percentiles, picture, run_sessions, serving, wait_for  # beside this script

from assistant.cli.factory import API_KEY_VARIABLE
from assistant.config import Config
from assistant.core.presets import VQA
from assistant.think.remote import RemoteVisionChat
from assistant.think.vlm import LocalVisionChat
from tools.tiny_vlm import write_tiny_vlm

KEY = "benchmark-key"


def _one_turn(chat: Any, picture: bytes, repeats: int) -> tuple[float, float]:
    """Median first-token and whole-answer ms of the same question about the same picture."""
    import base64

    url = "data:image/jpeg;base64," + base64.b64encode(picture).decode("ascii")
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": url}},
                {"type": "text", "text": "What is in front of me?"},
            ],
        }
    ]
    preset = dataclasses.replace(VQA, temperature=0.0, max_tokens=24)
    firsts, totals = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        first = 0.0
        for _piece in chat.stream(messages, preset):
            first = first or time.perf_counter()
        firsts.append((first - started) * 1000)
        totals.append((time.perf_counter() - started) * 1000)
    return statistics.median(firsts), statistics.median(totals)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument(
        "--turns", type=int, default=3, help="questions per session: one with a picture, then follow-ups"
    )
    parser.add_argument("--model", help="text model .gguf (default: the tiny test pair)")
    parser.add_argument("--mmproj", help="its mmproj .gguf")
    parser.add_argument("--repeats", type=int, default=5, help="of the one turn timed remote and local")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.model:
            model, mmproj = Path(args.model), Path(args.mmproj)
        else:
            pair = write_tiny_vlm(folder / "tiny", "qwen3-vl")
            model, mmproj = pair.model, pair.mmproj
        port = free_port()
        url = f"http://127.0.0.1:{port}/v1"
        command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--clip_model_path", str(mmproj)]
        command += ["--chat_format", "mtmd", "--n_ctx", "4096", "--host", "127.0.0.1", "--port", str(port)]
        command += ["--api_key", KEY]
        with (folder / "server.log").open("wb") as log:
            server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for(f"{url}/models", {"Authorization": f"Bearer {KEY}"})
            os.environ[API_KEY_VARIABLE] = KEY
            config = Config().with_overrides(
                {"vlm.backend": "openai", "vlm.url": url, "vlm.temperature": 0.0, "vlm.max_tokens": 24}
            )
            config = config.with_overrides({"server.max_queue": args.sessions, "server.requests_per_minute": 0})
            return _run(args, config, model, mmproj, url)
        finally:
            server.terminate()
            server.wait(timeout=30)


def _run(args: argparse.Namespace, config: Config, model: Path, mmproj: Path, url: str) -> int:
    with serving(config) as (base, service):
        started = time.perf_counter()
        result = run_sessions(base, args.sessions, args.turns, deadline_s=600)
        elapsed = time.perf_counter() - started
        own = each_its_own(result, service, args.turns)
    print(f"{args.sessions} sessions x {args.turns} turns against {url}, in {elapsed:.1f} s")
    print(f"statuses: {dict(sorted(result.statuses.items()))}")
    print(f"latency per answered question, waits included: {percentiles(result.latencies_ms)}")
    print(f"every session's conversation and speech rate its own: {own}")

    remote = RemoteVisionChat(url, api_key=KEY)
    local = LocalVisionChat(model, mmproj, n_ctx=4096)
    for label, chat in (("remote", remote), ("local", local)):
        first, total = _one_turn(chat, picture(0), args.repeats)
        print(f"one turn, {label}: first token {first:.0f} ms, whole answer {total:.0f} ms (median of {args.repeats})")
        chat.close()
    failed = result.statuses[500] > 0 or not own
    print("no 500, every session its own: " + ("met" if not failed else "NOT MET"))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
