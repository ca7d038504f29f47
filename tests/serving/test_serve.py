"""``vlmplanner serve`` over loopback: the OpenAI chat-completions format, batching of concurrent
requests, its refusals, the endpoint evaluator against it (the same score as in process), and an
endpoint that is down, slow or answers garbage."""

from __future__ import annotations

import base64
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from _extras import requires

from vlmplanner.errors import EndpointError


@pytest.fixture(scope="module")
def tiny(tiny_qwen: dict[str, Any]) -> dict[str, Any]:
    return tiny_qwen


@pytest.fixture
def server(tiny: dict[str, Any]) -> Any:
    import vlmplanner
    from vlmplanner.serving.server import Server

    with vlmplanner.load(tiny["key"], catalog=tiny["url"], checkpoint=tiny["directory"]) as pipeline:
        with Server(pipeline, port=0, batch_window_s=0.3, max_batch=8) as running:
            yield running


def _png(shade: int, size: tuple[int, int] = (56, 56)) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, (shade, 30, 200)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _chat(text: str, image: str, **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": image}},
                                                       {"type": "text", "text": text}]}], "max_tokens": 4, **extra}


def test_chat_completion_and_models(server: Any) -> None:
    models = httpx.get(f"{server.url}/models").json()
    assert models["data"][0]["id"] == server.model and httpx.get(server.url[:-3] + "/health").json()["status"] == "ok"
    response = httpx.post(f"{server.url}/chat/completions", json=_chat("what is it ?", _png(10)), timeout=60)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "chat.completion" and isinstance(body["choices"][0]["message"]["content"], str)
    assert body["vlmplanner"]["visual_tokens"] == 4                 # a 56x56 image: 2x2 merged tokens
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]


def test_concurrent_requests_are_batched(server: Any) -> None:
    bodies = [_chat(f"question {i} ?", _png(20 * i)) for i in range(4)]
    results: list[httpx.Response] = []

    def ask(body: dict[str, Any]) -> None:
        results.append(httpx.post(f"{server.url}/chat/completions", json=body, timeout=60))

    threads = [threading.Thread(target=ask, args=(b,)) for b in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.status_code for r in results] == [200] * 4
    assert server.batcher.stats.batch_sizes == [4] and server.batcher.stats.requests == 4


@pytest.mark.parametrize(("body", "status", "param"), [
    ("not json", 400, None),
    ({"messages": []}, 400, "messages"),
    ({"messages": [{"role": "user", "content": "no image here"}]}, 400, "messages"),
    (_chat("x", "https://example.com/cat.png"), 400, "messages[0].content[0]"),
    (_chat("x", "data:image/png;base64,!!!"), 400, "messages[0].content[0]"),
    (_chat("x", "data:image/png;base64," + base64.b64encode(b"not an image").decode()), 400, "messages[0].content[0]"),
    (_chat("x", "data:,x", stream=True), 400, "stream"),
    (_chat("x", "data:,x", model="someone/else"), 404, "model"),
    (_chat("x", "data:,x", temperature=0.7), 400, "temperature"),
    (_chat("x", "data:,x", max_tokens=0), 400, "max_tokens"),
])
def test_bad_requests_get_openai_errors(server: Any, body: Any, status: int, param: str | None) -> None:
    content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    response = httpx.post(f"{server.url}/chat/completions", content=content, timeout=30)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["message"] and error["param"] == param
    assert httpx.post(f"{server.url}/nowhere", json={}).status_code == 404


def test_an_api_key_is_required_when_set(tiny: dict[str, Any]) -> None:
    import vlmplanner
    from vlmplanner.serving.server import Server

    with vlmplanner.load(tiny["key"], catalog=tiny["url"], checkpoint=tiny["directory"]) as pipeline:
        with Server(pipeline, port=0, api_key="s3cret") as running:
            assert httpx.get(f"{running.url}/models").status_code == 401
            ok = httpx.get(f"{running.url}/models", headers={"Authorization": "Bearer s3cret"})
            assert ok.status_code == 200


def _gqa(folder: Path) -> Path:
    from PIL import Image

    (folder / "images").mkdir(parents=True)
    with (folder / "gqa.jsonl").open("w") as out:
        for i in range(4):
            Image.new("RGB", (56 + 28 * (i % 2), 56), (60 * i, 100, 50)).save(folder / "images" / f"{i}.png")
            out.write(json.dumps({"id": f"q{i}", "question": f"what is {i} ?", "answer": "cat",
                                  "image": f"images/{i}.png"}) + "\n")
    return folder / "gqa.jsonl"


