"""`models pull` through the real huggingface_hub client, against a hub served on loopback: the real hub
cannot be reached from here, so a small HTTP server plays it, serving the tiny test pair."""

import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from assistant.config import Config
from assistant.errors import ModelError
from assistant.think.models import CatalogEntry, pull, vlm_pair
from assistant.think.vlm import LocalVisionChat
from tools.tiny_vlm import TinyVLMPair

REPO = "test/tiny-vl"
ENTRY = CatalogEntry("tiny-vl", REPO, "the tiny test pair", ("*Q4_K_M.gguf",), ("mmproj*F16.gguf", "mmproj*.gguf"))


class Hub:
    """Files by name, and the sha256 the listing publishes for each (normally the file's own)."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.published = {name: hashlib.sha256(body).hexdigest() for name, body in files.items()}
        self.requests: list[str] = []


def _handler(hub: Hub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            hub.requests.append(f"{self.command} {self.path}")

        def _send(self, body: bytes, headers: dict[str, str], code: int = 200) -> None:
            self.send_response(code)
            for key, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path.startswith(f"/api/models/{REPO}"):
                siblings = [
                    {
                        "rfilename": name,
                        "size": len(body),
                        "lfs": {"sha256": hub.published[name], "size": len(body), "pointerSize": 134},
                    }
                    for name, body in hub.files.items()
                ]
                listing = {"id": REPO, "sha": "c" * 40, "siblings": siblings}
                return self._send(json.dumps(listing).encode(), {"Content-Type": "application/json"})
            prefix = f"/{REPO}/resolve/main/"
            if self.path.startswith(prefix) and self.path[len(prefix) :] in hub.files:
                name = self.path[len(prefix) :]
                etag = f'"{hub.published[name]}"'
                headers = {"X-Repo-Commit": "c" * 40, "ETag": etag, "X-Linked-Etag": etag}
                return self._send(hub.files[name], {**headers, "X-Linked-Size": str(len(hub.files[name]))})
            return self._send(b"{}", {"Content-Type": "application/json"}, 404)

        do_HEAD = do_GET

    return Handler


@pytest.fixture
def hub(tiny_pair: TinyVLMPair, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    import huggingface_hub.constants

    files = {
        "README.md": b"# tiny",
        "tiny-Q8_0.gguf": b"not this one",
        "tiny-Q4_K_M.gguf": tiny_pair.model.read_bytes(),
        "mmproj-tiny-F16.gguf": tiny_pair.mmproj.read_bytes(),
    }
    hub = Hub(files)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hub))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{server.server_port}"
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(
        huggingface_hub.constants, "HUGGINGFACE_CO_URL_TEMPLATE", endpoint + "/{repo_id}/resolve/{revision}/{filename}"
    )
    yield hub
    server.shutdown()
    server.server_close()


def test_pull_picks_by_pattern_shows_progress_verifies_and_the_pair_works(
    hub: Hub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pair = pull(ENTRY, tmp_path, print)
    assert (pair.model.name, pair.mmproj.name) == ("tiny-Q4_K_M.gguf", "mmproj-tiny-F16.gguf")
    assert pair.model.parent == tmp_path / "tiny-vl"
    printed = capsys.readouterr().out.splitlines()
    assert "  100 percent of 0.2 MB" in printed
    assert "tiny-Q4_K_M.gguf: 0.2 MB, verified." in printed
    assert not any("\r" in line for line in printed), "nothing redraws"
    assert not any("Q8_0" in request for request in hub.requests), "only the chosen files are fetched"
    assert vlm_pair(Config().with_overrides({"paths.models_dir": str(tmp_path)})) == pair
    LocalVisionChat(pair.model, pair.mmproj, n_ctx=512).close()


def test_a_file_that_does_not_match_its_published_checksum_is_refused(hub: Hub, tmp_path: Path) -> None:
    hub.published["mmproj-tiny-F16.gguf"] = "0" * 64
    with pytest.raises(ModelError, match=r"mmproj-tiny-F16\.gguf does not match its published checksum"):
        pull(ENTRY, tmp_path, print)


def test_a_repository_without_a_matching_file_says_so(hub: Hub, tmp_path: Path) -> None:
    entry = CatalogEntry("none", REPO, "", ("*Q2_K.gguf",), ("mmproj*.gguf",))
    with pytest.raises(ModelError, match=r"no file matching \*Q2_K.gguf"):
        pull(entry, tmp_path, print)
