"""The vision model on an OpenAI-compatible server (llama.cpp's llama-server, llama-cpp-python's server, vLLM).

Used only when vlm.backend is "openai": every question, its conversation and its picture (a JPEG at the image
budget's size, as a data: URL) then go to vlm.url. The conversation is kept here and sent whole, oldest first,
with the newest picture in the newest turn, so that the server's prefix cache (llama.cpp's cache_prompt, vLLM's
automatic prefix caching) serves everything before it. Answers stream back as server-sent events into the same
sentence pipeline as a local model's. Every failure is a ModelError with a sentence to speak: the server down or
unreachable (after one retry), too slow to start answering, refusing the key, stopping mid-answer, or answering
something that is not a chat completion. TLS certificates are always verified, against vlm.ca_bundle if given.
"""

from __future__ import annotations

import base64
import json
import logging
import ssl
import struct
import urllib.parse
from collections.abc import Iterator
from typing import Any

import httpx

from assistant.core.presets import Preset
from assistant.errors import BadInputError, ModelError

_LOGGER = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0
CHARS_PER_TOKEN = 3
"""A cautious guess at the server's tokens for English and Chinese alike, to trim history to its context."""
PIXELS_PER_TOKEN = 32
"""Qwen3-VL's and LFM2-VL's image token: a 32 x 32 square (16-pixel patches merged 2 by 2)."""
_FIX = "Check that the vision server is running and that vlm.url points at it, or set vlm.backend to local."


