"""The page in a real browser: Debian's Chromium, driven by Playwright, with Chromium's fake camera and microphone
fed from files the tests write, talking to the real service on a loopback port."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import uvicorn
from conftest import QUESTION
from helpers import free_port, normalise, running_service, scene, write_wav
from playwright.sync_api import Browser, Page, sync_playwright

from assistant.config import Config
from assistant.core.phrases import BOOKS
from assistant.serve.app import create_app
from assistant.serve.service import Service

pytestmark = pytest.mark.browser

PROJECT = Path(__file__).resolve().parent.parent
AXE = Path(__file__).resolve().parent / "web" / "node_modules" / "axe-core" / "axe.min.js"
WCAG_22_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
FOCUS_ORDER = ["talk", "toggle-mode", "stop", "read-live", "question", "send", "photo", "rate", "brief"]
FOCUS_ORDER += ["new-conversation", "in-en", "in-zh"]


def write_y4m(path: Path, frames: list[np.ndarray], fps: int = 10) -> Path:
    """An uncompressed YUV 4:2:0 video, the format Chromium's fake camera reads."""
    height, width = frames[0].shape[:2]
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            out.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
    return path


@pytest.fixture(scope="module")
def service(stack_config: Config) -> Iterator[Service]:
    with running_service(stack_config) as service:
        yield service


