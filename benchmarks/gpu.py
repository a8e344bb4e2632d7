"""The project's own vision path with every layer on the GPU: first-token times for new pictures and follow-ups.

Run where llama.cpp has a GPU backend, on random-weight pairs of the real sizes (tools.shape_vlm):

    python benchmarks/gpu.py --pictures DIR --pair LABEL MODEL MMPROJ [--pair ...] [--rounds 5]

The pictures are camera-sized scenes (640 x 480) already made to the image budgets by the project's own
prepare_frame, as JPEG files: write them where OpenCV is at hand with ``--write-pictures DIR``, so that the GPU
machine needs only numpy, jinja2 and llama-cpp-python. Each pair is loaded with n_gpu_layers=-1 and the
prefix-reusing handler, warmed up as the assistant warms up (the system prompt and one picture), then asked, round
after round in one conversation:
- new picture: a question about a picture not seen before, its encoding and prefill included;
- new picture, prepared: the same, the picture taken in while the question was spoken (as the loop does);
- follow-up: another question about the same picture;
- new picture, detail: a describing question at the detail budget.
Answers are short and greedy; a shape pair's output head cannot end them, so each runs its full length.
"""

from __future__ import annotations

import llama_cpp  # noqa: F401  # before numpy: see assistant/think/native.py

# isort: split
import argparse
import base64
import dataclasses
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant.core.conversation import SYSTEM_PROMPT
from assistant.core.presets import VQA
from assistant.think.vlm import LocalVisionChat

FIRST_LOOK, DETAIL = 64, 256
QUESTIONS = (
    "What is in front of me?",
    "Is the thing in the middle the blue one?",
    "Describe what you see, please.",
)
KINDS = ("new picture", "new picture, prepared", "follow-up", "new picture, detail")


def write_pictures(folder: Path, rounds: int) -> None:
    """Scenes 0 .. 3 x rounds + 1, each at both budgets, as the camera path prepares them."""
    import new_frame  # beside this script; needs OpenCV

    from assistant.see.camera import encode_jpeg, prepare_frame

    folder.mkdir(parents=True, exist_ok=True)
    camera = new_frame.SceneCamera([])
    for scene in range(3 * rounds + 1):
        frame = camera.picture((scene, 1))
        for budget in (FIRST_LOOK, DETAIL):
            prepared = prepare_frame(frame, 768, budget, 32)
            (folder / f"scene{scene}-{budget}.jpg").write_bytes(encode_jpeg(prepared.image))


