"""Bad input to load() raises a ValidationError subclass naming the field and the value, before
anything is loaded (the family's load() is never reached; resolve() does not even import torch)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pipeline_helpers import SavedModel

import vlmplanner
from vlmplanner.errors import (
    DeviceUnavailableError,
    InvalidTokenCountError,
    UnknownCompressorError,
    UnknownModelError,
    ValidationError,
)


@pytest.fixture
def no_loading(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Any attempt to load a model fails the test."""
    from vlmplanner.families._hf import HFFamily

    calls: list[str] = []

    def refuse(self: Any, checkpoint: Any, **kwargs: Any) -> Any:
        calls.append(str(checkpoint))
        raise AssertionError(f"load() reached family.load({checkpoint!r}) despite bad input")

    monkeypatch.setattr(HFFamily, "load", refuse)
    return calls


def quecc_file(tmp_path: Path, k: int, grid: tuple[int, int] = (4, 4), vision_dim: int = 32) -> Path:
    from vlmplanner.compressors.quecc import QueCC

    quecc = QueCC(k, grid=grid, vision_dim=vision_dim, query_dim=32, seed=0)
    quecc.mark_trained("test")
    return quecc.save_weights(tmp_path / f"quecc-{k}.safetensors")


CASES: list[tuple[str, str, dict[str, Any], type[Exception], str, Any]] = [
    # (id, key, extra kwargs, error, field, value)
    ("k-above-native", "tiny/llava+pool@64", {}, InvalidTokenCountError, "visual_tokens", 64),
    ("k-above-native-any-rule", "tiny/llava+cls-topk@17", {}, InvalidTokenCountError, "visual_tokens", 17),
    ("pool-not-a-square", "tiny/llava+pool@5", {}, InvalidTokenCountError, "visual_tokens", 5),
    ("quecc-not-a-conv-grid", "tiny/llava+quecc@16", {}, InvalidTokenCountError, "visual_tokens", 16),
    ("none-compresses-nothing", "tiny/llava+none@8", {}, InvalidTokenCountError, "visual_tokens", 8),
    ("next-not-a-multiple-of-crops", "tiny/llava_next+visionzip@12", {}, InvalidTokenCountError, "visual_tokens",
     12),
    ("next-per-crop-pool", "tiny/llava_next+pool@10", {}, InvalidTokenCountError, "visual_tokens", 10),
    ("qwen-k-above-native", "tiny/qwen2_vl+divprune@300", {}, InvalidTokenCountError, "visual_tokens", 300),
    ("family-not-supported", "tiny/qwen2_vl+cls-topk@4", {}, ValidationError, "model_type", "qwen2_vl"),
    ("quecc-on-next", "tiny/llava_next+quecc@5", {}, ValidationError, "model_type", "llava_next"),
    ("trained-without-weights", "tiny/llava+quecc@4", {}, ValidationError, "weights", None),
    ("weights-missing-file", "tiny/llava+quecc@4", {"compressor_weights": "nope.safetensors"}, ValidationError,
     "weights", "nope.safetensors"),
    ("weights-for-training-free", "tiny/llava+pool@4", {"compressor_weights": "x.safetensors"}, ValidationError,
     "weights", "x.safetensors"),
    ("fastv-layer-too-deep", "tiny/llava+fastv@4", {"compressor_options": {"prune_layer": 3}}, ValidationError,
     "prune_layer", 3),
    ("malformed-key", "tiny/llava-pool-4", {}, ValidationError, "key", "tiny/llava-pool-4"),
    ("zero-tokens", "tiny/llava+pool@0", {}, InvalidTokenCountError, "visual_tokens", 0),
    ("unknown-compressor", "tiny/llava+poool@4", {}, UnknownCompressorError, "compressor", "poool"),
    ("unknown-model", "tiny/nothing+pool@4", {}, UnknownModelError, "model", "tiny/nothing"),
    ("bad-device", "tiny/llava+pool@4", {"device": "gpu"}, ValidationError, "device", "gpu"),
    ("bad-dtype", "tiny/llava+pool@4", {"dtype": "int8"}, ValidationError, "dtype", "int8"),
    ("reserved-option", "tiny/llava+pool@4", {"compressor_options": {"visual_tokens": 9}}, ValidationError,
     "compressor_options.visual_tokens", 9),
    ("unknown-option", "tiny/llava+pool@4", {"compressor_options": {"colour": "red"}}, ValidationError, "colour",
     None),
    ("bad-architecture", "tiny/llava+pool@4", {"architecture": "loose"}, ValidationError, "architecture", "loose"),
    ("share-on-fixed-resolution", "tiny/llava+divprune@25%", {}, InvalidTokenCountError, "share", 0.25),
    ("share-out-of-range", "tiny/qwen2_vl+divprune@101%", {}, InvalidTokenCountError, "share", "101%"),
]