def test_served_and_in_process_evaluations_agree(tiny: dict[str, Any], server: Any, tmp_path: Path) -> None:
    from vlmplanner.evaluation.endpoint import EndpointSource
    from vlmplanner.evaluation.run import PipelineSource, evaluate

    data = _gqa(tmp_path / "gqa")
    local = evaluate(server.pipeline, "GQA", data, answers_dir=tmp_path / "a")
    configuration = PipelineSource(server.pipeline).configuration
    with EndpointSource(server.url, configuration, model=server.model, concurrency=1) as endpoint:
        served = evaluate(endpoint, "GQA", data, answers_dir=tmp_path / "b")
    assert [a.prediction for a in served.answers] == [a.prediction for a in local.answers]
    assert [a.visual_tokens for a in served.answers] == [a.visual_tokens for a in local.answers]
    assert served.aggregate == local.aggregate
    assert served.results[0].score == local.results[0].score and served.results[0].provenance == "measured"


class _Fake(BaseHTTPRequestHandler):
    """A misbehaving endpoint: ``mode`` says how."""

    mode = "garbage"
    calls = 0

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def do_POST(self) -> None:
        type(self).calls += 1
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.mode == "slow":
            time.sleep(1.0)
        if self.mode == "flaky" and type(self).calls == 1:
            self.send_response(503)
            self.end_headers()
            return
        body = b"this is not json" if self.mode == "garbage" else json.dumps(
            {"choices": [{"message": {"role": "assistant", "content": "cat"}}]}).encode()
        try:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):   # "slow": the client gave up waiting
            pass


@pytest.fixture
def fake() -> Any:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Fake)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _Fake.calls = 0
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _source(url: str, **options: Any) -> Any:
    from vlmplanner.evaluation.endpoint import EndpointSource
    from vlmplanner.evaluation.run import Configuration

    return EndpointSource(url, Configuration("tiny/qwen+none@16", "tiny/qwen", "none", 16, "endpoint", ""),
                          backoff_s=0.01, **options)


@requires("PIL")
def test_an_endpoint_that_misbehaves(fake: Any, tmp_path: Path) -> None:
    from vlmplanner.evaluation.run import evaluate, read_answers

    url = f"http://127.0.0.1:{fake.server_address[1]}/v1"
    data = _gqa(tmp_path / "gqa")
    _Fake.mode = "garbage"
    with _source(url, retries=0) as source, pytest.raises(EndpointError, match="did not answer with a chat completion"):
        evaluate(source, "GQA", data, answers_dir=tmp_path / "a")
    _Fake.mode, _Fake.calls = "slow", 0
    with _source(url, retries=1, timeout_s=0.2) as source, pytest.raises(EndpointError, match="timed out, 2 attempt"):
        evaluate(source, "GQA", data, answers_dir=tmp_path / "a")
    _Fake.mode, _Fake.calls = "flaky", 0
    with _source(url, retries=2) as source:
        run = evaluate(source, "GQA", data, answers_dir=tmp_path / "b")
    assert _Fake.calls == 5 and run.aggregate.scores["GQA"] == 100.0   # one 503 retried; answers "cat"
    assert run.visual_tokens is None and "did not say" in run.results[0].note
    assert len(read_answers(run.answers_file)) == 4
    with socket.socket() as probe:                      # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    with _source(f"http://127.0.0.1:{closed}/v1", retries=1) as source, \
            pytest.raises(EndpointError, match="cannot be reached"):
        evaluate(source, "GQA", data, answers_dir=tmp_path / "c")


def test_the_serve_command_serves_until_interrupted(tiny: dict[str, Any], tmp_path: Path) -> None:
    """The real console entry point in a subprocess: it serves, answers, and stops on Ctrl-C."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "VLMPLANNER_DATA_DIR": str(tmp_path / "data"), "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-c", "from vlmplanner.cli.app import _entry; _entry()", "serve", tiny["key"],
               "--checkpoint", str(tiny["directory"]), "--catalog", tiny["url"], "--port", str(port)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        reply = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=_chat("hi ?", _png(5)), timeout=60)
        assert reply.status_code == 200 and reply.json()["model"] == tiny["key"]
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    assert process.returncode in (0, 130), err
    assert "Traceback" not in err and f"serving {tiny['key']}" in err
