"""``vlmplanner serve``: an OpenAI-compatible HTTP server over one instantiated configuration.

``POST /v1/chat/completions`` (images as base64 ``data:`` URLs), ``GET /v1/models`` and ``GET
/health``, on the standard library's threading HTTP server. Concurrent requests are batched: one
worker thread takes the first waiting request, gathers the others that arrive within
``batch_window_s`` (up to ``max_batch``, with the same generation settings) and runs them as one
``generate()`` call of the pipeline, compressor applied. Answers are greedy, so a served answer is
the one :func:`vlmplanner.evaluation.run.evaluate` gets in process for the same prompt.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from .openai import ApiError, ChatRequest, completion_body, error_body, parse_chat_request

if TYPE_CHECKING:
    from vlmplanner.pipeline.runner import VLMPipeline

__all__ = ["Batcher", "Server", "ServerStats"]

#: The largest request body accepted (a few full-resolution images in base64).
MAX_BODY_BYTES = 64 * 1024 * 1024


@dataclass
class ServerStats:
    """What the server did: requests answered, generate() calls, and the seconds spent in them."""

    requests: int = 0
    batches: int = 0
    generate_s: float = 0.0
    batch_sizes: list[int] = field(default_factory=list)


class Batcher:
    """Runs chat requests through the pipeline, batching those that wait together."""

    def __init__(self, pipeline: VLMPipeline, *, max_batch: int = 8, batch_window_s: float = 0.01) -> None:
        self.pipeline = pipeline
        self.max_batch = max_batch
        self.window = batch_window_s
        self.stats = ServerStats()
        self._queue: queue.Queue[tuple[ChatRequest, Future[dict[str, Any]]] | None] = queue.Queue()
        self._worker = threading.Thread(target=self._run, name="vlmplanner-batcher", daemon=True)
        self._worker.start()

    def submit(self, request: ChatRequest) -> Future[dict[str, Any]]:
        done: Future[dict[str, Any]] = Future()
        self._queue.put((request, done))
        return done

    def close(self) -> None:
        self._queue.put(None)
        self._worker.join(timeout=30)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            waiting = [first]
            deadline = time.monotonic() + self.window
            while len(waiting) < self.max_batch:
                left = deadline - time.monotonic()
                try:
                    item = self._queue.get(timeout=max(0.0, left)) if left > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)
                    break
                waiting.append(item)
            groups: dict[tuple[int], list[tuple[ChatRequest, Future[dict[str, Any]]]]] = {}
            for request, done in waiting:
                groups.setdefault(request.settings, []).append((request, done))
            for group in groups.values():
                self._answer(group)

    def _answer(self, group: list[tuple[ChatRequest, Future[dict[str, Any]]]]) -> None:
        requests = [r for r, _ in group]
        try:
            images = [list(r.images) for r in requests]
            prompts = [self.pipeline.chat_prompt(r.messages, r.text) for r in requests]
            start = time.perf_counter()
            texts = self.pipeline.generate(images, prompts, max_new_tokens=requests[0].max_new_tokens, do_sample=False)
            self.stats.generate_s += time.perf_counter() - start
            counts = self.pipeline.last_counts
            self.stats.batches += 1
            self.stats.batch_sizes.append(len(group))
            tokenizer = self.pipeline.tokenizer
            for i, (request, done) in enumerate(group):
                completion = len(tokenizer(texts[i], add_special_tokens=False)["input_ids"])
                done.set_result(completion_body(request, texts[i], prompt_tokens=counts[i][1],
                                                completion_tokens=completion, visual_tokens=counts[i][0]))
                self.stats.requests += 1
        except Exception as exc:   # a failed batch fails each of its requests, never the server
            for _, done in group:
                if not done.done():
                    done.set_exception(exc)


class Server:
    """The HTTP server; ``start()`` serves in a background thread (port 0: any free port)."""

    def __init__(self, pipeline: VLMPipeline, *, host: str = "127.0.0.1", port: int = 8000, max_batch: int = 8,
                 batch_window_s: float = 0.01, api_key: str | None = None, default_max_tokens: int = 256,
                 request_timeout_s: float = 600.0) -> None:
        self.pipeline = pipeline
        self.batcher = Batcher(pipeline, max_batch=max_batch, batch_window_s=batch_window_s)
        self.model = pipeline.key
        self.api_key = api_key
        self.default_max_tokens = default_max_tokens
        self.request_timeout_s = request_timeout_s
        self.httpd = ThreadingHTTPServer((host, port), _handler(self))
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://{name}:{port}/v1"

    def start(self) -> Server:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="vlmplanner-serve", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.batcher.close()

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def chat(self, body: Any) -> dict[str, Any]:
        request = parse_chat_request(body, served=self.model, default_max_tokens=self.default_max_tokens)
        try:
            return self.batcher.submit(request).result(timeout=self.request_timeout_s)
        except ApiError:
            raise
        except Exception as exc:
            from vlmplanner.errors import VlmPlannerError

            if isinstance(exc, VlmPlannerError):
                raise ApiError(400, exc.message, param=getattr(exc, "field", None)) from exc
            raise ApiError(500, f"generation failed: {type(exc).__name__}: {exc}", kind="server_error") from exc


def _handler(server: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "vlmplanner"

        def log_message(self, format: str, *args: Any) -> None:   # quiet: no line per request on stderr
            return None

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorised(self) -> bool:
            if server.api_key is None:
                return True
            if self.headers.get("Authorization", "") == f"Bearer {server.api_key}":
                return True
            self._send(401, error_body("a valid API key is needed (Authorization: Bearer …)",
                                       kind="authentication_error", code="invalid_api_key"))
            return False

        def do_GET(self) -> None:
            if self.path.rstrip("/") in ("/health", "/v1/health"):
                return self._send(200, {"status": "ok", "model": server.model})
            if not self._authorised():
                return None
            if self.path.rstrip("/") == "/v1/models":
                return self._send(200, {"object": "list", "data": [
                    {"id": server.model, "object": "model", "created": 0, "owned_by": "vlmplanner"}]})
            return self._send(404, error_body(f"no route {self.path}", code="not_found"))

        def do_POST(self) -> None:
            if not self._authorised():
                return None
            if self.path.rstrip("/") != "/v1/chat/completions":
                return self._send(404, error_body(f"no route {self.path}", code="not_found"))
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                return self._send(400, error_body("a bad Content-Length"))
            if length > MAX_BODY_BYTES:
                return self._send(413, error_body(f"the body is larger than {MAX_BODY_BYTES} bytes"))
            try:
                body = json.loads(self.rfile.read(length) or b"null")
            except ValueError:
                return self._send(400, error_body("the body is not JSON"))
            try:
                return self._send(200, server.chat(body))
            except ApiError as exc:
                return self._send(exc.status, exc.body())

    return Handler
