"""config.json → ModelSpec: the shipped configs give the catalog's numbers; bad configs name the key."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from _extras import requires
from family_data import FAMILIES, SHIPPED, catalog_rows

from vlmplanner.errors import ValidationError
from vlmplanner.families import get_family, spec_from_config
from vlmplanner.families._config import TEXT_DEFAULTS, VISION_DEFAULTS

ROWS = catalog_rows()

#: Known, documented differences between a shipped config.json and its models.csv row.
KNOWN_DIFFERENCES = {
    # the shipped file is the OLD hub revision (vocab 32128); the catalog row follows the later
    # revision (32064), as models.csv's note says
    ("llava-hf/llava-1.5-13b-hf", "llm_vocab_size"): ("32128", "32064"),
}


def spec_numbers(spec: Any) -> dict[str, str]:
    llm, vision = spec.llm, spec.vision
    numbers = {f"llm_{k}": getattr(llm, k) for k in ("num_layers", "hidden_size", "num_heads", "num_kv_heads",
                                                     "intermediate_size", "vocab_size", "tie_word_embeddings")}
    numbers |= {f"vision_{k}": getattr(vision, k) for k in ("image_size", "patch_size", "num_layers", "hidden_size",
                                                           "num_heads", "intermediate_size", "spatial_merge_size")}
    numbers |= {"native_visual_tokens": spec.native_visual_tokens, "model_type": spec.model_type,
                "projector": spec.projector}
    return {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in numbers.items()}


#: Built-in families with no faithful config.json copy found yet (their tests use configs in the
#: released layout: tests/families/test_internvl.py, test_llava_onevision.py, test_qwen3_5.py).
NOT_SHIPPED = {"internvl", "llava_onevision", "qwen3_5", "qwen3_5_moe"}


def test_every_built_in_family_has_a_shipped_config() -> None:
    assert {config["model_type"] for _, config in SHIPPED} == set(FAMILIES) - NOT_SHIPPED
    assert len(SHIPPED) == 15


@pytest.mark.parametrize(("checkpoint", "config"), SHIPPED, ids=[c for c, _ in SHIPPED])
def test_shipped_config_gives_the_catalog_row(checkpoint: str, config: dict[str, Any]) -> None:
    spec = spec_from_config(config, checkpoint=checkpoint, source="test")
    row = ROWS[checkpoint]
    for key, value in spec_numbers(spec).items():
        expected = KNOWN_DIFFERENCES.get((checkpoint, key), (row[key], row[key]))
        assert (value, row[key]) == expected, key
    assert spec.checkpoint == checkpoint and spec.source == "test"
    # the family's token count of the spec's own reference image is the native count
    family = get_family(config["model_type"])
    reference = family.reference_image(spec)
    assert family.visual_tokens(spec, reference) == spec.native_visual_tokens == family.visual_tokens(spec)


@pytest.mark.parametrize(("checkpoint", "config"), SHIPPED, ids=[c for c, _ in SHIPPED])
def test_params_b_is_the_language_models_exact_count(checkpoint: str, config: dict[str, Any]) -> None:
    spec = spec_from_config(config, checkpoint=checkpoint, source="test")
    nominal = {"Qwen/Qwen2-VL-2B-Instruct": 1.54, "Qwen/Qwen3-VL-2B-Instruct": 1.72}.get(checkpoint, float(ROWS[checkpoint]["llm_params_b"]))
    # Vicuna-7B is 6.74 B, Mistral-7B 7.24 B, Qwen2.5-VL-3B's LLM 3.09 B, 7B's 7.62 B: near the name
    assert abs(spec.llm.params_b - nominal) / nominal < 0.12
    assert spec_from_config(config, checkpoint=checkpoint, source="t", params_b=7.0).llm.params_b == 7.0


@requires("transformers")
def test_defaults_tables_match_transformers() -> None:
    import transformers

    classes = {"llama": "LlamaConfig", "mistral": "MistralConfig", "qwen2": "Qwen2Config",
               "qwen2_vl_text": "Qwen2VLTextConfig", "qwen2_5_vl_text": "Qwen2_5_VLTextConfig",
               "clip_vision_model": "CLIPVisionConfig", "siglip_vision_model": "SiglipVisionConfig",
               "qwen2_vl_vision": "Qwen2VLVisionConfig", "qwen2_5_vl_vision": "Qwen2_5_VLVisionConfig",
               "qwen3_vl_text": "Qwen3VLTextConfig", "qwen3_vl_moe_text": "Qwen3VLMoeTextConfig",
               "qwen3_vl_vision": "Qwen3VLVisionConfig", "gemma3_text": "Gemma3TextConfig",
               "qwen3": "Qwen3Config", "qwen3_5_text": "Qwen3_5TextConfig", "qwen3_5_vision": "Qwen3_5VisionConfig",
               "qwen3_5_moe_text": "Qwen3_5MoeTextConfig", "qwen3_5_moe_vision": "Qwen3_5MoeVisionConfig"}
    for model_type, defaults in {**TEXT_DEFAULTS, **VISION_DEFAULTS}.items():
        config = getattr(transformers, classes[model_type])()
        for key, value in defaults.items():
            if not hasattr(config, key):  # the Qwen text configs leave tying to the composite config
                assert key == "tie_word_embeddings" and value is False, f"{model_type}.{key}"
                continue
            actual = getattr(config, key)
            if key == "num_key_value_heads" and value is None:
                value = config.num_attention_heads
            assert actual == value, f"{model_type}.{key}"


def test_a_text_config_without_dimensions_takes_the_llama_defaults() -> None:
    # llava-hf/llava-1.5-7b-hf's text_config lists no hidden sizes: LlamaConfig's apply
    config = dict(SHIPPED[[c for c, _ in SHIPPED].index("llava-hf/llava-1.5-7b-hf")][1])
    config.pop("text_config")
    spec = spec_from_config(config, checkpoint="x/y", source="t")
    assert (spec.llm.num_layers, spec.llm.hidden_size, spec.llm.intermediate_size, spec.llm.vocab_size) == (
        32, 4096, 11008, 32064)  # the top-level vocab_size is used when text_config has none


def shipped(checkpoint: str) -> dict[str, Any]:
    return copy.deepcopy(dict(SHIPPED)[checkpoint])


@pytest.mark.parametrize(("checkpoint", "path", "value", "field"), [
    ("llava-hf/llava-1.5-7b-hf", ("vision_config", "patch_size"), 0, "vision_config.patch_size"),
    ("llava-hf/llava-1.5-7b-hf", ("text_config", "num_hidden_layers"), -2, "text_config.num_hidden_layers"),
    ("llava-hf/llava-1.5-7b-hf", ("text_config", "hidden_size"), "4096", "text_config.hidden_size"),
    ("llava-hf/llava-1.5-7b-hf", ("text_config", "num_key_value_heads"), 5, "text_config.num_key_value_heads"),
    ("llava-hf/llava-v1.6-vicuna-7b-hf", ("vision_config", "image_size"), 1.5, "vision_config.image_size"),
    ("Qwen/Qwen2-VL-2B-Instruct", ("hidden_size",), 0, "hidden_size"),
    ("Qwen/Qwen2-VL-2B-Instruct", ("vision_config", "mlp_ratio"), -4, "vision_config.mlp_ratio"),
    ("Qwen/Qwen2.5-VL-7B-Instruct", ("vision_config", "depth"), True, "vision_config.depth"),
])
def test_a_bad_dimension_is_named(checkpoint: str, path: tuple[str, ...], value: Any, field: str) -> None:
    config = shipped(checkpoint)
    target = config
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ValidationError) as info:
        spec_from_config(config, checkpoint=checkpoint, source="t")
    assert info.value.field == field and field in str(info.value)


def test_a_missing_dimension_without_a_default_is_named() -> None:
    config = shipped("llava-hf/llava-1.5-7b-hf")
    config["text_config"]["model_type"] = "gemma"  # no defaults known for it: every key must be given
    with pytest.raises(ValidationError) as info:
        spec_from_config(config, checkpoint="x/y", source="t")
    assert info.value.field == "text_config.num_hidden_layers"
    assert "config.json has no text_config.num_hidden_layers" in str(info.value)


def test_unsupported_and_missing_model_types() -> None:
    with pytest.raises(ValidationError) as info:
        spec_from_config({"model_type": "blip-2"}, checkpoint="x/y", source="t")
    assert info.value.field == "model_type"
    assert "llava, llava_next, llava_onevision, qwen2_5_vl, qwen2_vl" in str(info.value)
    with pytest.raises(ValidationError, match="no model_type"):
        spec_from_config({"hidden_size": 4}, checkpoint="x/y", source="t")
    with pytest.raises(ValidationError, match="model_type 'qwen2_vl'"):
        get_family("llava").spec_from_config(shipped("Qwen/Qwen2-VL-2B-Instruct"), checkpoint="x/y", source="t")


def test_an_unknown_vision_tower_and_strategy_are_refused() -> None:
    config = shipped("llava-hf/llava-1.5-7b-hf")
    config["vision_config"]["model_type"] = "dinov2"
    with pytest.raises(ValidationError, match="supports vision towers") as info:
        spec_from_config(config, checkpoint="x/y", source="t")
    assert info.value.field == "vision_config.model_type"
    config = shipped("llava-hf/llava-1.5-7b-hf")
    config["vision_feature_select_strategy"] = "cls"
    with pytest.raises(ValidationError) as info:
        spec_from_config(config, checkpoint="x/y", source="t")
    assert info.value.field == "vision_feature_select_strategy"


def test_a_bad_checkpoint_id_is_a_validation_error() -> None:
    with pytest.raises(ValidationError) as info:
        spec_from_config(shipped("llava-hf/llava-1.5-7b-hf"), checkpoint="a+b@3", source="t")
    assert info.value.field == "checkpoint"


def test_qwen_original_and_nested_formats_agree() -> None:
    """Later hub re-saves move the language-model keys under text_config."""
    original = shipped("Qwen/Qwen2.5-VL-7B-Instruct")
    keys = ("hidden_size", "intermediate_size", "num_attention_heads", "num_hidden_layers", "num_key_value_heads",
            "vocab_size")
    nested = {k: v for k, v in original.items() if k not in keys}
    nested["text_config"] = {k: original[k] for k in keys}
    a = spec_from_config(original, checkpoint="x/y", source="t")
    b = spec_from_config(nested, checkpoint="x/y", source="t")
    assert a == b


def _drop(config: dict[str, Any], *path: str) -> dict[str, Any]:
    config = copy.deepcopy(config)
    target = config
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return config


VARIANTS = [(c, cfg) for c, cfg in SHIPPED] + [
    ("qwen2-vl without layers", _drop(dict(SHIPPED)["Qwen/Qwen2-VL-2B-Instruct"], "num_hidden_layers")),
    ("qwen2-vl without vision depth", _drop(dict(SHIPPED)["Qwen/Qwen2-VL-2B-Instruct"], "vision_config", "depth")),
    ("qwen2.5-vl without kv heads", _drop(dict(SHIPPED)["Qwen/Qwen2.5-VL-3B-Instruct"], "num_key_value_heads")),
    ("llava without image size", _drop(dict(SHIPPED)["llava-hf/llava-1.5-7b-hf"], "vision_config", "image_size")),
    ("llava without vision_config", _drop(dict(SHIPPED)["llava-hf/llava-1.5-7b-hf"], "vision_config")),
    ("llava-next without pinpoints", _drop(dict(SHIPPED)["llava-hf/llava-v1.6-mistral-7b-hf"], "image_grid_pinpoints")),
    ("llava-next mistral without kv heads",
     _drop(dict(SHIPPED)["llava-hf/llava-v1.6-mistral-7b-hf"], "text_config", "num_key_value_heads")),
]


@requires("transformers")
@pytest.mark.parametrize(("name", "config"), VARIANTS, ids=[n for n, _ in VARIANTS])
def test_spec_agrees_with_transformers_reading_of_the_config(name: str, config: dict[str, Any]) -> None:
    """What spec_from_config reads (without transformers) is what transformers builds the model from."""
    family = get_family(config["model_type"])
    spec = family.spec_from_config(config, checkpoint="x/y", source="t")
    hf = family.hf_config(config)
    text, vision = hf.text_config, hf.vision_config
    assert (spec.llm.num_layers, spec.llm.hidden_size, spec.llm.num_heads, spec.llm.num_kv_heads,
            spec.llm.intermediate_size, spec.llm.vocab_size) == (
        text.num_hidden_layers, text.hidden_size, text.num_attention_heads, text.num_key_value_heads,
        text.intermediate_size, text.vocab_size)
    assert spec.llm.tie_word_embeddings == bool(hf.tie_word_embeddings)
    # Qwen's vision configs name layers and heads depth / num_heads (later releases alias them)
    qwen = spec.model_type.startswith("qwen")
    layers, heads = (vision.depth, vision.num_heads) if qwen else (vision.num_hidden_layers,
                                                                   vision.num_attention_heads)
    assert (spec.vision.num_layers, spec.vision.num_heads, spec.vision.patch_size) == (layers, heads, vision.patch_size)
    if not qwen:
        assert (spec.vision.image_size, spec.vision.hidden_size, spec.vision.intermediate_size) == (
            vision.image_size, vision.hidden_size, vision.intermediate_size)
    else:
        width = vision.embed_dim if spec.model_type == "qwen2_vl" else vision.hidden_size
        assert spec.vision.hidden_size == width and spec.vision.spatial_merge_size == vision.spatial_merge_size
