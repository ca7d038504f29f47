"""Loading fails in one line, fast, and quietly: a Hub out of reach, files that do not load, and no
library noise on the terminal unless --verbose.

Nothing here reaches the network: the "Hub" is a closed loopback port or a loopback socket that
never answers, and the Hugging Face cache is a temporary folder.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pipeline_helpers import SavedModel

import vlmplanner
from vlmplanner.errors import ModelLoadError

ROOT = Path(__file__).resolve().parents[2]
#: The Hub client's own per-request timeout in the subprocesses (huggingface_hub retries on top).
ETAG_TIMEOUT = 40


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections and never answers (a dead proxy)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    try:
        yield int(server.getsockname()[1])
    finally:
        server.close()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])          # closed again when the block ends


def fake_cache(home: Path, repo: str, files: Path) -> None:
    """``files`` as the cached main revision of Hub repo ``repo`` under HF_HOME ``home``."""
    root = home / "hub" / f"models--{repo.replace('/', '--')}"
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text("0" * 40)
    shutil.copytree(files, root / "snapshots" / ("0" * 40))


def run_loads(home: Path, cases: dict[str, dict[str, str]], spec: Any,
              warm_up: Path | None = None) -> dict[str, Any]:
    """Each case: vlmplanner.load of a Hub id with the environment given, in one fresh interpreter
    (torch and transformers imported first, and with ``warm_up`` the same model loaded once from
    that directory, so the time is the load's own, not the modelling code's first import)."""
    script = textwrap.dedent(f"""
        import json, os, sys, time
        import torch, transformers, vlmplanner.pipeline.api, vlmplanner.families
        from vlmplanner.schemas import ModelSpec
        spec = ModelSpec.model_validate_json({spec.model_dump_json()!r})
        key = spec.checkpoint + "+none@" + str(spec.native_visual_tokens)
        if {str(warm_up) if warm_up else None!r}:
            vlmplanner.load(key, model_spec=spec, checkpoint={str(warm_up) if warm_up else None!r}).close()
        results = {{}}
        for name, env in {cases!r}.items():
            os.environ.update(env)
            start = time.perf_counter()
            try:
                pipeline = vlmplanner.load(key, model_spec=spec)
                results[name] = ["loaded", "", time.perf_counter() - start, pipeline.key]
            except Exception as exc:
                results[name] = [type(exc).__name__, str(exc), time.perf_counter() - start, None]
        print(json.dumps(results))
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "VLMPLANNER_VERBOSE"))}
    env.update(HF_HOME=str(home), HF_HUB_ETAG_TIMEOUT=str(ETAG_TIMEOUT), HF_HUB_DOWNLOAD_TIMEOUT=str(ETAG_TIMEOUT))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    results: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return results


def test_an_unreachable_hub_fails_in_one_line_long_before_the_hub_clients_timeout(
        saved: dict[str, SavedModel], tmp_path: Path, silent_port: int) -> None:
    spec = saved["llava"].spec.model_copy(update={"checkpoint": "org/not-cached", "public_checkpoint": True})
    cases = {
        "offline": {"HF_HUB_OFFLINE": "1"},
        "closed port": {"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": f"http://127.0.0.1:{closed_port()}"},
        "silent endpoint": {"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": f"http://127.0.0.1:{silent_port}"},
    }
    results = run_loads(tmp_path / "hf-home", cases, spec)
    for name, (kind, message, seconds, _key) in results.items():
        assert kind == "HubUnreachableError", (name, kind, message)
        assert "\n" not in message and "'org/not-cached'" in message and "checkpoint=DIR" in message, name
        # transformers would retry for ~30 s, each try waiting up to the client's timeout
        assert seconds < 0.25 * ETAG_TIMEOUT, (name, seconds)
    assert "HF_HUB_OFFLINE is set" in results["offline"][1]
    assert "cannot reach the Hugging Face Hub at http://127.0.0.1:" in results["closed port"][1]


