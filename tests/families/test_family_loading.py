"""Before and around ``from_pretrained``: where the files come from, which device, and what a failed
load becomes. No network: the Hub is a loopback server or a closed port."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from _extras import requires, requires_torch
from _loopback import QuietHandler, serve

from vlmplanner.errors import (
    DeviceUnavailableError,
    HubUnreachableError,
    ModelLoadError,
    ValidationError,
)
from vlmplanner.families._hub import hub_options, probe
from vlmplanner.families._load_errors import load_error, load_errors
from vlmplanner.families.devices import check_available


class Answers(QuietHandler):
    def do_HEAD(self) -> None:
        self.send_response(404)            # any status: the endpoint is there
        self.end_headers()


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with serve(Answers) as url:
        yield url


def closed_endpoint() -> str:
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe_socket.getsockname()[1]}"


# --- where the files come from ---------------------------------------------------------------------------

def test_probe(endpoint: str) -> None:
    assert probe(endpoint) is None
    problem = probe(closed_endpoint())
    assert problem is not None and problem.startswith("ConnectError") and "\n" not in problem
    assert probe("not a url") is not None


def test_a_local_directory_needs_no_hub(tmp_path: Path) -> None:
    assert hub_options(str(tmp_path)) == {}
    with pytest.raises(ModelLoadError, match="neither a local directory nor a Hugging Face Hub id") as info:
        hub_options(str(tmp_path / "missing" / "dir"))
    assert info.value.field == "checkpoint"


@requires("huggingface_hub")
def test_hub_options(endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))          # an empty cache
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HubUnreachableError, match="not in the local Hugging Face cache and HF_HUB_OFFLINE is set"):
        hub_options("org/model")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    assert hub_options("org/model") == {}                                   # reachable: transformers fetches
    monkeypatch.setenv("HF_ENDPOINT", closed_endpoint())
    with pytest.raises(HubUnreachableError, match="cannot reach the Hugging Face Hub at http://127.0.0.1") as info:
        hub_options("org/model")
    assert info.value.exit_code == 9 and info.value.value == "org/model"
    snapshot = tmp_path / "models--org--model" / "snapshots" / "abc"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (tmp_path / "models--org--model" / "refs").mkdir()
    (tmp_path / "models--org--model" / "refs" / "main").write_text("abc")
    assert hub_options("org/model") == {"local_files_only": True}           # unreachable, but cached
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub_options("org/model") == {"local_files_only": True}


# --- what a failed load becomes -----------------------------------------------------------------------------

def test_failed_loads_become_one_line() -> None:
    offline = OSError("We couldn't connect to 'https://huggingface.co' to load the files, and couldn't find them\n"
                      "Check your internet connection")
    error = load_error(offline, checkpoint="org/model", part="model weights", local=False)
    assert isinstance(error, HubUnreachableError) and "\n" not in error.message
    assert error.message.startswith("cannot load the model weights of 'org/model': the Hugging Face Hub could not")
    missing = load_error(OSError("Error no file named model.safetensors found in directory /x"), checkpoint="/x",
                         part="model weights", local=True)
    assert isinstance(missing, ModelLoadError) and missing.field == "checkpoint"
    assert "the directory /x: OSError: Error no file named model.safetensors" in missing.message
    remote = load_error(ValueError("The repository contains custom code which must be executed. Please pass the"
                                   " argument `trust_remote_code=True`."), checkpoint="/x", part="processor",
                        local=True)
    assert isinstance(remote, ModelLoadError) and remote.field == "trust_remote_code"
    assert "pass trust_remote_code=True (vlmplanner run --trust-remote-code) if you trust it" in remote.message
    long = load_error(RuntimeError("x" * 1000), checkpoint="/x", part="model weights", local=True)
    assert len(long.message) < 600


def test_load_errors_lets_vlmplanner_errors_through() -> None:
    with pytest.raises(ValidationError, match="mine"), load_errors("/x", part="processor", local=True):
        raise ValidationError("mine")
    with pytest.raises(ModelLoadError) as info, load_errors("/x", part="processor", local=True):
        raise KeyError("tokenizer")
    assert isinstance(info.value.__cause__, KeyError)


# --- devices ----------------------------------------------------------------------------------------------

def test_cpu_needs_no_check() -> None:
    assert check_available("cpu") == "cpu" and check_available("meta") == "meta"


@requires_torch
def test_devices_this_machine_lacks() -> None:
    import torch

    absent = [f"cuda:{torch.cuda.device_count()}"]
    if not torch.cuda.is_available():
        absent.append("cuda")
    if not torch.backends.mps.is_available():
        absent.append("mps")
    for device in absent:
        with pytest.raises(DeviceUnavailableError) as info:
            check_available(device)
        assert info.value.message.startswith(f"device {device!r} is not available: ")
        assert info.value.field == "device" and info.value.exit_code == 10 and "\n" not in info.value.message
    if torch.cuda.is_available():
        assert check_available("cuda:0") == "cuda:0"
