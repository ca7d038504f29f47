"""Registering a model from its config.json: local directory, file, a (loopback) Hub, and every way it fails.

Nothing here reaches the network: the "Hub" is an http.server on 127.0.0.1, and the unreachable Hub is
port 1 of the loopback interface.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _loopback import QuietHandler, serve

from vlmplanner.cli.app import main
from vlmplanner.errors import HubUnreachableError, NotFoundError, UnknownModelError, ValidationError
from vlmplanner.register import read_model_spec, register_model
from vlmplanner.store import Catalog, open_catalog

ROOT = Path(__file__).resolve().parents[1]
LLAVA = ROOT / "catalog/hf_configs/llava-hf/llava-1.5-7b-hf/config.json"
QWEN = ROOT / "catalog/hf_configs/Qwen/Qwen2-VL-2B-Instruct/config.json"
HINT = "vlmplanner register path/to/config.json --checkpoint org/name"


def config_of(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


# -- a loopback "Hub" --------------------------------------------------------------------------
ROUTES: dict[str, tuple[int, bytes]] = {
    "/org/name/resolve/main/config.json": (200, QWEN.read_bytes()),
    "/org/broken/resolve/main/config.json": (200, b'{"model_type": "qwen2_vl", "hidden_size": '),
    "/org/gated/resolve/main/config.json": (401, b"gated"),
    "/org/oops/resolve/main/config.json": (500, b"server error"),
    "/org/old-vlm/resolve/main/config.json": (200, json.dumps({"model_type": "blip-2"}).encode()),
}


class HubHandler(QuietHandler):
    def do_GET(self) -> None:
        if self.path == "/org/moved/resolve/main/config.json":  # the Hub redirects to its CDN
            self.send_response(302)
            self.send_header("Location", "/org/name/resolve/main/config.json")
            self.end_headers()
            return
        status, body = ROUTES.get(self.path, (404, b"Entry not found"))
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def hub() -> Iterator[str]:
    with serve(HubHandler) as url:
        yield url


# -- a small catalog -------------------------------------------------------------------------------
@pytest.fixture
def store(tmp_path: Path) -> Iterator[Catalog]:
    """An unseeded catalog holding one model, so "unchanged" is not trivially "empty"."""
    catalog = open_catalog(f"sqlite:///{tmp_path / 'register.sqlite3'}", seed=False)
    register_model(LLAVA, catalog=catalog, checkpoint="seed/llava")
    yield catalog
    catalog.close()


def snapshot(catalog: Catalog) -> list[dict[str, Any]]:
    return [m.model_dump() for m in catalog.models()]


# -- sources ------------------------------------------------------------------------------------------
def test_register_a_checkpoint_directory(store: Catalog, tmp_path: Path) -> None:
    checkpoint = tmp_path / "my-llava"
    checkpoint.mkdir()
    shutil.copy(LLAVA, checkpoint / "config.json")
    spec = register_model(checkpoint, catalog=store)
    assert spec.checkpoint == str(checkpoint.resolve())
    assert (spec.model_type, spec.llm.hidden_size, spec.native_visual_tokens) == ("llava", 4096, 576)
    assert str(checkpoint.resolve() / "config.json") in spec.source
    assert store.model(spec.checkpoint) == spec


def test_register_a_config_file_under_a_given_id(store: Catalog) -> None:
    spec = register_model(str(QWEN), catalog=store, checkpoint="me/qwen2-vl-copy")
    assert spec.checkpoint == "me/qwen2-vl-copy" and spec.model_type == "qwen2_vl"
    assert (spec.llm.num_layers, spec.llm.num_kv_heads, spec.vision.spatial_merge_size) == (28, 2, 2)
    assert store.model("me/qwen2-vl-copy") == spec
    # registering again replaces the row rather than adding one
    again = register_model(str(QWEN), catalog=store, checkpoint="me/qwen2-vl-copy")
    assert again == spec and len(store.models()) == 2


def test_register_from_the_hub(store: Catalog, hub: str) -> None:
    spec = register_model("org/name", catalog=store, hub_url=hub)
    assert spec.checkpoint == "org/name"
    assert f"{hub}/org/name/resolve/main/config.json" in spec.source
    assert spec.llm.hidden_size == 1536 and store.model("org/name") == spec
    moved = register_model("org/moved", catalog=store, hub_url=hub, checkpoint="org/moved")
    assert moved.llm.hidden_size == 1536


def test_a_custom_transport_is_used() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, content=LLAVA.read_bytes())

    spec = read_model_spec("llava-hf/llava-1.5-7b-hf", transport=httpx.MockTransport(handler))
    assert seen == ["https://huggingface.co/llava-hf/llava-1.5-7b-hf/resolve/main/config.json"]
    assert spec.checkpoint == "llava-hf/llava-1.5-7b-hf"


def test_the_default_catalog_is_used_when_none_is_given(tmp_path: Path) -> None:
    spec = register_model(LLAVA, checkpoint="me/default-catalog")  # VLMPLANNER_DATA_DIR is a temp dir
    with open_catalog() as catalog:
        assert catalog.model("me/default-catalog") == spec


def test_register_on_every_backend(catalog: Catalog) -> None:
    """The seeded store fixture of tests/conftest.py: SQLite, and PostgreSQL when configured."""
    before = snapshot(catalog)
    with pytest.raises(ValidationError):
        register_model(QWEN, catalog=catalog, checkpoint="bad+id")
    assert snapshot(catalog) == before
    spec = register_model(QWEN, catalog=catalog, checkpoint="me/qwen")
    assert catalog.model("me/qwen") == spec and len(catalog.models()) == len(before) + 1


# -- failures: a clear error, and nothing written -------------------------------------------------
def test_an_unreachable_hub_fails_fast_with_the_file_hint(store: Catalog) -> None:
    before = snapshot(store)
    start = time.monotonic()
    with pytest.raises(HubUnreachableError) as info:
        register_model("org/name", catalog=store, hub_url="http://127.0.0.1:1", timeout=3.0)
    assert time.monotonic() - start < 3.0
    assert HINT in str(info.value) and "cannot reach the Hub at http://127.0.0.1:1" in str(info.value)
    assert info.value.field == "source" and info.value.value == "org/name"
    assert snapshot(store) == before


def test_a_hub_timeout_is_reported(store: Catalog) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(HubUnreachableError, match="did not answer within 0.5 s") as info:
        register_model("org/name", catalog=store, timeout=0.5, transport=httpx.MockTransport(handler))
    assert HINT in str(info.value)


@pytest.mark.parametrize(("model_id", "error", "match"), [
    ("org/missing", UnknownModelError, "unknown model 'org/missing'.*404"),
    ("org/broken", ValidationError, "not valid JSON"),
    ("org/gated", ValidationError, "answered 401: the model is gated or private"),
    ("org/oops", ValidationError, "answered HTTP 500"),
    ("org/old-vlm", ValidationError, "unsupported model_type 'blip-2'; supported: gemma3, internvl, llava, llava_next"),
])
def test_hub_failures(store: Catalog, hub: str, model_id: str, error: type[Exception], match: str) -> None:
    before = snapshot(store)
    with pytest.raises(error, match=match):
        register_model(model_id, catalog=store, hub_url=hub)
    assert snapshot(store) == before


def test_a_404_is_a_not_found_error_with_the_file_hint(store: Catalog, hub: str) -> None:
    with pytest.raises(NotFoundError) as info:
        register_model("org/missing", catalog=store, hub_url=hub)
    assert "vlmplanner register path/to/config.json --checkpoint org/missing" in str(info.value)


def write(tmp_path: Path, content: Any, name: str = "config.json") -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def without(config: dict[str, Any], *path: str) -> dict[str, Any]:
    target = config
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return config


@pytest.mark.parametrize(("content", "field", "match"), [
    ('{"model_type": "llava", ', "config.json", "not valid JSON"),
    ("[1, 2, 3]", "config.json", "must hold a JSON object"),
    ({"model_type": "blip-2"}, "model_type", "supported: gemma3, internvl, llava, llava_next, llava_onevision, qwen2_5_vl, qwen2_vl"),
    ({"hidden_size": 12}, "model_type", "no model_type"),
    ({**config_of(QWEN), "hidden_size": 0}, "hidden_size", "must be a positive integer, got 0"),
    ({**config_of(LLAVA), "text_config": {"model_type": "gemma"}}, "text_config.num_hidden_layers",
     "config.json has no text_config.num_hidden_layers"),
    # architectures outside sane limits (vlmplanner.families._config.LIMITS)
    ({**config_of(QWEN), "num_hidden_layers": 10**12}, "num_hidden_layers", "is 1000000000000, above the 1000 "),
    ({**config_of(QWEN), "vocab_size": 10**10}, "vocab_size", "above the 4194304 "),
    ({**config_of(QWEN), "hidden_size": True}, "hidden_size", "must be a positive integer, got True"),
    ({**config_of(LLAVA), "vision_config": {**config_of(LLAVA)["vision_config"], "image_size": -336}},
     "vision_config.image_size", "must be a positive integer, got -336"),
])
def test_file_failures(store: Catalog, tmp_path: Path, content: Any, field: str, match: str) -> None:
    path = write(tmp_path, content)
    before = snapshot(store)
    with pytest.raises(ValidationError, match=match) as info:
        register_model(path, catalog=store, checkpoint="me/x")
    assert info.value.field == field
    assert snapshot(store) == before


def test_absent_keys_take_the_defaults_transformers_would(tmp_path: Path) -> None:
    qwen = read_model_spec(write(tmp_path, without(config_of(QWEN), "num_hidden_layers")), checkpoint="me/x")
    assert qwen.llm.num_layers == 80  # Qwen2VLTextConfig's default
    llava = read_model_spec(write(tmp_path, without(config_of(LLAVA), "vision_config", "image_size")), checkpoint="me/x")
    assert llava.vision.image_size == 224 and llava.native_visual_tokens == (224 // 14) ** 2  # CLIPVisionConfig's


def test_unreadable_sources(store: Catalog, tmp_path: Path) -> None:
    before = snapshot(store)
    with pytest.raises(ValidationError, match="no such file or directory") as info:
        register_model(tmp_path / "nowhere" / "config.json", catalog=store)
    assert info.value.field == "source"
    with pytest.raises(ValidationError, match="no such file or directory.*not a Hub id"):
        register_model("./relative/missing.json", catalog=store)
    empty = tmp_path / "empty-checkpoint"
    empty.mkdir()
    with pytest.raises(ValidationError, match="directory without a config.json"):
        register_model(empty, catalog=store)
    if hasattr(os, "geteuid") and os.geteuid() != 0:  # root reads anything
        locked = write(tmp_path, config_of(LLAVA), "locked.json")
        locked.chmod(0)
        with pytest.raises(ValidationError, match="cannot read"):
            register_model(locked, catalog=store)
    with pytest.raises(ValidationError) as info:
        register_model(LLAVA, catalog=store, timeout=0)
    assert info.value.field == "timeout"
    with pytest.raises(ValidationError) as info:
        register_model(LLAVA, catalog=store, checkpoint="  ")
    assert info.value.field == "checkpoint"
    assert snapshot(store) == before


# -- the CLI ---------------------------------------------------------------------------------------------
def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_registers_a_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    code, out, err = run(capsys, "register", str(LLAVA), "--checkpoint", "me/llava", "--catalog", url)
    assert code == 0, err
    assert out.strip() == "registered me/llava (llava): LLM 6.74 B, 32 layers x 4096; 576 visual tokens per 336x336 image"
    code, out, err = run(capsys, "register", str(QWEN), "--checkpoint", "me/qwen", "--catalog", url, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["checkpoint"] == "me/qwen" and data["llm"]["hidden_size"] == 1536
    code, out, _ = run(capsys, "catalog", "show", "me/qwen", "--catalog", url, "--json")
    assert code == 0 and json.loads(out)["model"]["checkpoint"] == "me/qwen"


def test_cli_registers_from_a_hub(capsys: pytest.CaptureFixture[str], tmp_path: Path, hub: str) -> None:
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    code, out, err = run(capsys, "register", "org/name", "--hub-url", hub, "--catalog", url, "--json")
    assert code == 0, err
    assert json.loads(out)["checkpoint"] == "org/name"


def test_cli_errors_are_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    code, out, err = run(capsys, "register", "org/name", "--hub-url", "http://127.0.0.1:1", "--catalog", url)
    assert code == HubUnreachableError.exit_code == 9 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: cannot reach the Hub") and HINT in err
    code, _, err = run(capsys, "register", str(write(tmp_path, {"model_type": "blip-2"})), "--catalog", url)
    assert code == 2 and err.count("\n") == 1 and "supported: gemma3, internvl, llava" in err
    assert not (tmp_path / "cli.sqlite3").exists()  # nothing was written, not even an empty catalog
