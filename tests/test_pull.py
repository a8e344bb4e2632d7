"""`models pull` from Hugging Face (through the real huggingface_hub client) and from ModelScope, against hubs
served on loopback: the real hubs cannot be reached from here, so a small HTTP server plays each, serving the
tiny test pair with the listing each publishes."""

import contextlib
import hashlib
import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from assistant.config import Config
from assistant.errors import BadInputError, ModelError
from assistant.speak.tts import PiperSynthesizer, voice_config_path
from assistant.think.catalog import CatalogEntry
from assistant.think.hubs import PIPER_VOICES, SOURCES, pull, pull_voice
from assistant.think.models import vlm_pair
from assistant.think.vlm import LocalVisionChat
from tools.tiny_vlm import TinyVLMPair

REPO = "test/tiny-vl"
ENTRY = CatalogEntry(
    "tiny-vl", REPO, "the tiny test pair", ("mmproj*F16.gguf", "mmproj*.gguf"), {"Q4_K_M": 0.0002, "Q8_0": 0.0002}
)


class Hub:
    """Files by name, and the sha256 the listing publishes for each (normally the file's own)."""

    def __init__(self, files: dict[str, bytes], source: str, repo: str = REPO) -> None:
        self.files = files
        self.source = source
        self.repo = repo
        self.published = {name: hashlib.sha256(body).hexdigest() for name, body in files.items()}
        self.requests: list[str] = []


class _Handler(BaseHTTPRequestHandler):
    hub: Hub

    def log_message(self, format: str, *args: object) -> None:
        self.hub.requests.append(f"{self.command} {self.path}")

    def _send(self, body: bytes, headers: dict[str, str], code: int = 200) -> None:
        self.send_response(code)
        for key, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def _huggingface(hub: Hub) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        def do_GET(self) -> None:
            if self.path.startswith(f"/api/models/{hub.repo}"):
                siblings = [
                    {
                        "rfilename": name,
                        "size": len(body),
                        "lfs": {"sha256": hub.published[name], "size": len(body), "pointerSize": 134},
                    }
                    for name, body in hub.files.items()
                ]
                listing = {"id": hub.repo, "sha": "c" * 40, "siblings": siblings}
                return self._send(json.dumps(listing).encode(), {"Content-Type": "application/json"})
            prefix = f"/{hub.repo}/resolve/main/"
            if self.path.startswith(prefix) and self.path[len(prefix) :] in hub.files:
                name = self.path[len(prefix) :]
                etag = f'"{hub.published[name]}"'
                headers = {"X-Repo-Commit": "c" * 40, "ETag": etag, "X-Linked-Etag": etag}
                return self._send(hub.files[name], {**headers, "X-Linked-Size": str(len(hub.files[name]))})
            return self._send(b"{}", {"Content-Type": "application/json"}, 404)

        do_HEAD = do_GET

    Handler.hub = hub
    return Handler


def _modelscope(hub: Hub) -> type[BaseHTTPRequestHandler]:
    """ModelScope's API as the modelscope package uses it: a recursive listing with Size and Sha256, and
    each file by its path, with Range requests."""

    class Handler(_Handler):
        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(url.query))
            if url.path == f"/api/v1/models/{REPO}/repo/files" and query.get("Recursive") == "True":
                files = [
                    {"Path": name, "Name": name, "Size": len(body), "Sha256": hub.published[name], "Type": "blob"}
                    for name, body in hub.files.items()
                ]
                files.append({"Path": "docs", "Name": "docs", "Size": 0, "Sha256": "", "Type": "tree"})
                listing = {"Code": 200, "Data": {"Files": files}, "Message": "success", "Success": True}
                return self._send(json.dumps(listing).encode(), {"Content-Type": "application/json"})
            if url.path == f"/api/v1/models/{REPO}/repo" and query.get("FilePath") in hub.files:
                body = hub.files[query["FilePath"]]
                start = int(self.headers.get("Range", "bytes=0-")[6:].rstrip("-") or 0)
                if start:
                    return self._send(
                        body[start:], {"Content-Range": f"bytes {start}-{len(body) - 1}/{len(body)}"}, 206
                    )
                return self._send(body, {})
            return self._send(json.dumps({"Code": 404, "Message": "not found"}).encode(), {}, 404)

    Handler.hub = hub
    return Handler


