"""Evaluating a served model over the OpenAI-compatible chat API (vLLM, SGLang, ``vlmplanner serve``).

Each sample is one chat completion: the image as a base64 ``data:`` URL, then the benchmark's prompt
text, greedy (temperature 0), the definition's ``max_tokens``; the server applies the model's chat
template, as the in-process evaluation does. Requests run ``concurrency`` at a time (a thread pool
over one httpx client), each with a timeout, retried with exponential backoff on a connection
error, a timeout, 429 or 5xx. A server that stays down or answers with something that is not a chat
completion stops the run with an :class:`EndpointError` saying which and where; the answers already
received are kept, so running again continues, and nothing is stored as if complete.
"""

from __future__ import annotations

import base64
import io
import mimetypes
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from vlmplanner.errors import EndpointError, ValidationError

from .run import Configuration

__all__ = ["EndpointError", "EndpointSource"]

#: Statuses worth asking again: rate limits and server-side failures.
RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


def image_url(image: Any) -> str:
    """A ``data:`` URL for an image file path or a PIL image (PNG)."""
    if isinstance(image, (str, Path)):
        path = Path(image)
        kind = mimetypes.guess_type(path.name)[0] or "image/png"
        return f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode()}"
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return f"data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}"


class EndpointSource:
    """Answers from the chat-completions endpoint at ``url`` (``…/v1``), stored as results of
    ``configuration`` (the catalog model, compressor and token count the endpoint serves)."""

    def __init__(self, url: str, configuration: Configuration, *, model: str | None = None, api_key: str | None = None,
                 concurrency: int = 4, timeout_s: float = 120.0, retries: int = 3, backoff_s: float = 0.5) -> None:
        import httpx

        for name, value, least in (("concurrency", concurrency, 1), ("retries", retries, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValidationError(f"{name} must be an integer >= {least}, got {value!r}", field=name, value=value)
        if not isinstance(timeout_s, (int, float)) or isinstance(timeout_s, bool) or not timeout_s > 0:
            raise ValidationError(f"timeout must be a positive number of seconds, got {timeout_s!r}", field="timeout",
                                  value=timeout_s)
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ValidationError(f"endpoint must be an http(s) URL, got {url!r}", field="endpoint", value=url)
        self.url = url.rstrip("/")
        self.model = model or configuration.key
        self.configuration = configuration
        self.name = f"{configuration.key} via {self.url}"
        self.concurrency, self.retries, self.backoff_s = concurrency, retries, backoff_s
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(base_url=self.url, headers=headers, timeout=httpx.Timeout(timeout_s))

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> EndpointSource:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def answer(self, images: list[Any], texts: list[str], max_new_tokens: int) -> list[tuple[str, int]]:
        bodies = [{"model": self.model, "temperature": 0, "max_tokens": max_new_tokens, "messages": [
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": image_url(image)}},
                                         {"type": "text", "text": text}]}]} for image, text in zip(images, texts)]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(bodies))) as pool:
            return list(pool.map(self._ask, bodies))

    def _ask(self, body: dict[str, Any]) -> tuple[str, int]:
        import httpx

        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                response = self.client.post("/chat/completions", json=body)
            except httpx.TimeoutException:
                problem = "timed out"
                continue
            except httpx.TransportError as exc:
                problem = f"cannot be reached ({type(exc).__name__}: {exc})"
                continue
            if response.status_code in RETRY_STATUS:
                problem = f"answered {response.status_code} {_message(response)}"
                continue
            if response.status_code != 200:
                raise EndpointError(f"endpoint {self.url} refused the request: {response.status_code}"
                                    f" {_message(response)}", field="endpoint", value=self.url)
            return _read_completion(response, self.url)
        raise EndpointError(f"endpoint {self.url} {problem}, {self.retries + 1} attempt(s); the answers so far are"
                            " kept, run again to continue", field="endpoint", value=self.url)


def _message(response: Any) -> str:
    try:
        return str(response.json()["error"]["message"])
    except Exception:   # not the OpenAI error shape: show the start of the body
        return str(response.text[:200])


def _read_completion(response: Any, url: str) -> tuple[str, int]:
    try:
        body = response.json()
        text = body["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise EndpointError(f"endpoint {url} did not answer with a chat completion: {response.text[:200]!r}",
                            field="endpoint", value=url) from None
    if not isinstance(text, str):
        raise EndpointError(f"endpoint {url} answered content {text!r}, not text", field="endpoint", value=url)
    extra = body.get("vlmplanner") if isinstance(body, dict) else None
    tokens = extra.get("visual_tokens") if isinstance(extra, dict) else None
    return text.strip(), tokens if isinstance(tokens, int) and not isinstance(tokens, bool) else -1
