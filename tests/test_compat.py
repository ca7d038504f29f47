"""Every shim in vlmplanner.compat against the installed torch, transformers and huggingface_hub.

Each test uses the private or fast-moving API the way vlmplanner does and checks the result, so a
release that moves or changes it fails here, by name, before it can miscount anywhere else.
"""

from __future__ import annotations

import re
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
from _extras import requires, requires_torch

from vlmplanner import compat
from vlmplanner.compat import IncompatibleVersionError
from vlmplanner.errors import MissingExtraError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def llava() -> Any:
    from vlmplanner.families import get_family

    return get_family("llava").build_tiny(seed=0)


@pytest.fixture(scope="module")
def qwen() -> Any:
    from vlmplanner.families import get_family

    return get_family("qwen2_vl").build_tiny(seed=0)


def llava_inputs(tiny: Any) -> dict[str, Any]:
    return dict(tiny.family.dummy_inputs(tiny.config, text_tokens=4))


# --- the module and its error -----------------------------------------------------------------------

def test_compat_imports_no_torch() -> None:
    code = "import sys, vlmplanner.compat; print(sorted(m for m in sys.modules if m.split('.')[0] in" \
           " ('torch', 'transformers', 'huggingface_hub')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_moved_api_names_the_shim_the_package_and_the_versions() -> None:
    with pytest.raises(IncompatibleVersionError) as info:
        compat.vlm_part(object(), "lm_head")
    error = info.value
    assert isinstance(error, MissingExtraError) and error.exit_code == 8
    assert error.shim == "vlm_part" and error.package == "transformers"
    assert "vlmplanner.compat.vlm_part: transformers" in error.message
    assert "has no lm_head on object" in error.message and "pip install 'transformers" in error.message
    assert "\n" not in error.message


def test_supported_reads_the_declared_range() -> None:
    """The range the error messages quote is pyproject's torch extra (as installed)."""
    line = next(li for li in (ROOT / "pyproject.toml").read_text().splitlines() if li.startswith("torch = ["))
    declared = dict(re.findall(r'"([A-Za-z_-]+)([<>=!~][^"]*)"', line))
    assert {"torch", "transformers", "huggingface-hub"} <= set(declared)
    for name in ("torch", "transformers"):
        assert compat.supported(name) == declared[name]
    assert compat.supported("huggingface_hub") == declared["huggingface-hub"]
    assert compat.supported("not-a-dependency") == ""


# --- torch -------------------------------------------------------------------------------------------

@requires_torch
def test_fake_tensor_mode_and_its_tensors() -> None:
    import torch

    mode = compat.fake_tensor_mode()
    with mode:
        layer = torch.nn.Linear(4096, 4096)        # 64 MB real; nothing allocated here
        out = layer(torch.ones(2, 4096))           # a real input is let in (allow_non_fake_inputs)
    assert compat.is_fake_tensor(layer.weight) and compat.is_fake_tensor(out)
    assert tuple(out.shape) == (2, 4096)
    assert compat.fake_mode_of(layer.weight) is mode
    real = torch.ones(2)
    assert not compat.is_fake_tensor(real) and compat.fake_mode_of(real) is None
    back = compat.as_fake_like(out, torch.ones(3, 5))
    assert compat.is_fake_tensor(back) and compat.fake_mode_of(back) is mode and tuple(back.shape) == (3, 5)


@requires_torch
def test_sdpa_flop_count_is_the_dense_formula() -> None:
    b, h, s, d = 2, 3, 5, 8
    assert compat.sdpa_flop_count((b, h, s, d), (b, h, s, d), (b, h, s, d)) == 2 * (2 * b * h * s * s * d)


@requires_torch
def test_cpu_sdpa_dispatches_to_the_op_the_formula_is_registered_for() -> None:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    q = k = v = torch.randn(1, 2, 6, 8)

    def formula(query_shape: Any, key_shape: Any, value_shape: Any, *args: Any, **kwargs: Any) -> int:
        return compat.sdpa_flop_count(query_shape, key_shape, value_shape)

    with FlopCounterMode(display=False, custom_mapping={compat.sdpa_cpu_op(): formula}) as counter:
        torch.nn.functional.scaled_dot_product_attention(q, k, v)
    assert counter.get_total_flops() == compat.sdpa_flop_count(q.shape, k.shape, v.shape) > 0


