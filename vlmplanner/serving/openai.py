"""The OpenAI chat-completions format, as ``vlmplanner serve`` reads and writes it (plain Python).

A request's messages become what the pipeline takes: the images of the user turns in order, and
one prompt text (the model's chat template applied to the same message structure when its processor
has one, so a served answer equals the in-process one). Images come as ``data:`` URLs (base64),
the way OpenAI clients send local images; a server never fetches a URL from the network.
Every problem is an :class:`ApiError` with the HTTP status and the OpenAI error body.
"""

from __future__ import annotations

import base64
import binascii
import io
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["ApiError", "ChatRequest", "completion_body", "error_body", "parse_chat_request"]

#: The largest max_tokens a request may ask for (a served configuration is not a batch job).
MAX_TOKENS_LIMIT = 4096


class ApiError(Exception):
    """A request the server refuses: ``status`` and the OpenAI-style error body."""

    def __init__(self, status: int, message: str, *, param: str | None = None, kind: str = "invalid_request_error",
                 code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.kind, self.code = status, message, param, kind, code

    def body(self) -> dict[str, Any]:
        return error_body(self.message, param=self.param, kind=self.kind, code=self.code)


def error_body(message: str, *, param: str | None = None, kind: str = "invalid_request_error",
               code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


@dataclass(frozen=True)
class ChatRequest:
    """One chat completion to run: its images, its messages (the structure a chat template takes,
    images as ``{"type": "image"}``), the plain text (for processors without a template), and the
    generation settings the batcher groups requests by."""

    images: tuple[Any, ...]
    messages: tuple[dict[str, Any], ...]
    text: str
    max_new_tokens: int
    model: str

    @property
    def settings(self) -> tuple[int]:
        return (self.max_new_tokens,)


def _decode_image(url: str, where: str) -> Any:
    from vlmplanner.extras import require

    if not url.startswith("data:"):
        raise ApiError(400, f"{where}: only data: URLs (base64 images) are accepted; this server does not fetch"
                       f" {url[:40]!r}", param=where)
    header, _, payload = url.partition(",")
    if ";base64" not in header:
        raise ApiError(400, f"{where}: a data URL must be base64-encoded", param=where)
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, f"{where}: the image is not valid base64", param=where) from None
    Image = require("PIL.Image", feature="serving images")
    try:
        with Image.open(io.BytesIO(raw)) as image:
            return image.convert("RGB")
    except Exception:   # Pillow raises several kinds for a file that is not an image
        raise ApiError(400, f"{where}: the data is not an image Pillow can read", param=where) from None


def _positive_int(body: Mapping[str, Any], *names: str, default: int) -> int:
    for name in names:
        if name in body and body[name] is not None:
            value = body[name]
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TOKENS_LIMIT:
                raise ApiError(400, f"{name} must be an integer from 1 to {MAX_TOKENS_LIMIT}, got {value!r}",
                               param=name)
            return value
    return default


def parse_chat_request(body: Any, *, served: str, default_max_tokens: int = 256) -> ChatRequest:
    """``body`` (the decoded JSON) as a ChatRequest for the configuration ``served``, or ApiError."""
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    model = body.get("model", served)
    if model not in (served, None):
        raise ApiError(404, f"this server serves {served!r}, not {model!r}", param="model", code="model_not_found")
    if body.get("stream"):
        raise ApiError(400, "stream=true is not supported: ask without streaming", param="stream")
    if body.get("n", 1) != 1:
        raise ApiError(400, "n must be 1", param="n")
    temperature = body.get("temperature", 0)
    if not isinstance(temperature, (int, float)) or isinstance(temperature, bool) or temperature != 0:
        raise ApiError(400, "only greedy decoding is served: temperature must be 0", param="temperature")
    max_new = _positive_int(body, "max_completion_tokens", "max_tokens", default=default_max_tokens)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "messages must be a non-empty list", param="messages")
    images: list[Any] = []
    structured: list[dict[str, Any]] = []
    texts: list[str] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict) or message.get("role") not in ("system", "user", "assistant"):
            raise ApiError(400, f"{where} must have a role of system, user or assistant", param=where)
        content = message.get("content")
        parts: Sequence[Any] = [{"type": "text", "text": content}] if isinstance(content, str) else content or []
        if not isinstance(parts, list):
            raise ApiError(400, f"{where}.content must be a string or a list of parts", param=f"{where}.content")
        out_parts: list[dict[str, Any]] = []
        for j, part in enumerate(parts):
            here = f"{where}.content[{j}]"
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text" and isinstance(part.get("text"), str):
                out_parts.append({"type": "text", "text": part["text"]})
                texts.append(part["text"])
            elif kind == "image_url":
                if message["role"] != "user":
                    raise ApiError(400, f"{here}: images belong in user messages", param=here)
                url = part.get("image_url")
                url = url.get("url") if isinstance(url, dict) else url
                if not isinstance(url, str):
                    raise ApiError(400, f"{here}.image_url.url must be a string", param=here)
                images.append(_decode_image(url, here))
                out_parts.append({"type": "image"})
            else:
                raise ApiError(400, f"{here} must be a text or image_url part", param=here)
        structured.append({"role": message["role"], "content": out_parts})
    if not images:
        raise ApiError(400, "a request needs at least one image (an image_url part in a user message)",
                       param="messages")
    return ChatRequest(tuple(images), tuple(structured), "\n".join(texts), max_new, served)


def completion_body(request: ChatRequest, text: str, *, prompt_tokens: int, completion_tokens: int,
                    visual_tokens: int) -> dict[str, Any]:
    """The chat.completion response; ``vlmplanner`` adds the visual tokens that reached the LLM."""
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                     "finish_reason": "length" if completion_tokens >= request.max_new_tokens else "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
        "vlmplanner": {"visual_tokens": visual_tokens},
    }
