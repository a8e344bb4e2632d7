"""The HTTP service under many sessions at once, on loopback, with its queue limit reached on purpose.

    .venv/bin/python benchmarks/load.py [--sessions 50] [--turns 10] [--max-queue 4] [--deadline-s 900]

The real service (FastAPI on uvicorn, one worker, the engine on the tiny random-weight pair: the timings are the
service's own, not a real model's) takes every session's questions at once: the first about a picture of its own,
the rest follow-ups, each session at a speech rate of its own. Past the queue's limit the service answers 503 with
Retry-After, and the client waits that long and asks again. It prints the status counts, the latency percentiles
of the answered requests (waits included), and whether every session's conversation and settings are its own.
Met: no 500, no other error; 503 only with Retry-After; every session its own.
"""

from __future__ import annotations

import llama_cpp  # noqa: F401  # before numpy: see assistant/think/native.py

# isort: split
import argparse
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant.cli.factory import make_engine
from assistant.config import Config
from assistant.serve.app import create_app
from assistant.serve.service import Service
from tools.tiny_vlm import write_tiny_vlm

FOLLOW_UPS = ("Is it the blue one?", "Where is it?", "How far away is it?")


@dataclass
class Load:
    statuses: Counter[int] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    retry_after_missing: int = 0
    sessions: list[tuple[str, list[str], float]] = field(default_factory=list)
    """Each session's id, the questions answered, and the speech rate it asked for."""
    lock: threading.Lock = field(default_factory=threading.Lock)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(url: str, headers: dict[str, str] | None = None, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, headers=headers or {}).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up within {seconds:g} s")


@contextmanager
def serving(config: Config) -> Iterator[tuple[str, Service]]:
    """The service on config's models, on a free loopback port; its base URL and the Service."""
    import uvicorn

    engine = make_engine(config)
    service = Service(engine, config.server)
    service.start()
    server = uvicorn.Server(uvicorn.Config(create_app(service), host="127.0.0.1", port=free_port(), log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.config.port}"
    try:
        wait_for(f"{base}/api/health")
        yield base, service
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        service.stop()
        engine.close()


def picture(index: int) -> bytes:
    image = np.full((480, 640, 3), (40 + 9 * index % 200, 120, 160), np.uint8)
    cv2.putText(image, f"ROOM {index}", (150, 260), cv2.FONT_HERSHEY_SIMPLEX, 3, (255, 255, 255), 6)
    return bytes(cv2.imencode(".jpg", image)[1])


def one_session(base: str, index: int, turns: int, load: Load, deadline: float) -> None:
    """One user's conversation at a speech rate of its own, waiting out 503s as Retry-After says."""
    rate = round(0.6 + 0.02 * index, 2)
    session_id, asked = "", []
    with httpx.Client(base_url=base, timeout=300) as client:
        for turn in range(turns):
            question = f"Session {index}: " + ("what is in front of me?" if turn == 0 else FOLLOW_UPS[(turn - 1) % 3])
            data = {"text": question, "speech_rate": str(rate), **({"session_id": session_id} if session_id else {})}
            files = {"image": ("room.jpg", picture(index), "image/jpeg")} if turn == 0 else None
            started = time.perf_counter()
            while time.monotonic() < deadline:
                response = client.post("/api/ask", data=data, files=files)
                with load.lock:
                    load.statuses[response.status_code] += 1
                if response.status_code != 503:
                    break
                if "retry-after" not in response.headers:
                    load.retry_after_missing += 1
                time.sleep(float(response.headers.get("retry-after", "1")))
            else:
                break
            if response.status_code == 200:
                with load.lock:
                    load.latencies_ms.append((time.perf_counter() - started) * 1000)
                session_id = response.json()["session_id"]
                asked.append(question)
    with load.lock:
        load.sessions.append((session_id, asked, rate))


def run_sessions(base: str, sessions: int, turns: int, deadline_s: float) -> Load:
    load = Load()
    deadline = time.monotonic() + deadline_s
    with ThreadPoolExecutor(sessions) as pool:
        for future in [pool.submit(one_session, base, i, turns, load, deadline) for i in range(sessions)]:
            future.result()
    return load


def each_its_own(load: Load, service: Service, turns: int) -> bool:
    """Every session answered every turn, holds its own questions in order, and kept its own speech rate."""
    for session_id, asked, rate in load.sessions:
        if len(asked) != turns or session_id not in service.sessions:
            return False
        session = service.sessions[session_id].session
        if [e.question for e in session.conversation.exchanges] != asked[-session.conversation.max_turns :]:
            return False
        if session.settings.speech_rate != rate:
            return False
    return True


def percentiles(values: list[float]) -> str:
    if not values:
        return "none answered"
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    return f"p50 {at(0.5):.0f} ms, p95 {at(0.95):.0f} ms, p99 {at(0.99):.0f} ms, max {ordered[-1]:.0f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--max-queue", type=int, default=4, help="server.max_queue: small, so that it is reached")
    parser.add_argument("--deadline-s", type=float, default=900, help="give up asking after this long")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        pair = write_tiny_vlm(Path(tmp), "qwen3-vl")
        config = Config().with_overrides(
            {
                "vlm.model": str(pair.model),
                "vlm.mmproj": str(pair.mmproj),
                "vlm.temperature": 0.0,
                "vlm.max_tokens": 16,
                "server.max_queue": args.max_queue,
                "server.requests_per_minute": 0,  # one address plays every user here
                "server.session_idle_s": 3600.0,
            }
        )
        with serving(config) as (base, service):
            started = time.perf_counter()
            load = run_sessions(base, args.sessions, args.turns, args.deadline_s)
            elapsed = time.perf_counter() - started
            own = each_its_own(load, service, args.turns)
    answered = load.statuses[200]
    print(f"{args.sessions} sessions x {args.turns} turns, queue limit {args.max_queue}, in {elapsed:.0f} s")
    print(f"statuses: {dict(sorted(load.statuses.items()))}; 503 without Retry-After: {load.retry_after_missing}")
    print(f"answered: {answered} of {args.sessions * args.turns}")
    print(f"latency per answered question, waits included: {percentiles(load.latencies_ms)}")
    print(f"every session's conversation and speech rate its own: {own}")
    others = {code: n for code, n in load.statuses.items() if code not in (200, 503)}
    met = not others and load.retry_after_missing == 0 and own and load.statuses[503] > 0
    verdict = "met" if met else "NOT MET"
    print(f"no 500 or other error, 503 only with Retry-After and reached, every session its own: {verdict}")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