def test_an_unreachable_hub_loads_what_the_cache_holds(saved: dict[str, SavedModel], tmp_path: Path) -> None:
    home = tmp_path / "hf-home"
    fake_cache(home, "org/tiny-llava", saved["llava"].directory)
    spec = saved["llava"].spec.model_copy(update={"checkpoint": "org/tiny-llava", "public_checkpoint": True})
    cases = {"closed port": {"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": f"http://127.0.0.1:{closed_port()}"},
             "offline": {"HF_HUB_OFFLINE": "1"}}
    results = run_loads(home, cases, spec, warm_up=saved["llava"].directory)
    for name, (kind, message, seconds, key) in results.items():
        assert kind == "loaded", (name, kind, message)
        assert key == f"org/tiny-llava+none@{spec.native_visual_tokens}"
        assert seconds < 0.25 * ETAG_TIMEOUT, (name, seconds)


def checkpoint_copy(saved: SavedModel, tmp_path: Path, *, keep: tuple[str, ...]) -> Path:
    """A copy of a saved tiny checkpoint with only the files whose names start with ``keep``."""
    directory = tmp_path / "checkpoint"
    directory.mkdir(parents=True)
    for file in saved.directory.iterdir():
        if file.name.startswith(keep):
            shutil.copy(file, directory / file.name)
    return directory


def test_files_that_do_not_load_are_one_model_load_error(saved: dict[str, SavedModel], catalog: Any,
                                                          tmp_path: Path) -> None:
    no_weights = checkpoint_copy(saved["llava"], tmp_path / "a", keep=("config.json",))
    corrupt = checkpoint_copy(saved["llava"], tmp_path / "b", keep=("config.json",))
    (corrupt / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not a safetensors header")
    no_processor = checkpoint_copy(saved["llava"], tmp_path / "c", keep=("config.json", "model", "generation"))
    for directory, part, words in [(no_weights, "model weights", "no file named model.safetensors"),
                                   (corrupt, "model weights", "SafetensorError"),
                                   (no_processor, "processor", "")]:
        with pytest.raises(ModelLoadError) as info:
            vlmplanner.load("tiny/llava+pool@4", catalog=catalog, checkpoint=directory)
        message = info.value.message
        assert message.startswith(f"cannot load the {part} of the directory {directory.resolve()}: "), message
        assert words in message and "\n" not in message and "save_pretrained" in message
        assert info.value.field == "checkpoint" and info.value.exit_code == 11


def test_a_path_that_is_no_checkpoint_is_named(saved: dict[str, SavedModel]) -> None:
    family = saved["llava"].tiny.family
    with pytest.raises(ModelLoadError, match="neither a local directory nor a Hugging Face Hub id"):
        family.load("/no/such/checkpoint")


def test_loading_is_quiet_unless_verbose(saved: dict[str, SavedModel], tmp_path: Path) -> None:
    """No progress bar or library warning on the terminal; --verbose (VLMPLANNER_VERBOSE) shows them."""
    code = textwrap.dedent(f"""
        import vlmplanner
        from vlmplanner.families import get_family
        spec = get_family("llava").spec_from_config(
            __import__("json").load(open({str(saved["llava"].directory / "config.json")!r})),
            checkpoint="tiny/llava", source="t")
        with vlmplanner.load("tiny/llava+pool@4", model_spec=spec, checkpoint={str(saved["llava"].directory)!r}) as p:
            from PIL import Image
            p.generate(Image.new("RGB", (60, 60)), "describe it .", max_new_tokens=2)
    """)
    quiet, loud = (subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                                  env={**os.environ, "VLMPLANNER_VERBOSE": flag}, timeout=600)
                   for flag in ("", "1"))
    assert quiet.returncode == 0 and loud.returncode == 0, quiet.stderr + loud.stderr
    assert quiet.stderr == "" and quiet.stdout == ""
    assert "Loading weights" in loud.stderr       # transformers' progress bar, when asked for