@contextlib.contextmanager
def _serve(source: str, tiny_pair: TinyVLMPair, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    files = {
        "README.md": b"# tiny",
        "tiny-Q8_0.gguf": b"not this one",
        "tiny-Q4_K_M.gguf": tiny_pair.model.read_bytes(),
        "mmproj-tiny-F16.gguf": tiny_pair.mmproj.read_bytes(),
    }
    with _serving(Hub(files, source), monkeypatch) as hub:
        yield hub


@contextlib.contextmanager
def _serving(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    import huggingface_hub.constants

    source = hub.source
    server = ThreadingHTTPServer(("127.0.0.1", 0), _huggingface(hub) if source == "huggingface" else _modelscope(hub))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{server.server_port}"
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(
        huggingface_hub.constants, "HUGGINGFACE_CO_URL_TEMPLATE", endpoint + "/{repo_id}/resolve/{revision}/{filename}"
    )
    monkeypatch.setenv("MODELSCOPE_DOMAIN", endpoint)
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(params=SOURCES)
def hub(request: pytest.FixtureRequest, tiny_pair: TinyVLMPair, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    with _serve(request.param, tiny_pair, monkeypatch) as hub:
        yield hub


def test_pull_picks_by_pattern_shows_progress_verifies_and_the_pair_works(
    hub: Hub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pair = pull(ENTRY, tmp_path, print, source=hub.source)
    assert (pair.model.name, pair.mmproj.name) == ("tiny-Q4_K_M.gguf", "mmproj-tiny-F16.gguf")
    assert pair.model.parent == tmp_path / "tiny-vl-Q4_K_M"
    printed = capsys.readouterr().out.splitlines()
    hub_name = "Hugging Face" if hub.source == "huggingface" else "ModelScope"
    assert f"Downloading tiny-Q4_K_M.gguf from {REPO} on {hub_name}." in printed
    assert "  100 percent of 0.2 MB" in printed
    assert "tiny-Q4_K_M.gguf: 0.2 MB, verified." in printed
    assert not any("\r" in line for line in printed), "nothing redraws"
    assert not any("Q8_0" in request for request in hub.requests), "only the chosen files are fetched"
    assert vlm_pair(Config().with_overrides({"paths.models_dir": str(tmp_path)})) == pair
    LocalVisionChat(pair.model, pair.mmproj, n_ctx=512).close()


def test_the_quant_asked_for_is_pulled_into_its_own_folder(hub: Hub, tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="tiny-vl comes in Q4_K_M, Q8_0, not F16"):
        pull(ENTRY, tmp_path, print, "F16", hub.source)
    pair = pull(ENTRY, tmp_path, print, "Q8_0", hub.source)
    assert pair.model == tmp_path / "tiny-vl-Q8_0" / "tiny-Q8_0.gguf"
    assert pair.model.read_bytes() == b"not this one"


def test_a_file_that_does_not_match_its_published_checksum_is_refused(hub: Hub, tmp_path: Path) -> None:
    hub.published["mmproj-tiny-F16.gguf"] = "0" * 64
    with pytest.raises(ModelError, match=r"mmproj-tiny-F16\.gguf does not match its published checksum"):
        pull(ENTRY, tmp_path, print, source=hub.source)


def test_a_repository_without_a_matching_file_says_so(hub: Hub, tmp_path: Path) -> None:
    entry = CatalogEntry("none", REPO, "", ("mmproj*Q2_K.gguf",), {"Q4_K_M": 0.1})
    with pytest.raises(ModelError, match=r"no file matching mmproj\*Q2_K.gguf"):
        pull(entry, tmp_path, print, source=hub.source)


def test_a_modelscope_download_cut_short_is_resumed(
    tiny_pair: TinyVLMPair, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _serve("modelscope", tiny_pair, monkeypatch) as hub:
        folder = tmp_path / "tiny-vl-Q4_K_M"
        folder.mkdir()
        half = len(hub.files["tiny-Q4_K_M.gguf"]) // 2
        (folder / "tiny-Q4_K_M.gguf.partial").write_bytes(hub.files["tiny-Q4_K_M.gguf"][:half])
        pair = pull(ENTRY, tmp_path, print, source="modelscope")
    assert pair.model.read_bytes() == tiny_pair.model.read_bytes()
    assert not list(folder.glob("*.partial"))


VOICE = "zz_ZZ-test-medium"
"""The bundled English Piper voice under a test name: what matters here is the transfer, not the words."""
VOICE_PATH = "zz/zz_ZZ/test/medium/" + VOICE


@pytest.fixture
def voice_hub(voice_file: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    files = {
        "voices.json": b"{}",
        VOICE_PATH + ".onnx": voice_file.read_bytes(),
        VOICE_PATH + ".onnx.json": voice_config_path(voice_file).read_bytes(),
        "en/en_US/other/low/en_US-other-low.onnx": b"not this one",
    }
    with _serving(Hub(files, "huggingface", PIPER_VOICES), monkeypatch) as hub:
        yield hub


def test_voices_pull_fetches_a_piper_voice_by_its_name_and_it_speaks(
    voice_hub: Hub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    voice = pull_voice(VOICE, tmp_path, print)
    assert voice == tmp_path / f"{VOICE}.onnx"
    assert sorted(path.name for path in tmp_path.iterdir()) == [f"{VOICE}.onnx", f"{VOICE}.onnx.json"]
    printed = capsys.readouterr().out
    assert f"{VOICE}.onnx: " in printed and "verified." in printed
    assert not any("other" in request for request in voice_hub.requests), "only the voice's files are fetched"
    assert list(PiperSynthesizer(voice).synthesize("Hello."))


def test_voices_pull_refuses_a_bad_name_an_unknown_voice_and_a_wrong_checksum(voice_hub: Hub, tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="not a Piper voice's name"):
        pull_voice("huayan", tmp_path, print)
    with pytest.raises(ModelError, match="has no voice called zz_ZZ-nobody-low"):
        pull_voice("zz_ZZ-nobody-low", tmp_path, print)
    voice_hub.published[VOICE_PATH + ".onnx"] = "0" * 64
    with pytest.raises(ModelError, match="does not match its published checksum"):
        pull_voice(VOICE, tmp_path, print)
    assert not (tmp_path / f"{VOICE}.onnx").exists(), "a voice that failed its check is not left to be found"
    voice_hub.published[VOICE_PATH + ".onnx"] = hashlib.sha256(voice_hub.files[VOICE_PATH + ".onnx"]).hexdigest()
    assert pull_voice(VOICE, tmp_path, print).is_file(), "the next pull fetches it afresh"