@pytest.mark.parametrize(("key", "extra", "error", "field", "value"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_input_is_refused_before_loading(key: str, extra: dict[str, Any], error: type[Exception], field: str,
                                             value: Any, saved: dict[str, SavedModel], catalog: Any,
                                             no_loading: list[str]) -> None:
    family = key.split("+")[0].split("/")[1]
    directory = saved[family].directory if family in saved else saved["llava"].directory
    with pytest.raises(error) as info:
        vlmplanner.load(key, catalog=catalog, checkpoint=directory, **extra)
    assert isinstance(info.value, (ValidationError, vlmplanner.NotFoundError))
    assert info.value.field == field, info.value.message
    if value is not None:
        assert info.value.value == value
    assert no_loading == []


def test_weights_for_another_k_or_model_are_refused_before_loading(tmp_path: Path, saved: dict[str, SavedModel],
                                                                  catalog: Any, no_loading: list[str]) -> None:
    directory = saved["llava"].directory
    with pytest.raises(InvalidTokenCountError) as info:
        vlmplanner.load("tiny/llava+quecc@4", catalog=catalog, checkpoint=directory,
                        compressor_weights=quecc_file(tmp_path, 1))
    assert info.value.field == "visual_tokens"
    with pytest.raises(ValidationError) as info:        # trained for a 64-wide tower
        vlmplanner.load("tiny/llava+quecc@4", catalog=catalog, checkpoint=directory,
                        compressor_weights=quecc_file(tmp_path, 4, vision_dim=64))
    assert info.value.field == "vision_dim"
    assert no_loading == []


def test_checkpoint_problems(tmp_path: Path, saved: dict[str, SavedModel], catalog: Any,
                             no_loading: list[str]) -> None:
    with pytest.raises(ValidationError) as info:
        vlmplanner.load("tiny/llava+pool@4", catalog=catalog, checkpoint=tmp_path / "missing")
    assert info.value.field == "checkpoint"
    with pytest.raises(ValidationError) as info:
        vlmplanner.load("tiny/llava+pool@4", catalog=catalog, checkpoint=tmp_path)     # no config.json
    assert info.value.field == "checkpoint" and "config.json" in info.value.message
    with pytest.raises(ValidationError) as info:                                       # another family's weights
        vlmplanner.load("tiny/llava+pool@4", catalog=catalog, checkpoint=saved["qwen2_vl"].directory)
    assert info.value.field == "checkpoint" and "qwen2_vl" in info.value.message
    assert no_loading == []


def test_paper_grid_model_without_weights(catalog: Any, no_loading: list[str]) -> None:
    unreleased = next(m for m in catalog.models() if not m.public_checkpoint)
    with pytest.raises(ValidationError) as info:
        vlmplanner.load(f"{unreleased.checkpoint}+pool@16", catalog=catalog)
    assert info.value.field == "checkpoint" and "no released weights" in info.value.message


def test_devices_this_machine_lacks(saved: dict[str, SavedModel], catalog: Any, no_loading: list[str]) -> None:
    import torch

    missing = [f"cuda:{torch.cuda.device_count()}", "mps" if not torch.backends.mps.is_available() else None,
               "cuda" if not torch.cuda.is_available() else None]
    for device in filter(None, missing):
        with pytest.raises(DeviceUnavailableError) as info:
            vlmplanner.load("tiny/llava+pool@4", catalog=catalog, checkpoint=saved["llava"].directory, device=device)
        assert info.value.field == "device" and info.value.value == device
        assert info.value.message.startswith(f"device {device!r} is not available: ") and "\n" not in info.value.message
    assert no_loading == []


def test_runtime_image_problems_are_named(saved: dict[str, SavedModel], catalog: Any) -> None:
    """Qwen's grid follows the image: a k the image cannot give is refused before the model runs."""
    from pipeline_helpers import make_image

    with vlmplanner.load("tiny/qwen2_vl+pool@16", catalog=catalog, checkpoint=saved["qwen2_vl"].directory) as p:
        with pytest.raises(InvalidTokenCountError) as info:
            p.generate(make_image(56, 56), "describe it .")              # 2x2 merged tokens: only 4
        assert info.value.field == "visual_tokens"
        with pytest.raises(InvalidTokenCountError) as info:
            p.generate(make_image(112, 168), "describe it .")            # 4x6: 16 does not tile it
        assert "allowed" in info.value.message
        with pytest.raises(ValidationError) as info:
            p.generate([make_image(112, 112)], ["a", "b"])
        assert info.value.field == "images"
        with pytest.raises(ValidationError) as info:
            p.generate("/no/such/image.png", "describe it .")
        assert info.value.field == "images"


def test_resolve_checks_without_torch(saved: dict[str, SavedModel], catalog_file: str) -> None:
    """The checks are plain Python: a bad k is refused without torch or transformers imported."""
    code = (
        "import sys, json\n"
        "from vlmplanner.pipeline import resolve\n"
        "from vlmplanner.errors import VlmPlannerError\n"
        f"try:\n    resolve('tiny/llava+pool@5', catalog={catalog_file!r}, checkpoint={str(saved['llava'].directory)!r})\n"
        "except VlmPlannerError as e:\n    print(json.dumps([type(e).__name__, e.field]))\n"
        f"plan = resolve('tiny/llava_next+visionzip@30', catalog={catalog_file!r},"
        f" checkpoint={str(saved['llava_next'].directory)!r})\n"
        "import vlmplanner\n"
        "assert callable(vlmplanner.load)\n"
        "print(json.dumps([plan.compressor_tokens, plan.crops, 'torch' in sys.modules,"
        " 'transformers' in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.splitlines()
    assert json.loads(out[0]) == ["InvalidTokenCountError", "visual_tokens"]
    assert json.loads(out[1]) == [6, 5, False, False]


def test_weights_of_another_architecture_are_refused(tmp_path: Path, catalog: Any, no_loading: list[str]) -> None:
    """checkpoint= must hold the catalog model's architecture (read from its config.json, cheaply)."""
    from pipeline_helpers import build

    other = build("llava", text_config={"hidden_size": 64, "intermediate_size": 64})
    other.model.config.save_pretrained(tmp_path)          # config.json is all the check reads
    with pytest.raises(ValidationError) as info:
        vlmplanner.load("tiny/llava+pool@4", catalog=catalog, checkpoint=tmp_path)
    assert info.value.field == "checkpoint" and "llm.hidden_size 64" in info.value.message
    assert no_loading == []


def test_fastv_needs_the_cache(saved: dict[str, SavedModel], catalog: Any) -> None:
    from pipeline_helpers import make_image

    with vlmplanner.load("tiny/llava+fastv@4", catalog=catalog, checkpoint=saved["llava"].directory) as p:
        with pytest.raises(ValidationError) as info:
            p.generate(make_image(60, 60), "describe it .", use_cache=False)
        assert info.value.field == "use_cache"
