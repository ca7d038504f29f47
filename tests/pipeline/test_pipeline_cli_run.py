"""``vlmplanner run KEY --image x.png --prompt …``: answers on stdout, errors as one line with exit 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pipeline_helpers import SavedModel, make_image

from vlmplanner.cli.app import main


@pytest.fixture
def png(tmp_path: Path) -> Path:
    path = tmp_path / "x.png"
    make_image(112, 112, seed=4).save(path)
    return path


def test_run_prints_the_answer(saved: dict[str, SavedModel], catalog_file: str, png: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "tiny/qwen2_vl+pool@4", "--image", str(png), "--prompt", "what is in the picture ?",
                 "--checkpoint", str(saved["qwen2_vl"].directory), "--catalog", catalog_file,
                 "--max-new-tokens", "3"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert len(out.out.strip().splitlines()) == 1


def test_run_json_with_two_images(saved: dict[str, SavedModel], catalog_file: str, png: Path, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "y.jpg"
    make_image(90, 60, seed=5).save(other)
    code = main(["run", "tiny/llava+visionzip@6", "--image", str(png), "--image", str(other), "--prompt",
                 "describe it .", "--checkpoint", str(saved["llava"].directory), "--catalog", catalog_file,
                 "--max-new-tokens", "2", "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    data: dict[str, Any] = json.loads(out.out)
    assert data["key"] == "tiny/llava+visionzip@6"
    assert [r["visual_tokens"] for r in data["results"]] == [6, 6]
    assert all(isinstance(r["answer"], str) for r in data["results"])


@pytest.mark.parametrize(("args", "needle"), [
    (["tiny/llava+pool@5"], "tile"),                                 # k the compressor does not allow
    (["tiny/llava+pool@64"], "64"),                                  # more than the model produces
    (["tiny/qwen2_vl+visionzip@4"], "does not support model_type"),   # family not served
    (["tiny/llava+quecc@4"], "compressor_weights"),                  # trained, no weights
    (["tiny/llava+pool@4", "--device", "gpu"], "device"),
])
def test_run_refuses_bad_input_in_one_line(args: list[str], needle: str, saved: dict[str, SavedModel],
                                           catalog_file: str, png: Path, capsys: pytest.CaptureFixture[str]) -> None:
    family = args[0].split("+")[0].split("/")[1]
    code = main(["run", *args, "--image", str(png), "--prompt", "x", "--checkpoint",
                 str(saved[family].directory), "--catalog", catalog_file])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1 and needle in err


def test_run_refuses_a_missing_image(saved: dict[str, SavedModel], catalog_file: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "tiny/llava+pool@4", "--image", "/no/such.png", "--prompt", "x", "--catalog", catalog_file,
                 "--checkpoint", str(saved["llava"].directory)])
    assert code == 2 and "/no/such.png" in capsys.readouterr().err
