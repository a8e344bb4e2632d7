"""The assistant's HTTP service under concurrent sessions, its answers from an OpenAI-compatible server on loopback.

    .venv/bin/python benchmarks/remote.py [--sessions 20] [--turns 3] [--model GGUF --mmproj GGUF]

llama-cpp-python's own server (`python -m llama_cpp.server`, its mtmd chat format) serves the vision pair, by
default the tiny random-weight test pair (its answers are gibberish; the timings are the plumbing's), and the
assistant's service (FastAPI on uvicorn, one worker, the real engine with vlm.backend = "openai") runs on
loopback too. Each session asks a question about its own picture, then follow-ups without one, all sessions at
once; a 503 is retried after its Retry-After. It prints the status counts (a 500 fails the run), the latency
percentiles, and whether every session's conversation holds its own questions and no other's. Then one turn is
timed through the server and the same turn through the same pair loaded here, to show what the hop costs.
"""

from __future__ import annotations

import llama_cpp  # noqa: F401  # before numpy: see assistant/think/native.py

# isort: split
import argparse
import dataclasses
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant.cli.factory import API_KEY_VARIABLE, make_engine
from assistant.config import Config
from assistant.core.presets import VQA
from assistant.serve.app import create_app
from assistant.serve.service import Service
from assistant.think.remote import RemoteVisionChat
from assistant.think.vlm import LocalVisionChat
from tools.tiny_vlm import write_tiny_vlm

KEY = "benchmark-key"
FOLLOW_UPS = ("Is it the blue one?", "Where is it?", "How far away is it?")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(url: str, headers: dict[str, str], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, headers=headers).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up within {seconds:g} s")


def _picture(index: int) -> bytes:
    image = np.full((480, 640, 3), (40 + 9 * index % 200, 120, 160), np.uint8)
    cv2.putText(image, f"ROOM {index}", (150, 260), cv2.FONT_HERSHEY_SIMPLEX, 3, (255, 255, 255), 6)
    return bytes(cv2.imencode(".jpg", image)[1])


def _session(
    base: str, index: int, turns: int, statuses: Counter[int], latencies: list[float]
) -> tuple[str, list[str]]:
    """One user's conversation; returns its session id and the questions it asked."""
    asked, session_id = [], None
    with httpx.Client(base_url=base, timeout=300) as client:
        for turn in range(turns):
            question = (
                f"Session {index}: what is in front of me?"
                if turn == 0
                else f"Session {index}: {FOLLOW_UPS[(turn - 1) % 3]}"
            )
            data = {"text": question, **({"session_id": session_id} if session_id else {})}
            files = {"image": ("room.jpg", _picture(index), "image/jpeg")} if turn == 0 else None
            while True:
                started = time.perf_counter()
                response = client.post("/api/ask", data=data, files=files)
                statuses[response.status_code] += 1
                if response.status_code != 503:
                    break
                time.sleep(float(response.headers.get("Retry-After", "1")))
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status_code == 200:
                session_id = response.json()["session_id"]
                asked.append(question)
    return session_id or "", asked


def _percentiles(values: list[float]) -> str:
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    return f"p50 {at(0.5):.0f} ms, p95 {at(0.95):.0f} ms, p99 {at(0.99):.0f} ms, max {ordered[-1]:.0f} ms"


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
        port = _free_port()
        url = f"http://127.0.0.1:{port}/v1"
        command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--clip_model_path", str(mmproj)]
        command += ["--chat_format", "mtmd", "--n_ctx", "4096", "--host", "127.0.0.1", "--port", str(port)]
        command += ["--api_key", KEY]
        with (folder / "server.log").open("wb") as log:
            server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_for(f"{url}/models", {"Authorization": f"Bearer {KEY}"})
            os.environ[API_KEY_VARIABLE] = KEY
            config = Config().with_overrides(
                {"vlm.backend": "openai", "vlm.url": url, "vlm.temperature": 0.0, "vlm.max_tokens": 24}
            )
            config = config.with_overrides({"server.max_queue": args.sessions})
            return _run(args, config, model, mmproj, url)
        finally:
            server.terminate()
            server.wait(timeout=30)


def _run(args: argparse.Namespace, config: Config, model: Path, mmproj: Path, url: str) -> int:
    import uvicorn

    engine = make_engine(config)
    service = Service(engine, config.server)
    service.start()
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(service), host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    _wait_for(f"{base}/api/health", {})
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    started = time.perf_counter()
    with ThreadPoolExecutor(args.sessions) as pool:
        results = list(pool.map(lambda i: _session(base, i, args.turns, statuses, latencies), range(args.sessions)))
    elapsed = time.perf_counter() - started
    own = all(
        [e.question for e in service.sessions[session_id].session.conversation.exchanges] == asked
        for session_id, asked in results
        if session_id
    )
    complete = all(len(asked) == args.turns for _, asked in results)
    server.should_exit = True
    thread.join(timeout=10)
    service.stop()
    print(f"{args.sessions} sessions x {args.turns} turns against {url}, in {elapsed:.1f} s")
    print(f"statuses: {dict(sorted(statuses.items()))}")
    print(f"latency per request: {_percentiles(latencies)}")
    print(f"every session's conversation holds its own questions, in order, and no other's: {own and complete}")

    remote = RemoteVisionChat(url, api_key=KEY)
    local = LocalVisionChat(model, mmproj, n_ctx=4096)
    picture = _picture(0)
    for label, chat in (("remote", remote), ("local", local)):
        first, total = _one_turn(chat, picture, args.repeats)
        print(f"one turn, {label}: first token {first:.0f} ms, whole answer {total:.0f} ms (median of {args.repeats})")
        chat.close()
    failed = statuses[500] > 0 or not own or not complete
    print("no 500, every session its own: " + ("met" if not failed else "NOT MET"))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
