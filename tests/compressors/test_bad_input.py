"""Bad input fails early with an error naming the field: before torch is imported where it can
be, and before any layer is built."""

from __future__ import annotations

from pathlib import Path

import pytest
from _extras import requires_torch

from vlmplanner.compressors import CompressionContext, compressor_card, get_compressor
from vlmplanner.errors import InvalidTokenCountError, ValidationError


def test_more_tokens_than_the_image_has() -> None:
    with pytest.raises(InvalidTokenCountError) as info:
        get_compressor("visionzip", 577, native_tokens=576)
    assert info.value.field == "visual_tokens" and info.value.value == 577
    assert "only 576" in str(info.value)


@requires_torch
def test_more_tokens_than_the_features_hold() -> None:
    import torch

    compressor = get_compressor("cls-topk", 37)                       # no grid known yet: checked
    x = torch.randn(1, 36, 4)                                          # when the tokens arrive
    with pytest.raises(InvalidTokenCountError):
        compressor.compress(x, CompressionContext((6, 6), cls_attention=torch.rand(1, 36)))


@pytest.mark.parametrize(("name", "k", "options"), [
    ("pool", 50, {"grid": (24, 24)}),
    ("pool", 7, {"native_tokens": 576}),
    ("quecc", 25, {"grid": (24, 24), "allow_untrained": True}),
    ("none", 144, {"native_tokens": 576}),
    ("pool", 0, {}),
    ("divprune", -3, {}),
    ("cls-topk", 4.0, {}),
])
def test_token_count_the_compressor_does_not_allow(name: str, k: object, options: dict[str, object]) -> None:
    with pytest.raises(InvalidTokenCountError) as info:
        get_compressor(name, k, **options)  # type: ignore[arg-type]
    assert info.value.field == "visual_tokens"


def test_pool_error_lists_what_would_work() -> None:
    with pytest.raises(InvalidTokenCountError) as info:
        get_compressor("pool", 50, grid=(24, 24))
    assert "allowed: 1, 4, 9, 16, 36, 64, 144, 576" in str(info.value)


def test_family_not_supported() -> None:
    for name in ("cls-topk", "visionzip", "prumerge+", "quecc"):
        with pytest.raises(ValidationError) as info:
            get_compressor(name, 4, model_type="qwen2_vl", allow_untrained=True)
        assert info.value.field == "model_type" and info.value.value == "qwen2_vl"
    with pytest.raises(ValidationError):
        compressor_card("quecc").check_family("llava_next")


@requires_torch
def test_a_supported_family_builds() -> None:
    assert get_compressor("divprune", 4, model_type="qwen2_5_vl").visual_tokens == 4


@requires_torch
def test_trained_compressor_without_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import vlmplanner.compressors.quecc as quecc_module

    def no_layers(*args: object, **kwargs: object) -> None:
        raise AssertionError("a layer was built before the error")

    monkeypatch.setattr(quecc_module, "_mlp", no_layers)
    with pytest.raises(ValidationError) as info:
        get_compressor("quecc", 4)
    assert info.value.field == "weights" and "allow_untrained=True" in str(info.value)
    with pytest.raises(ValidationError) as info:
        get_compressor("quecc", 4, weights=tmp_path / "missing.safetensors")
    assert info.value.field == "weights" and "does not exist" in str(info.value)
    # weights for another token count: refused from the file's header, before any layer exists
    monkeypatch.undo()
    path = quecc_module.QueCC(1, grid=(4, 4), vision_dim=8, multi_dim=8, query_dim=4, heads=2).save_weights(
        tmp_path / "q1.safetensors")
    monkeypatch.setattr(quecc_module, "_mlp", no_layers)
    with pytest.raises(InvalidTokenCountError):
        get_compressor("quecc", 4, weights=path)


@requires_torch
def test_missing_context_input_is_named() -> None:
    import torch

    compressor = get_compressor("visionzip", 8)
    x = torch.randn(2, 36, 4)
    with pytest.raises(ValidationError) as info:
        compressor.compress(x, CompressionContext((6, 6), cls_attention=torch.rand(2, 36)))
    assert info.value.field == "context.keys" and "keys" in str(info.value)
    with pytest.raises(ValidationError) as info:
        compressor.compress(x, CompressionContext((6, 6), cls_attention=torch.rand(2, 35),
                                                  keys=torch.rand(2, 36, 3)))
    assert info.value.field == "context.cls_attention"


@requires_torch
def test_malformed_features() -> None:
    import torch

    compressor = get_compressor("pool", 4)
    with pytest.raises(ValidationError) as info:
        compressor.compress(torch.randn(36, 4), CompressionContext((6, 6)))
    assert info.value.field == "features"
    with pytest.raises(ValidationError) as info:
        compressor.compress(torch.randint(0, 3, (1, 36, 4)), CompressionContext((6, 6)))
    assert info.value.field == "features"
    with pytest.raises(ValidationError) as info:
        compressor.compress(torch.randn(1, 36, 4), CompressionContext((5, 6)))
    assert info.value.field == "context.grid"
    with pytest.raises(ValidationError) as info:
        get_compressor("pool", 4, grid=(6, 6)).compress(torch.randn(1, 36, 4), CompressionContext((4, 9)))
    assert info.value.field == "context.grid"


@requires_torch
def test_in_llm_compressor_has_no_pre_llm_call() -> None:
    import torch

    with pytest.raises(ValidationError) as info:
        get_compressor("fastv", 4).compress(torch.randn(1, 36, 4), CompressionContext((6, 6)))
    assert info.value.field == "kind" and "select()" in str(info.value)


def test_checks_do_not_need_torch_loaded_by_the_registry() -> None:
    # the lookups above import the implementations lazily; the card module itself never does
    from vlmplanner.compressors import _cards as cards
    from vlmplanner.compressors import base, registry

    for module in (cards, base, registry):
        assert "torch" not in module.__dict__