@pytest.fixture(scope="module")
def url(service: Service) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(service), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the service did not start"
    yield f"http://127.0.0.1:{port}/"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory, synthesizer: Any) -> tuple[Path, Path]:
    """The question, spoken by Piper with silence after it, and a camera scene."""
    folder = tmp_path_factory.mktemp("browser-media")
    speech = np.concatenate([chunk.samples for chunk in synthesizer.synthesize(QUESTION)])
    rate = synthesizer.sample_rate
    audio = np.concatenate([np.zeros(rate // 5, np.float32), speech, np.zeros(rate * 3, np.float32)])
    wav = write_wav(folder / "question.wav", audio, rate)
    video = write_y4m(folder / "scene.y4m", [scene(index, 640, 480) for index in range(10)])
    return wav, video


@pytest.fixture(scope="module")
def browser(media: tuple[Path, Path]) -> Iterator[Browser]:
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is not installed: ./setup.sh installs it (apt-get install chromium)."
    wav, video = media
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    flags += ["--disable-component-update", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
    flags += [f"--use-file-for-fake-audio-capture={wav}", f"--use-file-for-fake-video-capture={video}"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=flags)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, url: str) -> Iterator[Page]:
    # Playwright's waits evaluate strings in the page, and axe-core is injected as a script: the page's own policy
    # forbids both, so these contexts bypass it; test_the_page_runs_under_its_own_policy runs the page under it.
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    page.goto(url)
    page.wait_for_function("document.getElementById('live').textContent.startsWith('Ready')", timeout=20_000)
    yield page
    context.close()


def axe_violations(page: Page) -> list[dict[str, Any]]:
    assert AXE.is_file(), "axe-core is not installed: ./setup.sh installs it (npm ci --prefix tests/web)."
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_22_AA)
    return [
        {"id": v["id"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]]} for v in result["violations"]
    ]


def test_hold_space_asks_through_whisper_and_speaks_the_answer(
    page: Page, media: tuple[Path, Path], service: Service
) -> None:
    assert page.evaluate("document.getElementById('preview').videoWidth") == 640
    page.locator("#talk").focus()
    page.keyboard.down("Space")
    page.wait_for_function("document.getElementById('live').textContent === 'Listening.'")
    time.sleep(2.6)  # the question plays into the fake microphone
    page.keyboard.up("Space")
    page.wait_for_selector("#history li", timeout=60_000)

    heard = page.locator("#history li h3").inner_text()
    assert normalise(heard.removeprefix("You: ")) == normalise(QUESTION)
    answer = page.locator("#history li p").inner_text().removeprefix("Assistant: ")
    assert answer
    page.wait_for_function("a => document.getElementById('live').textContent === a", arg=answer)
    page.wait_for_function("document.getElementById('player').dataset.played === 'yes'", timeout=20_000)
    assert page.evaluate("document.getElementById('player').played.length") > 0

    (session,) = service.sessions.values()
    (exchange,) = session.session.conversation.exchanges
    asked = exchange.question.split("\n\n")[-1]  # after what was said first: the text in view
    assert normalise(asked) == normalise(QUESTION)
    assert exchange.full is not None and exchange.full.size == (640, 480), "the browser camera's own picture"
    assert exchange.frame is not None and exchange.frame.size[0] < 640, "the model's copy, within its budget"

    assert axe_violations(page) == []  # with a turn in the history too


def test_axe_finds_no_wcag_22_aa_violations(page: Page) -> None:
    assert axe_violations(page) == []


def test_keyboard_alone_reaches_every_control_in_order(page: Page) -> None:
    page.evaluate("document.activeElement.blur()")
    order = []
    for _ in FOCUS_ORDER:
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.id")
        outline = page.evaluate("parseFloat(getComputedStyle(document.activeElement).outlineWidth)")
        assert outline >= 3, f"{focused} has no visible focus ring"
        order.append(focused)
    assert order == FOCUS_ORDER


def test_controls_are_at_least_44_px(page: Page) -> None:
    for control in page.locator("button:visible, input:visible, select:visible, a:visible").all():
        box = control.bounding_box()
        assert box is not None and box["width"] >= 44 and box["height"] >= 44, control.evaluate("e => e.outerHTML")


def test_typed_question_and_escape_stops_speech(page: Page) -> None:
    page.locator("#question").fill("What colour is the box?")
    page.keyboard.press("Enter")
    page.wait_for_selector("#history li", timeout=60_000)
    assert page.locator("#history li h3").inner_text() == "You: What colour is the box?"
    page.keyboard.press("Escape")
    page.wait_for_function("document.getElementById('live').textContent === 'Stopped.'")
    assert page.evaluate("document.getElementById('player').paused")


def test_reduced_motion_stops_the_listening_pulse(browser: Browser, url: str) -> None:
    context = browser.new_context(reduced_motion="reduce", bypass_csp=True)
    page = context.new_page()
    page.goto(url)
    page.evaluate("document.getElementById('talk').dataset.state = 'listening'")
    assert page.evaluate("getComputedStyle(document.getElementById('talk')).animationName") == "none"
    context.close()


def test_page_loads_nothing_from_elsewhere(browser: Browser, url: str) -> None:
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(url)
    page.wait_for_load_state("networkidle")
    context.close()
    assert requests and all(request.startswith(url) or request.startswith(("blob:", "data:")) for request in requests)


def test_the_page_runs_under_its_own_policy(browser: Browser, url: str) -> None:
    context = browser.new_context()
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    response = page.goto(url)
    assert response is not None and "script-src 'self' 'sha256-" in response.headers["content-security-policy"]
    deadline = time.monotonic() + 20
    ready = "document.getElementById('live').textContent.startsWith('Ready')"
    while time.monotonic() < deadline and not page.evaluate(ready):
        time.sleep(0.1)
    assert page.evaluate("document.getElementById('live').textContent").startswith("Ready")
    assert problems == [], "the script and style ran, and nothing was refused"
    context.close()


def test_read_text_live_speaks_new_text_and_escape_stops_it(page: Page) -> None:
    """The fake camera shows a sign, "EXIT" and a number, changing each frame: read once, while it stays."""
    page.click("#read-live")
    assert page.get_attribute("#read-live", "aria-pressed") == "true"
    page.wait_for_function("document.getElementById('live').textContent.startsWith('EXIT')", timeout=20_000)
    page.wait_for_function("document.getElementById('player').dataset.played === 'yes'", timeout=10_000)
    page.keyboard.press("Escape")
    page.wait_for_function("document.getElementById('live').textContent === 'Live reading stopped.'")
    assert page.get_attribute("#read-live", "aria-pressed") == "false"


@pytest.mark.parametrize("how", ["asked", "preferred"])
def test_the_page_in_chinese_when_asked_for_or_preferred(browser: Browser, url: str, how: str) -> None:
    """?lang=zh, or a browser that prefers Chinese: the labels and live messages in Chinese, still axe-clean; a
    typed Chinese command is answered, and its turn shown, in Chinese."""
    context = browser.new_context(bypass_csp=True, locale="zh-CN" if how == "preferred" else "en-US")
    page = context.new_page()
    page.goto(url + ("?lang=zh" if how == "asked" else ""))
    chinese = json.loads((PROJECT / "assistant" / "serve" / "web" / "strings.zh.json").read_text(encoding="utf-8"))
    page.wait_for_function(f"document.getElementById('live').textContent === {json.dumps(chinese['ready'])}")
    assert page.evaluate("document.documentElement.lang") == "zh"
    assert page.title() == chinese["title"]
    assert page.locator("#talk").inner_text() == chinese["hold_to_talk"]
    assert page.locator("label[for=question]").inner_text() == chinese["type_label"]
    assert axe_violations(page) == []
    page.locator("#question").fill("再说一遍")
    page.keyboard.press("Enter")
    page.wait_for_selector("#history li", timeout=60_000)
    assert page.locator("#history li h3").inner_text() == "你：再说一遍"
    assert page.locator("#history li p").inner_text() == f"助手：{BOOKS['zh'].nothing_said_yet}"
    assert axe_violations(page) == []
    context.close()
