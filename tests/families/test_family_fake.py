"""Full-size models from the shipped configs on FakeTensors: no weights, and a forward pass runs.

Recipe (docs/reference profiling notes, §1 item 1): build inside FakeTensorMode, pass real integer
inputs and a fake pixel_values, and run the forward with the fake mode *not* active.
"""

from __future__ import annotations

import resource
from pathlib import Path
from typing import Any

import pytest
from _extras import requires, requires_torch
from family_data import SHIPPED

from vlmplanner.compat import is_fake_tensor
from vlmplanner.errors import ValidationError
from vlmplanner.families import fake_mode_of, get_family, spec_from_config

#: A 2B model's fp32 weights are ~9 GB; building on fake tensors must stay far below even 1 GB.
PEAK_RSS_LIMIT_MB = 512
STATUS = Path("/proc/self/status")


def reset_peak_rss() -> bool:
    """Reset the process's peak RSS (Linux); False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return STATUS.exists()


def peak_rss_mb() -> float:
    if STATUS.exists():
        for line in STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@requires_torch
@pytest.mark.parametrize(("checkpoint", "config"), SHIPPED, ids=[c for c, _ in SHIPPED])
def test_full_size_model_builds_on_fake_tensors_and_runs(checkpoint: str, config: dict[str, Any]) -> None:
    import torch

    family = get_family(config["model_type"])
    hf_config = family.hf_config(config)
    family.build_fake(family.tiny_config())  # imports the modeling code before the peak is measured
    exact = reset_peak_rss()
    before = peak_rss_mb()
    model = family.build_fake(hf_config)
    grown = peak_rss_mb() - before

    params = list(model.parameters())
    assert params and all(is_fake_tensor(p) for p in params)
    total = sum(p.numel() for p in params)
    spec = spec_from_config(config, checkpoint=checkpoint, source="t")
    assert total > spec.llm.params_b * 1e9  # the whole VLM: the LLM plus its vision tower
    if exact:
        assert grown < PEAK_RSS_LIMIT_MB, f"peak RSS grew {grown:.0f} MB building {checkpoint}"

    mode = fake_mode_of(model)
    inputs = family.dummy_inputs(hf_config, image_size=(336, 448), text_tokens=8, pixel_values_fake_mode=mode)
    assert is_fake_tensor(inputs["pixel_values"])
    assert not any(is_fake_tensor(v) for k, v in inputs.items() if k != "pixel_values")
    with torch.no_grad(), family.fake_traceable():  # the fake mode is not active here
        out = model(**inputs, use_cache=False, logits_to_keep=1)
    assert is_fake_tensor(out.logits)
    assert tuple(out.logits.shape) == (1, 1, spec.llm.vocab_size)


@requires_torch
def test_components_of_a_fake_model_are_its_submodules() -> None:
    config = dict(SHIPPED)["Qwen/Qwen2-VL-2B-Instruct"]
    family = get_family(config["model_type"])
    model = family.build_fake(family.hf_config(config))
    parts = family.components(model)
    names = {id(m): n for n, m in model.named_modules()}
    assert {k: names[id(m)] for k, m in parts.items()} == {
        "vision_tower": "model.visual", "projector": "model.visual.merger",
        "llm_blocks": "model.language_model", "lm_head": "lm_head",
    }


@requires_torch
def test_fake_mode_of_a_real_model_is_an_error() -> None:
    import torch

    with pytest.raises(ValidationError, match="build_fake"):
        fake_mode_of(torch.nn.Linear(2, 2))


def test_hf_config_rejects_a_config_of_another_family() -> None:
    _, config = SHIPPED[0]
    other = "llava" if config["model_type"] != "llava" else "qwen2_vl"
    with pytest.raises(ValidationError) as info:
        get_family(other).hf_config(config)
    assert info.value.field == "model_type"


@requires("transformers")
def test_hf_config_turns_transformers_errors_into_validation_errors() -> None:
    config = dict(dict(SHIPPED)["Qwen/Qwen2-VL-2B-Instruct"], hidden_size="wide")
    with pytest.raises(ValidationError, match="transformers rejects this qwen2_vl config.json.*hidden_size"):
        get_family("qwen2_vl").hf_config(config)
