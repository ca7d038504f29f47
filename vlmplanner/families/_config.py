"""Reading a checkpoint's config.json without transformers: keys, defaults, checks, parameter counts.

Registering a model must work in the light install (no torch, no transformers), so the adapters read
config.json dicts with these helpers. Where a key is absent, transformers fills in its config class's
default; the tables below copy those defaults for the classes the built-in families meet
(tests/families/test_config_defaults.py checks them against transformers itself).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from vlmplanner.errors import ValidationError

if TYPE_CHECKING:
    from vlmplanner.schemas import ModelSpec

__all__ = [
    "text_config_numbers",
    "LIMITS",
    "counted_llm_params",
    "TEXT_DEFAULTS",
    "VISION_DEFAULTS",
    "Section",
    "check_limit",
    "llm_parameter_count",
    "round_billions",
]

_MISSING = object()

#: Qwen3-VL's ViT (Qwen3VLVisionConfig's defaults, which Qwen3.5's and Qwen3.5-MoE's repeat).
_QWEN3_VIT: dict[str, Any] = {"depth": 27, "hidden_size": 1152, "intermediate_size": 4304, "num_heads": 16,
                              "patch_size": 16, "spatial_merge_size": 2, "temporal_patch_size": 2,
                              "out_hidden_size": 3584, "num_position_embeddings": 2304}

#: transformers' defaults for the language models the built-in families wrap, by text model_type.
#: ``num_key_value_heads`` None means "equal to num_attention_heads", as transformers does.
TEXT_DEFAULTS: dict[str, dict[str, Any]] = {
    "llama": {"vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32,
              "num_attention_heads": 32, "num_key_value_heads": None, "tie_word_embeddings": False},
    "mistral": {"vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
                "num_attention_heads": 32, "num_key_value_heads": 8, "tie_word_embeddings": False},
    "qwen2": {"vocab_size": 151936, "hidden_size": 4096, "intermediate_size": 22016, "num_hidden_layers": 32,
              "num_attention_heads": 32, "num_key_value_heads": 32, "tie_word_embeddings": False},
    # the language models inside Qwen2-VL / Qwen2.5-VL (Qwen2VLTextConfig, Qwen2_5_VLTextConfig)
    "qwen2_vl_text": {"vocab_size": 152064, "hidden_size": 8192, "intermediate_size": 29568,
                      "num_hidden_layers": 80, "num_attention_heads": 64, "num_key_value_heads": 8,
                      "tie_word_embeddings": False},
    "qwen2_5_vl_text": {"vocab_size": 152064, "hidden_size": 8192, "intermediate_size": 29568,
                        "num_hidden_layers": 80, "num_attention_heads": 64, "num_key_value_heads": 8,
                        "tie_word_embeddings": False},
    # Qwen3-VL's language models (Qwen3VLTextConfig, Qwen3VLMoeTextConfig): an explicit head_dim
    "qwen3_vl_text": {"vocab_size": 151936, "hidden_size": 4096, "intermediate_size": 22016,
                      "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 32,
                      "head_dim": 128, "tie_word_embeddings": False},
    "qwen3_vl_moe_text": {"vocab_size": 151936, "hidden_size": 2048, "intermediate_size": 5632,
                          "num_hidden_layers": 24, "num_attention_heads": 16, "num_key_value_heads": 16,
                          "head_dim": 128, "num_experts": 60, "num_experts_per_tok": 4,
                          "moe_intermediate_size": 1408, "decoder_sparse_step": 1, "tie_word_embeddings": True},
    # Qwen3.5's hybrid language model (Qwen3_5TextConfig): Gated DeltaNet and gated attention
    "qwen3_5_text": {"vocab_size": 248320, "hidden_size": 4096, "intermediate_size": 12288, "num_hidden_layers": 32,
                     "num_attention_heads": 16, "num_key_value_heads": 4, "head_dim": 256, "tie_word_embeddings": False,
                     "linear_conv_kernel_dim": 4, "linear_key_head_dim": 128, "linear_value_head_dim": 128,
                     "linear_num_key_heads": 16, "linear_num_value_heads": 32},
    "qwen3_5_moe_text": {"vocab_size": 248320, "hidden_size": 2048, "num_hidden_layers": 40,
                         "num_attention_heads": 16, "num_key_value_heads": 2, "head_dim": 256,
                         "tie_word_embeddings": False, "linear_conv_kernel_dim": 4, "linear_key_head_dim": 128,
                         "linear_value_head_dim": 128, "linear_num_key_heads": 16, "linear_num_value_heads": 32},
    # InternVL3.5's language model (Qwen3Config): an explicit head_dim
    "qwen3": {"vocab_size": 151936, "hidden_size": 4096, "intermediate_size": 22016, "num_hidden_layers": 32,
              "num_attention_heads": 32, "num_key_value_heads": 32, "head_dim": 128, "tie_word_embeddings": False},
    # Gemma 3's language model (Gemma3TextConfig): head_dim apart from hidden/heads, tied embeddings
    "gemma3_text": {"vocab_size": 262208, "hidden_size": 2304, "intermediate_size": 9216, "num_hidden_layers": 26,
                    "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256, "sliding_window": 4096,
                    "tie_word_embeddings": True},
}

#: transformers' defaults for the vision towers, by vision model_type.
VISION_DEFAULTS: dict[str, dict[str, Any]] = {
    "clip_vision_model": {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
                          "num_attention_heads": 12, "image_size": 224, "patch_size": 32},
    "siglip_vision_model": {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
                            "num_attention_heads": 12, "image_size": 224, "patch_size": 16},
    "qwen2_vl_vision": {"depth": 32, "embed_dim": 1280, "hidden_size": 3584, "mlp_ratio": 4, "num_heads": 16,
                        "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2},
    "qwen2_5_vl_vision": {"depth": 32, "hidden_size": 3584, "intermediate_size": 3420, "num_heads": 16,
                          "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2,
                          "out_hidden_size": 3584, "window_size": 112},
    # Qwen3-VL's ViT, which Qwen3.5 and Qwen3.5-MoE keep (their configs' defaults are the same)
    "qwen3_vl_vision": _QWEN3_VIT,
    "qwen3_5_vision": _QWEN3_VIT,
    "qwen3_5_moe_vision": _QWEN3_VIT,
}

#: Text model types whose attention projections q/k/v always carry a bias (Qwen2 and its VL variants).
QKV_BIAS_TYPES = frozenset({"qwen2", "qwen2_vl_text", "qwen2_5_vl_text"})

#: The largest value accepted for each architecture key of a config.json (by its last part, in
#: text_config, vision_config or at the top level). Why limits: a typo or a hostile file
#: (``num_hidden_layers: 1e12``) would otherwise become a catalog row whose cost model overflows or
#: a traced model that never finishes building. Each bound is generous -- 4x to 60x beyond the
#: largest released models (126 layers and width 16384 for Llama-3.1-405B, a 262,144-token
#: vocabulary for Gemma 3, 128 heads, head_dim 256, vision towers of 48 layers, 14-16 px patches
#: on 224-1024 px inputs) -- so no real checkpoint comes near one.
LIMITS: dict[str, int | float] = {
    "num_hidden_layers": 1000, "depth": 1000,
    "hidden_size": 65536 * 4, "embed_dim": 65536 * 4, "out_hidden_size": 65536 * 4,
    "intermediate_size": 65536 * 16,
    "num_attention_heads": 4096, "num_key_value_heads": 4096, "num_heads": 4096, "head_dim": 4096,
    "vocab_size": 2 ** 22,
    "image_size": 16384, "patch_size": 1024, "spatial_merge_size": 64, "temporal_patch_size": 64,
    "mlp_ratio": 64.0,
    "num_experts": 4096, "num_experts_per_tok": 4096, "moe_intermediate_size": 65536 * 16,
    "num_position_embeddings": 2 ** 20, "decoder_sparse_step": 1000,
    "sliding_window": 2 ** 24, "sliding_window_pattern": 1000, "mm_tokens_per_image": 2 ** 20,
}


def check_limit(name: str, value: int | float) -> None:
    """ValidationError naming ``name`` (e.g. ``text_config.hidden_size``) when ``value`` is above
    :data:`LIMITS` for its key."""
    limit = LIMITS.get(name.rsplit(".", 1)[-1])
    if limit is not None and value > limit:
        raise ValidationError(
            f"config.json {name} is {_number(value)}, above the {_number(limit)} vlmplanner accepts (no released"
            " model comes near it): check the file", field=name, value=value,
        )


def _number(value: int | float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


class Section:
    """One part of a config.json (the top level, ``text_config`` or ``vision_config``).

    ``where`` prefixes every key in error messages (``text_config.hidden_size``), and ``defaults``
    are the values transformers would use for absent keys. ``fallback`` is a second mapping read
    before the defaults: Qwen2-VL keeps its language-model keys at the top level in the original
    release format and under ``text_config`` in later re-saves.
    """

    def __init__(self, data: Mapping[str, Any], where: str, defaults: Mapping[str, Any] | None = None,
                 fallback: Mapping[str, Any] | None = None) -> None:
        self.data = data
        self.where = where
        self.defaults = defaults or {}
        self.fallback = fallback or {}

    def name(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def raw(self, key: str, default: Any = _MISSING) -> Any:
        for source in (self.data, self.fallback, self.defaults):
            if key in source and source[key] is not None:
                return source[key]
        if default is _MISSING:
            raise ValidationError(
                f"config.json has no {self.name(key)} (and transformers has no default for it here)",
                field=self.name(key), value=None,
            )
        return default

    def has(self, key: str) -> bool:
        return any(key in source and source[key] is not None for source in (self.data, self.fallback, self.defaults))

    def positive_int(self, key: str, default: Any = _MISSING) -> int:
        """A positive integer (an integral float such as 4096.0 is accepted) within :data:`LIMITS`."""
        value = self.raw(key, default)
        if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
                or value != int(value) or value <= 0):
            raise ValidationError(
                f"config.json {self.name(key)} must be a positive integer, got {value!r}",
                field=self.name(key), value=value,
            )
        check_limit(self.name(key), value)
        return int(value)

    def positive_number(self, key: str, default: Any = _MISSING) -> float:
        """A positive, finite number within :data:`LIMITS`."""
        value = self.raw(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise ValidationError(f"config.json {self.name(key)} must be a positive number, got {value!r}",
                                  field=self.name(key), value=value)
        check_limit(self.name(key), value)
        return float(value)

    def boolean(self, key: str, default: Any = _MISSING) -> bool:
        value = self.raw(key, default)
        if not isinstance(value, bool):
            raise ValidationError(f"config.json {self.name(key)} must be true or false, got {value!r}",
                                  field=self.name(key), value=value)
        return value

    def string(self, key: str, default: Any = _MISSING) -> str:
        value = self.raw(key, default)
        if not isinstance(value, str) or not value:
            raise ValidationError(f"config.json {self.name(key)} must be a non-empty string, got {value!r}",
                                  field=self.name(key), value=value)
        return value


def sub_config(config: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """``config[key]`` as a mapping ({} when absent); anything else is an error naming the key."""
    value = config.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValidationError(f"config.json {key} must be an object, got {type(value).__name__}",
                              field=key, value=value)
    return value


def llm_parameter_count(*, model_type: str, layers: int, hidden: int, heads: int, kv_heads: int,
                        intermediate: int, vocab: int, tied: bool, head_dim: int | None = None,
                        attention_bias: bool = False, mlp_bias: bool = False) -> int:
    """Exact parameters of a Llama-style decoder with its lm_head (RMSNorm, SwiGLU MLP, GQA).

    ``attention_bias`` adds biases to q/k/v/o (Llama's flag); Qwen2-family models always have
    q/k/v biases and no o bias.
    """
    hd = head_dim or hidden // heads
    q, kv = heads * hd, kv_heads * hd
    attention = hidden * q + 2 * hidden * kv + q * hidden
    if model_type in QKV_BIAS_TYPES:
        attention += q + 2 * kv
    elif attention_bias:
        attention += q + 2 * kv + hidden
    mlp = 3 * hidden * intermediate + (2 * intermediate + hidden if mlp_bias else 0)
    block = attention + mlp + 2 * hidden
    embeddings = vocab * hidden
    return embeddings + layers * block + hidden + (0 if tied else vocab * hidden)


def counted_llm_params(llm: Mapping[str, Any], *, qkv_bias: bool = False, qk_norm: bool = False,
                       norms: int = 2) -> int:
    """The exact parameter count of an LLM given as LlmSpec fields (every expert of an MoE), by the
    cost model's own formula, so a spec's ``params_b`` and its costed parameters agree."""
    from vlmplanner.cost import llm as formulas
    from vlmplanner.schemas.model import LlmSpec

    spec = LlmSpec.model_validate({**llm, "name": "count", "params_b": 1.0})
    d, q, kv, qk = spec.hidden_size, spec.q_width, spec.kv_width, spec.head_dim if qk_norm else 0
    linear = spec.linear_attention
    mixer = formulas.mixer_params(
        d, q, kv, int(qkv_bias), qk, int(spec.attention_gate), 0 if linear is None else linear.layers / spec.num_layers,
        *((0, 0, 0, 0, 0) if linear is None else (linear.key_heads, linear.value_heads, linear.key_head_dim,
                                                  linear.value_head_dim, linear.conv_kernel)))
    return round(float(formulas.llm_params(
        spec.num_layers, d, q, kv, spec.stored_intermediate_size, spec.vocab_size,
        spec.tie_word_embeddings, int(qkv_bias), spec.router_width, qk, norms, mixer=mixer)))


def round_billions(count: int) -> float:
    """A parameter count in billions, to three significant digits."""
    billions = count / 1e9
    if billions <= 0:
        return billions
    digits = 2 - math.floor(math.log10(billions))
    return round(billions, digits)


def text_config_numbers(spec: ModelSpec) -> dict[str, Any]:
    """A ModelSpec's LLM numbers under transformers' text-config keys."""
    llm = spec.llm
    return {
        "hidden_size": llm.hidden_size, "num_hidden_layers": llm.num_layers,
        "num_attention_heads": llm.num_heads, "num_key_value_heads": llm.num_kv_heads,
        "intermediate_size": llm.intermediate_size, "vocab_size": llm.vocab_size,
        "tie_word_embeddings": llm.tie_word_embeddings,
    }