def _image(folder: Path, scene: int, budget: int) -> dict[str, Any]:
    data = base64.b64encode((folder / f"scene{scene}-{budget}.jpg").read_bytes()).decode("ascii")
    return {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64," + data}}


class Conversation:
    """System prompt, earlier turns as text, and the newest picture with its question."""

    def __init__(self) -> None:
        self.history: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM_PROMPT}]

    def preview(self, question: str, picture: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """The messages asking `question`, this conversation unchanged."""
        if picture is None:
            return [*self.history, {"role": "user", "content": question}]
        # the newest picture is shown once, with its first question; earlier pictures are dropped
        earlier = [m if m["role"] != "user" else {**m, "content": _text(m)} for m in self.history]
        return [*earlier, {"role": "user", "content": [picture, {"type": "text", "text": question}]}]

    def ask(self, question: str, picture: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        self.history = self.preview(question, picture)
        return self.history

    def answered(self, text: str) -> None:
        self.history.append({"role": "assistant", "content": text})


def _text(message: dict[str, Any]) -> str:
    content = message["content"]
    return content if isinstance(content, str) else next(p["text"] for p in content if p.get("type") == "text")


def _timed_answer(vlm: LocalVisionChat, messages: list[dict[str, Any]], tokens: int) -> dict[str, float]:
    preset = dataclasses.replace(VQA, temperature=0.0, max_tokens=tokens, repeat_penalty=1.0)
    started = time.perf_counter()
    first, pieces = 0.0, []
    for piece in vlm.stream(messages, preset):
        if not pieces:
            first = time.perf_counter()
        pieces.append(piece)
    ended = time.perf_counter()
    cost = vlm.cost
    return {
        "first_token": (first - started) * 1000,
        "image_encode": cost.image_encode_ms,
        "prefill": cost.prefill_ms,
        "image_tokens": cost.image_tokens,
        "decode_tps": (len(pieces) - 1) / (ended - first) if len(pieces) > 1 else 0.0,
        "text": "".join(pieces),  # type: ignore[dict-item]
    }


def measure(
    label: str, model: Path, mmproj: Path, pictures: Path, rounds: int, tokens: int, verbose: bool = False
) -> dict[str, Any]:
    started = time.perf_counter()
    vlm = LocalVisionChat(model, mmproj, n_ctx=4096, n_gpu_layers=-1, verbose=verbose)
    load_s = time.perf_counter() - started
    warm_started = time.perf_counter()
    vlm.prefill(Conversation().preview(".", _image(pictures, 0, FIRST_LOOK)))
    warm_ms = (time.perf_counter() - warm_started) * 1000
    rows: dict[str, list[dict[str, float]]] = {kind: [] for kind in KINDS}
    conversation = Conversation()
    scene = 1
    for _ in range(rounds):
        for kind in KINDS:
            if kind == "follow-up":
                messages = conversation.ask(QUESTIONS[1])
            else:
                budget = DETAIL if kind.endswith("detail") else FIRST_LOOK
                question = QUESTIONS[2] if kind.endswith("detail") else QUESTIONS[0]
                picture = _image(pictures, scene, budget)
                scene += 1
                if kind.endswith("prepared"):
                    vlm.prefill(conversation.preview(question, picture))
                messages = conversation.ask(question, picture)
            row = _timed_answer(vlm, messages, tokens)
            conversation.answered(str(row.pop("text")))
            rows[kind].append(row)
    vlm.close()
    return {"label": label, "load_s": load_s, "warm_ms": warm_ms, "rows": rows}


def report(results: list[dict[str, Any]], tokens: int) -> None:
    print(f"\nmedians; answers of {tokens} tokens; image budgets {FIRST_LOOK} and {DETAIL} tokens")
    columns = ("first token ms", 15), ("encode ms", 10), ("prefill ms", 11), ("img tok", 8), ("decode tok/s", 13)
    print(f"{'pair':<14}{'turn':<24}" + "".join(f"{name:>{width}}" for name, width in columns))
    for result in results:
        for kind in KINDS:
            rows = result["rows"][kind]

            def median(key: str, rows: list[dict[str, float]] = rows) -> float:
                return statistics.median(row[key] for row in rows)

            print(
                f"{result['label'] if kind == KINDS[0] else '':<14}{kind:<24}{median('first_token'):>15.0f}"
                f"{median('image_encode'):>10.0f}{median('prefill'):>11.0f}{median('image_tokens'):>8.0f}"
                f"{median('decode_tps'):>13.0f}"
            )
        print(f"{'':<14}load {result['load_s']:.1f} s, warm start {result['warm_ms']:.0f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write-pictures", type=Path, metavar="DIR", help="write the budgeted pictures and stop")
    parser.add_argument("--pictures", type=Path, metavar="DIR", help="the budgeted pictures")
    parser.add_argument("--pair", nargs=3, action="append", metavar=("LABEL", "MODEL", "MMPROJ"), default=[])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--answer-tokens", type=int, default=24)
    parser.add_argument("--verbose", action="store_true", help="llama.cpp's own logs")
    args = parser.parse_args(argv)
    if args.write_pictures:
        write_pictures(args.write_pictures, args.rounds)
        return 0
    if not args.pictures or not args.pair:
        parser.error("give --pictures and at least one --pair")
    results = []
    for label, model, mmproj in args.pair:
        results.append(
            measure(label, Path(model), Path(mmproj), args.pictures, args.rounds, args.answer_tokens, args.verbose)
        )
        print(f"{label}: done in {results[-1]['load_s']:.1f} s load", flush=True)
    report(results, args.answer_tokens)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