class RemoteVisionChat:
    """An OpenAI-compatible chat-completions endpoint, answering with streamed text."""

    def __init__(
        self, url: str, model: str = "", api_key: str = "", first_token_s: float = 30.0, ca_bundle: str = ""
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BadInputError(
                f"vlm.url is {url!r}, which is not a web address.",
                "Give the server's /v1 address, such as http://192.168.1.20:8080/v1.",
            )
        self.url = url.rstrip("/")
        self.host = parts.netloc
        self.model = model
        self.first_token_s = first_token_s
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        try:
            verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca_bundle) if ca_bundle else True
        except (OSError, ssl.SSLError) as e:
            raise BadInputError(
                f"vlm.ca_bundle {ca_bundle} cannot be read as certificates.", "Give the private CA's PEM file."
            ) from e
        self.client = httpx.Client(
            base_url=self.url,
            headers=headers,
            timeout=httpx.Timeout(first_token_s, connect=CONNECT_TIMEOUT_S),
            verify=verify,
        )

    def check(self) -> str:
        """Ask the server which models it serves; say which one answers, or raise a ModelError saying why none."""
        listing = self._json(self._request("GET", "/models"))
        ids = (
            [str(m.get("id")) for m in listing.get("data", []) if isinstance(m, dict)]
            if isinstance(listing, dict)
            else []
        )
        if not ids:
            raise ModelError(f"The vision server at {self.host} serves no model.", _FIX)
        if self.model and self.model not in ids:
            raise ModelError(
                f"The vision server at {self.host} has no model called {self.model}.",
                f"Set vlm.remote_model to one of: {', '.join(ids)}.",
            )
        return f"{self.model or ids[0]} on {self.url}"

    def count_tokens(self, messages: list[dict[str, Any]]) -> int:
        """An estimate: the server's tokenizer is not here. Text by its length, pictures by their size."""
        total = 0
        for message in messages:
            content = message["content"]
            for part in [content] if isinstance(content, str) else content:
                if isinstance(part, str):
                    total += len(part) // CHARS_PER_TOKEN + 4
                elif part.get("type") == "text":
                    total += len(part["text"]) // CHARS_PER_TOKEN + 4
                else:
                    width, height = _jpeg_size(part["image_url"]["url"])
                    total += max(1, width // PIXELS_PER_TOKEN) * max(1, height // PIXELS_PER_TOKEN) + 2
        return total

    def stream(self, messages: list[dict[str, Any]], preset: Preset) -> Iterator[str]:
        body = {
            "messages": messages,
            "stream": True,
            "temperature": preset.temperature,
            "top_p": preset.top_p,
            "max_tokens": preset.max_tokens,
            "cache_prompt": True,  # llama.cpp's server: keep the prompt's KV cache for the next question
        }
        if self.model:
            body["model"] = self.model
        started = False
        try:
            response = self._open(body)
            try:
                for line in response.iter_lines():
                    piece = _piece(line)
                    if piece is None:
                        break
                    if piece:
                        started = True
                        yield piece
            finally:
                response.close()  # on an interruption too: the server then stops generating
        except httpx.TimeoutException as e:
            if started:
                raise ModelError(f"The vision server at {self.host} stopped in the middle of the answer.", _FIX) from e
            raise ModelError(
                f"The vision server at {self.host} did not start answering within {self.first_token_s:g} seconds.",
                "It may be busy: ask again, or raise vlm.remote_timeout_s.",
            ) from e
        except httpx.TransportError as e:  # the connection broke: the server stopped or went away
            raise ModelError(f"The vision server at {self.host} stopped in the middle of the answer.", _FIX) from e

    def _open(self, body: dict[str, Any]) -> httpx.Response:
        """The streamed response, its status checked; one retry when the connection cannot be made."""
        request = self.client.build_request("POST", "/chat/completions", json=body)
        for attempt in (1, 2):
            try:
                response = self.client.send(request, stream=True)
            except (httpx.ConnectError, httpx.ConnectTimeout) as e:
                if attempt == 2:
                    raise ModelError(f"I can't reach the vision server at {self.host}.", _FIX) from e
                _LOGGER.info("vision server %s: %s; trying once more", self.host, e)
                continue
            if response.status_code != 200:
                response.read()
                response.close()
                raise _status_error(response.status_code, self.host)
            return response
        raise AssertionError("unreachable")

    def _request(self, method: str, path: str) -> httpx.Response:
        for attempt in (1, 2):
            try:
                response = self.client.request(method, path)
            except (httpx.ConnectError, httpx.ConnectTimeout) as e:
                if attempt == 2:
                    raise ModelError(f"I can't reach the vision server at {self.host}.", _FIX) from e
                continue
            except httpx.HTTPError as e:
                raise ModelError(f"The vision server at {self.host} did not answer: {type(e).__name__}.", _FIX) from e
            if response.status_code != 200:
                raise _status_error(response.status_code, self.host)
            return response
        raise AssertionError("unreachable")

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError as e:
            raise ModelError(f"The vision server at {response.url.host} answered something I can't read.", _FIX) from e

    def close(self) -> None:
        self.client.close()


def _status_error(status: int, host: str) -> ModelError:
    if status in (401, 403):
        return ModelError(
            f"The vision server at {host} refused the key.", "Set ASSISTANT_VLM_API_KEY to the key it expects."
        )
    if status == 404:
        return ModelError(f"The vision server at {host} has no chat endpoint there.", _FIX)
    return ModelError(f"The vision server at {host} answered with error {status}.", "Ask again, or check the server.")


def _piece(line: str) -> str | None:
    """The text of one server-sent event line: "" for lines without text, None at the end of the answer."""
    if not line.startswith("data:"):
        return ""  # blank lines, comments, event names
    data = line[5:].strip()
    if data == "[DONE]":
        return None
    try:
        choice = json.loads(data)["choices"][0]
        text = (choice.get("delta") or {}).get("content") or ""
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as e:
        raise ModelError("The vision server answered something I can't read.", _FIX) from e
    if not isinstance(text, str):
        raise ModelError("The vision server answered something I can't read.", _FIX)
    return text


def _jpeg_size(url: str) -> tuple[int, int]:
    """Width and height of a data: URL's JPEG, from its start-of-frame marker; (0, 0) when there is none."""
    data = base64.b64decode(url.split(",", 1)[1]) if url.startswith("data:") else b""
    index = 2
    while index + 9 < len(data) and data[index] == 0xFF:
        marker, length = data[index + 1], struct.unpack(">H", data[index + 2 : index + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[index + 5 : index + 9])
            return width, height
        index += 2 + length
    return 0, 0
