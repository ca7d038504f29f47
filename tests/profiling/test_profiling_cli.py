"""``vlmplanner profile``: a local checkpoint end to end, resume, JSON, and clear errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from _extras import TORCH_STACK, need

from vlmplanner.cli.app import main


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny LLaVA saved like a Hub checkpoint (weights, config.json, processor files)."""
    need(*TORCH_STACK)
    from vlmplanner.families import get_family

    tiny = get_family("llava").build_tiny(seed=3)
    directory = tmp_path_factory.mktemp("tiny-llava-checkpoint")
    tiny.model.save_pretrained(directory)
    tiny.processor.save_pretrained(directory)
    return directory


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_profile_a_local_checkpoint_on_cpu(checkpoint: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    args = ["profile", str(checkpoint), "--tokens", "16,4", "--device", "cpu", "--dtype", "fp32", "--repeats", "2",
            "--warmup", "0", "--decode-steps", "1", "--text-tokens", "8", "--name", "local/tiny-llava",
            "--catalog", url]
    code, out, err = _run(capsys, *args, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert [m["method"] for m in data["measurements"]] == ["analytic", "traced", "measured"] * 2
    assert {m["status"] for m in data["measurements"]} == {"ok"}
    assert data["measurements"][2]["candidate_key"] == "local/tiny-llava+none@16"

    code, out, err = _run(capsys, *args)  # again: everything is skipped, shown as a table
    assert code == 0, err
    assert "0 stored, 6 already stored" in out

    from vlmplanner.store import open_catalog

    with open_catalog(url) as store:
        rows = store.cost_measurements(candidate_key="local/tiny-llava+none@4")
    assert {r.method for r in rows} == {"analytic", "traced", "measured"}


def test_flops_only_needs_no_device(checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    code, out, err = _run(capsys, "profile", str(checkpoint), "--tokens", "16,4,1", "--flops-only",
                          "--methods", "traced", "--catalog", url, "--json")
    assert code == 0, err
    rows = json.loads(out)["measurements"]
    assert [r["method"] for r in rows] == ["traced"] * 3 and all(r["device"] == "none" for r in rows)


@pytest.mark.parametrize(("args", "field_text"), [
    (["--tokens", "17", "--flops-only"], "at most 16 per image"),
    (["--tokens", "4,x"], "comma-separated positive integers"),
    (["--tokens", "4"], "--device is required"),
    (["--tokens", "4", "--device", "gpu"], "unknown device"),
    (["--tokens", "3", "--flops-only", "--compressor", "pool"], "tile the 4x4 patch grid"),
    (["--tokens", "4", "--flops-only", "--compressor", "fastv"], "prune_layer 2 must be below"),
    (["--tokens", "3", "--flops-only", "--compressor", "pool"], "pool"),
    (["--tokens", "4", "--flops-only", "--image-size", "big"], "HEIGHTxWIDTH"),
])
def test_bad_input_exits_2_with_a_message(checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          args: list[str], field_text: str) -> None:
    url = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    code, _out, err = _run(capsys, "profile", str(checkpoint), *args, "--catalog", url)
    assert code == 2 and field_text in err, err


def test_a_cuda_device_this_machine_lacks_is_one_line(checkpoint: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    from vlmplanner.errors import DeviceUnavailableError

    missing = f"cuda:{torch.cuda.device_count()}"          # one past the last GPU: absent everywhere
    code, out, err = _run(capsys, "profile", str(checkpoint), "--tokens", "4", "--device", missing,
                          "--catalog", f"sqlite:///{tmp_path / 'c.sqlite3'}")
    assert code == DeviceUnavailableError.exit_code == 10 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"error: device {missing!r} is not available")


def test_unknown_catalog_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = _run(capsys, "profile", "llava-hf/llava-1.5-7b", "--flops-only",
                          "--catalog", f"sqlite:///{tmp_path / 'c.sqlite3'}")
    assert code == 3 and "llava-hf/llava-1.5-7b-hf" in err  # did you mean


def test_help_imports_no_torch() -> None:
    import subprocess

    code = ("import sys\nfrom vlmplanner.cli.app import main\n"
            "try:\n    main(['profile', '--help'])\nexcept SystemExit:\n    pass\n"
            "import vlmplanner.profiling\n"
            "print(sorted(m for m in ('torch', 'transformers', 'fvcore') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "[]"
    assert "--flops-only" in result.stdout


def test_tokens_default_to_the_native_count(checkpoint: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "profile", str(checkpoint), "--flops-only", "--methods", "analytic",
                          "--name", "local/tiny", "--catalog", f"sqlite:///{tmp_path / 'c.sqlite3'}", "--json")
    assert code == 0, err
    assert [m["candidate_key"] for m in json.loads(out)["measurements"]] == ["local/tiny+none@16"]


def test_failures_exit_1_and_interrupts_exit_130(checkpoint: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from vlmplanner.profiling import flops, sweep

    url = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    real = flops.count_flops

    def broken(*args: object, **kwargs: object) -> object:
        if kwargs.get("method") == "traced":
            raise RuntimeError("tracer exploded")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(flops, "count_flops", broken)
    code, _out, err = _run(capsys, "profile", str(checkpoint), "--tokens", "4", "--flops-only", "--catalog", url)
    assert code == 1 and "1 measurement(s) failed" in err and "tracer exploded" in err
    monkeypatch.setattr(flops, "count_flops", real)

    def interrupted(*args: object, **kwargs: object) -> object:
        raise sweep.SweepInterrupted(sweep.SweepReport(target="x"))

    monkeypatch.setattr(sweep, "profile_sweep", interrupted)
    code, _out, err = _run(capsys, "profile", str(checkpoint), "--tokens", "4", "--flops-only", "--catalog", url)
    assert code == 130 and "run the same command again to resume" in err


def test_profiling_is_quiet_unless_verbose(checkpoint: Path, tmp_path: Path) -> None:
    """Counting and timing run the model: transformers' deprecation notices must not reach the user."""
    import os
    import shutil
    import subprocess

    script = shutil.which("vlmplanner", path=str(Path(sys.executable).parent))
    assert script
    args = [script, "profile", str(checkpoint), "--tokens", "4", "--device", "cpu", "--dtype", "fp32",
            "--repeats", "1", "--warmup", "0", "--decode-steps", "1", "--text-tokens", "8", "--json",
            "--catalog", f"sqlite:///{tmp_path / 'quiet.sqlite3'}"]
    env = {k: v for k, v in os.environ.items() if k != "VLMPLANNER_VERBOSE"}
    result = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr
