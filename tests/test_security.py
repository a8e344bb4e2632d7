"""The service when it listens on a network: security headers and the page's own Content-Security-Policy, CORS
closed by default, a per-client request limit, the token compared in constant time, and TLS."""

import base64
import hashlib
import hmac
import re
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from helpers import free_port, running_service

from assistant.cli.main import main
from assistant.config import Config
from assistant.serve.app import create_app
from assistant.serve.service import Service


@pytest.fixture(scope="module")
def service(stack_config: Config) -> Iterator[Service]:
    with running_service(stack_config.with_overrides({"vlm.warm_start": False})) as service:
        yield service


def test_every_response_carries_the_security_headers_and_the_page_its_own_policy(service: Service) -> None:
    client = TestClient(create_app(service))
    page = client.get("/")
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    # the inline script and style are allowed by their hashes, and nothing else inline is
    for kind, body in re.findall(r"<(script|style)>(.*?)</\1>", page.text, re.DOTALL):
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy.split(f"{kind}-src")[1].split(";")[0]
    assert "unsafe-inline" not in policy
    for response in (page, client.get("/api/health"), client.get("/nowhere")):
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "strict-transport-security" not in response.headers, "only over https"
    assert client.get("/api/health").headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"


def test_cors_is_closed_unless_an_origin_is_allowed(service: Service, stack_config: Config) -> None:
    client = TestClient(create_app(service))
    elsewhere = {"Origin": "https://elsewhere.example"}
    assert "access-control-allow-origin" not in client.get("/api/health", headers=elsewhere).headers
    preflight = client.options("/api/ask", headers={**elsewhere, "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in preflight.headers
    open_to_one = Service(service.engine, stack_config.server.__class__(allowed_origins=("https://phone.example",)))
    allowed = TestClient(create_app(open_to_one))
    response = allowed.get("/api/health", headers={"Origin": "https://phone.example"})
    assert response.headers["access-control-allow-origin"] == "https://phone.example"
    assert "access-control-allow-origin" not in allowed.get("/api/health", headers=elsewhere).headers


def test_each_client_is_limited_per_minute_and_told_when_to_come_back(service: Service, stack_config: Config) -> None:
    now = [1000.0]
    limited = Service(service.engine, stack_config.server.__class__(requests_per_minute=3), clock=lambda: now[0])
    app = create_app(limited)
    one, other = TestClient(app, client=("10.0.0.1", 5000)), TestClient(app, client=("10.0.0.2", 5000))
    assert [one.get("/api/health").status_code for _ in range(3)] == [200, 200, 200]
    refused = one.get("/api/health")
    assert refused.status_code == 429
    assert refused.json() == {
        "error": "Too many requests from this address: at most 3 a minute.",
        "code": "rate_limited",
    }
    assert refused.headers["retry-after"] == "60"
    assert other.get("/api/health").status_code == 200, "another address has its own count"
    now[0] += 61
    assert one.get("/api/health").status_code == 200


def test_the_token_is_compared_in_constant_time(service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    constant_time = hmac.compare_digest

    def recording(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return constant_time(a, b)

    monkeypatch.setattr("assistant.serve.app.hmac.compare_digest", recording)
    client = TestClient(create_app(service, token="s3cret"))
    assert client.get("/api/health?token=wrong").status_code == 401
    assert client.get("/api/health", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert (b"wrong", b"s3cret") in compared and (b"s3cret", b"s3cret") in compared


def _certificate(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_https_needs_both_files_and_usable_ones(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cert, _ = _certificate(tmp_path)
    assert main(["serve", "--certfile", str(cert), "--port", str(free_port())]) == 1
    assert "https needs both a certificate and its key" in capsys.readouterr().out
    assert main(["serve", "--certfile", str(cert), "--keyfile", str(cert), "--port", str(free_port())]) == 1
    assert "cannot be used" in capsys.readouterr().out


@pytest.mark.slow
def test_serve_speaks_https_with_the_certificate_given(tmp_path: Path, stack_config: Config) -> None:
    cert, key = _certificate(tmp_path)
    port = free_port()
    vlm = stack_config.vlm
    command = [sys.executable, "-m", "assistant.cli.main", "serve", "--port", str(port)]
    command += ["--certfile", str(cert), "--keyfile", str(key), "--model", vlm.model, "--mmproj", vlm.mmproj]
    command += ["--whisper", stack_config.stt.whisper, "--voice", stack_config.tts.voice]
    with (tmp_path / "serve.log").open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    trusted = ssl.create_default_context(cafile=str(cert))
    try:
        deadline, response = time.monotonic() + 60, None
        while time.monotonic() < deadline and response is None:
            try:
                response = httpx.get(f"https://127.0.0.1:{port}/api/health", verify=trusted)
            except httpx.TransportError:
                time.sleep(0.3)
        assert response is not None, (tmp_path / "serve.log").read_text(errors="replace")
        assert response.status_code == 200
        assert response.headers["strict-transport-security"] == "max-age=31536000"
        assert f"Serving on https://127.0.0.1:{port}/" in (tmp_path / "serve.log").read_text()
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/api/health")
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_a_first_question_refused_for_a_full_queue_leaves_no_session_behind(stack_config: Config) -> None:
    from assistant.cli.factory import make_engine
    from assistant.errors import BusyError
    from assistant.serve.service import Question

    engine = make_engine(stack_config.with_overrides({"vlm.warm_start": False, "server.max_queue": 1}))
    full = Service(engine, stack_config.server.__class__(max_queue=1))  # its worker not started: nothing leaves
    waiting = full.session(None)
    full.ask(waiting, Question(text="Is it the blue one?"))
    newcomer = full.session(None)
    with pytest.raises(BusyError):
        full.ask(newcomer, Question(text="What is in front of me?"))
    assert newcomer.id not in full.sessions and waiting.id in full.sessions
    engine.close()