@requires_torch
def test_module_flops_names_modules_by_path_under_the_root() -> None:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Sequential(torch.nn.Linear(4, 2)))
    with FlopCounterMode(display=False) as counter:
        model(torch.ones(1, 4))
    total, per_module = compat.module_flops(counter)
    assert total == 2 * 4 * 4 + 2 * 4 * 2
    assert per_module["Sequential"] == total
    assert (per_module["Sequential.0"], per_module["Sequential.1"], per_module["Sequential.1.0"]) == (32, 16, 16)


# --- transformers: classes and helpers ---------------------------------------------------------------------

@requires("transformers")
def test_transformers_class() -> None:
    import transformers

    assert compat.transformers_class("LlavaConfig") is transformers.LlavaConfig
    with pytest.raises(IncompatibleVersionError, match="compat.transformers_class: transformers .* has no transformers.NoSuchModel"):
        compat.transformers_class("NoSuchModel")


@requires_torch
def test_no_init_weights_skips_initialization() -> None:
    import torch

    weight = torch.zeros(3, 3)
    with compat.no_init_weights():
        torch.nn.init.normal_(weight)
    assert torch.count_nonzero(weight) == 0
    torch.nn.init.normal_(weight)                  # restored afterwards
    assert torch.count_nonzero(weight) > 0


@requires_torch
@pytest.mark.parametrize(("size", "expected"), [((672, 672), (2, 2)), ((400, 1000), (1, 3)), ((1000, 300), (3, 1))])
def test_anyres_grid_shape_is_the_models_tiling(size: tuple[int, int], expected: tuple[int, int]) -> None:
    from vlmplanner.families.llava_next import DEFAULT_PINPOINTS, best_resolution

    assert compat.anyres_grid_shape(size, DEFAULT_PINPOINTS, 336) == expected
    height, width = best_resolution(*size, DEFAULT_PINPOINTS)           # our own copy of the rule agrees
    assert expected == (height // 336, width // 336)


@requires_torch
def test_traceable_llava_next_unpads_as_transformers_does() -> None:
    import torch
    from transformers.models.llava_next import modeling_llava_next as module

    original = module.unpad_image
    features = torch.arange(2 * 8 * 8, dtype=torch.float32).reshape(2, 8, 8)
    for size in ([300, 600], [600, 300], [512, 512]):
        expected = original(features, torch.tensor(size))
        with compat.traceable_llava_next():
            assert module.unpad_image is not original
            got = module.unpad_image(features, torch.tensor(size))
        assert torch.equal(got, expected), size
    assert module.unpad_image is original


# --- transformers: feeding features, positions and placeholders ----------------------------------------------

@requires_torch
def test_encoder_outputs_are_the_features_the_model_uses(llava: Any) -> None:
    import torch

    inputs = llava_inputs(llava)
    model = llava.model
    with torch.no_grad():
        own = model(**inputs).logits
        features = compat.image_features(compat.vlm_part(model, "inner_model"), inputs["pixel_values"],
                                         vision_feature_layer=llava.config.vision_feature_layer,
                                         vision_feature_select_strategy=llava.config.vision_feature_select_strategy)
        rest = {k: v for k, v in inputs.items() if k != "pixel_values"}
        fed = model(**rest, **compat.encoder_outputs(model, list(features))).logits
        zeroed = model(**rest, **compat.encoder_outputs(model, [torch.zeros_like(f) for f in features])).logits
    torch.testing.assert_close(fed, own)
    assert not torch.allclose(zeroed, own)          # the features are used, not ignored

    class OldModel(torch.nn.Module):
        def forward(self, input_ids: Any = None, **kwargs: Any) -> Any:
            return None

    with pytest.raises(IncompatibleVersionError, match="OldModel.forward takes no mm_encoder_outputs"):
        compat.encoder_outputs(OldModel(), list(features))
    with pytest.raises(IncompatibleVersionError, match="compat.encoder_outputs: transformers"):
        compat.check_encoder_outputs(OldModel())
    compat.check_encoder_outputs(model)


@requires_torch
def test_image_features_are_one_tensor_per_image(qwen: Any) -> None:
    import torch

    inputs = qwen.family.dummy_inputs(qwen.config, image_size=(112, 168), text_tokens=2, batch_size=2)
    with torch.no_grad():
        features = compat.image_features(compat.vlm_part(qwen.model, "inner_model"), inputs["pixel_values"],
                                         inputs["image_grid_thw"])
    merged = (112 // 28) * (168 // 28)
    assert len(features) == 2 and all(tuple(f.shape) == (merged, qwen.config.text_config.hidden_size)
                                      for f in features)


@requires_torch
def test_patch_rope_index_routes_the_models_positions(qwen: Any) -> None:
    import torch

    base = compat.vlm_part(qwen.model, "inner_model")
    calls: list[tuple[int, ...]] = []

    def replacement(input_ids: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(tuple(input_ids.shape))
        return None                                 # the model's own positions

    undo = compat.patch_rope_index(base, replacement)
    inputs = qwen.family.dummy_inputs(qwen.config, text_tokens=3)
    with torch.no_grad():
        qwen.model(**inputs)
    assert calls and calls[0] == tuple(inputs["input_ids"].shape)   # the model asks get_rope_index
    undo()
    assert "get_rope_index" not in vars(base)
    calls.clear()
    with torch.no_grad():
        qwen.model(**inputs)
    assert calls == []

    class Moved:
        def get_rope_index(self, input_ids: Any, image_grid_thw: Any = None) -> Any:
            return None

    with pytest.raises(IncompatibleVersionError, match="get_rope_index"):
        compat.patch_rope_index(Moved(), replacement)


@requires_torch
def test_override_placeholders_sets_the_image_token_count(llava: Any) -> None:
    from PIL import Image

    image = Image.new("RGB", (56, 56))
    prompt = llava.family.tiny_prompt
    image_id = compat.image_token_id(llava.config)
    native = int((llava.processor(text=prompt, images=image, return_tensors="pt")["input_ids"] == image_id).sum())
    overridden = compat.override_placeholders(llava.processor, lambda inputs, index: 3)
    ids = overridden(text=prompt, images=image, return_tensors="pt")["input_ids"]
    assert int((ids == image_id).sum()) == 3 != native
    assert type(llava.processor) is not type(overridden)           # the original is untouched
    compat.release_placeholders(overridden)
    ids = overridden(text=prompt, images=image, return_tensors="pt")["input_ids"]
    assert int((ids == image_id).sum()) == native


@requires_torch
def test_image_only_processor_class_saves_and_loads_without_video(qwen: Any, tmp_path: Path) -> None:
    cls = compat.image_only_processor_class(compat.transformers_class("Qwen2VLProcessor"))
    processor = cls(image_processor=qwen.processor.image_processor, tokenizer=qwen.tokenizer)
    assert processor.video_processor is None
    processor.save_pretrained(tmp_path)
    loaded = cls.from_pretrained(tmp_path)
    assert loaded.video_processor is None and loaded.image_token == processor.image_token


# --- transformers: the parts of a model ----------------------------------------------------------------------

@requires_torch
def test_vlm_parts(llava: Any, qwen: Any) -> None:
    names = {id(m): n for n, m in llava.model.named_modules()}
    assert {part: names[id(compat.vlm_part(llava.model, part))] for part in
            ("language_model", "vision_tower", "projector", "lm_head", "inner_model")} == {
        "language_model": "model.language_model", "vision_tower": "model.vision_tower",
        "projector": "model.multi_modal_projector", "lm_head": "lm_head", "inner_model": "model"}
    names = {id(m): n for n, m in qwen.model.named_modules()}
    assert names[id(compat.vlm_part(qwen.model, "vision_tower"))] == "model.visual"
    assert names[id(compat.vlm_part(qwen.model, "projector"))] == "model.visual.merger"
    with pytest.raises(ValueError, match="unknown VLM part"):
        compat.vlm_part(llava.model, "tower")


@requires_torch
def test_decoder_attention_and_layer_inputs(llava: Any) -> None:
    import torch

    text = llava.config.text_config
    layers = compat.vlm_part(llava.model, "language_model").layers
    parts = compat.decoder_attention(layers[0])
    head_dim = text.hidden_size // text.num_attention_heads
    assert parts.head_dim == head_dim and parts.scaling == pytest.approx(head_dim ** -0.5)
    assert parts.q_proj.out_features == text.num_attention_heads * head_dim
    seen: list[Any] = []
    handle = layers[0].register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(compat.decoder_layer_inputs(args, kwargs)), with_kwargs=True)
    inputs = llava_inputs(llava)
    try:
        with torch.no_grad():
            llava.model(**inputs)
    finally:
        handle.remove()
    hidden, (cos, sin), _mask = seen[0]
    length = inputs["input_ids"].shape[1]
    assert tuple(hidden.shape) == (1, length, text.hidden_size)
    assert tuple(cos.shape)[-2:] == tuple(sin.shape)[-2:] == (length, head_dim)
    with pytest.raises(IncompatibleVersionError, match="position_embeddings"):
        compat.decoder_layer_inputs((hidden,), {})


@requires_torch
def test_clip_attention_and_encoder_layers(llava: Any) -> None:
    vision = llava.config.vision_config
    tower = compat.vlm_part(llava.model, "vision_tower")
    layers = compat.clip_encoder_layers(tower)
    assert len(layers) == vision.num_hidden_layers
    parts = compat.clip_attention(layers[0])
    assert parts.heads == vision.num_attention_heads
    assert parts.scale == pytest.approx((vision.hidden_size // vision.num_attention_heads) ** -0.5)
    assert parts.k_proj.in_features == vision.hidden_size


@requires_torch
def test_image_token_id(llava: Any, qwen: Any) -> None:
    assert compat.image_token_id(llava.config) == llava.tokenizer.convert_tokens_to_ids("<image>")
    assert compat.image_token_id(qwen.config) == qwen.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    with pytest.raises(IncompatibleVersionError, match="image_token_id"):
        compat.image_token_id(object())


# --- huggingface_hub -------------------------------------------------------------------------------------------

def test_hub_offline_and_endpoint_follow_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert compat.hub_offline()
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert not compat.hub_offline()
    monkeypatch.setenv("HF_ENDPOINT", "http://mirror.example:8080/")
    assert compat.hub_endpoint() == "http://mirror.example:8080"


@requires("huggingface_hub")
def test_hub_cached_reads_the_cache_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    assert not compat.hub_cached("org/model")
    repo = tmp_path / "models--org--model"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    (repo / "snapshots" / "abc123").mkdir(parents=True)
    (repo / "snapshots" / "abc123" / "config.json").write_text("{}")
    assert compat.hub_cached("org/model")
    assert not compat.hub_cached("org/model", "model.safetensors")


# --- quiet loading -------------------------------------------------------------------------------------------

@requires("transformers")
def test_quiet_hf_silences_and_restores(monkeypatch: pytest.MonkeyPatch) -> None:
    import logging as std_logging

    from huggingface_hub.utils import are_progress_bars_disabled
    from transformers.utils import logging

    logger = logging.get_logger("transformers.modeling_utils")
    level, bars, hub_bars = logging.get_verbosity(), logging.is_progress_bar_enabled(), are_progress_bars_disabled()
    with compat.quiet_hf():
        assert not logger.isEnabledFor(std_logging.WARNING)
        assert not logging.is_progress_bar_enabled() and are_progress_bars_disabled()
        # the suite turns warnings into errors: these would fail the test if they got through
        warnings.warn("old API", FutureWarning, stacklevel=1)
        warnings.warn("older API", DeprecationWarning, stacklevel=1)
    assert (logging.get_verbosity(), logging.is_progress_bar_enabled(), are_progress_bars_disabled()) == (
        level, bars, hub_bars)

    monkeypatch.setenv("VLMPLANNER_VERBOSE", "1")
    with compat.quiet_hf(), pytest.warns(FutureWarning):
        assert logging.get_verbosity() == level and logging.is_progress_bar_enabled() == bars
        warnings.warn("old API", FutureWarning, stacklevel=1)
