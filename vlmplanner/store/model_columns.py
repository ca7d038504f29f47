"""A ModelSpec as the flat columns of the ``models`` table and models.csv, and back: the column
grammar in one place, without the ORM, so reading the shipped CSV files imports no SQLAlchemy."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vlmplanner.schemas import ModelSpec

__all__ = ["MODEL_COLUMNS", "MODEL_OPTIONAL_COLUMNS", "model_data", "model_values"]

_LLM = ("name", "params_b", "num_layers", "hidden_size", "num_heads", "num_kv_heads",
        "intermediate_size", "vocab_size", "tie_word_embeddings")
_VISION = ("name", "image_size", "patch_size", "num_layers", "hidden_size", "num_heads",
           "intermediate_size", "spatial_merge_size")
_MODEL_TOP = ("checkpoint", "model_type", "display_name", "projector", "native_visual_tokens",
              "public_checkpoint", "source", "note")
#: Architecture numbers only some families have: empty (None) for the rest.
_LLM_OPTIONAL = ("head_dim", "sliding_window", "sliding_layers", "attention_gate")
_MOE = ("num_experts", "experts_per_token", "expert_intermediate_size", "layers", "shared_expert_intermediate_size")
_LINEAR = ("layers", "key_heads", "value_heads", "key_head_dim", "value_head_dim", "conv_kernel")
_VISION_OPTIONAL = ("deepstack_layers", "position_embeddings")

#: A ModelSpec as flat columns (the ``models`` table and models.csv): required, then optional.
MODEL_COLUMNS: tuple[str, ...] = (*_MODEL_TOP, *(f"llm_{k}" for k in _LLM), *(f"vision_{k}" for k in _VISION))
MODEL_OPTIONAL_COLUMNS: tuple[str, ...] = (*(f"llm_{k}" for k in _LLM_OPTIONAL), *(f"llm_moe_{k}" for k in _MOE),
                                           *(f"llm_linear_{k}" for k in _LINEAR),
                                           *(f"vision_{k}" for k in _VISION_OPTIONAL))


def model_values(spec: ModelSpec) -> dict[str, Any]:
    """A ModelSpec as flat columns; the optional ones None where the spec has its default."""
    values = {key: getattr(spec, key) for key in _MODEL_TOP}
    llm, vision = spec.llm, spec.vision
    values.update({f"llm_{key}": getattr(llm, key) for key in _LLM})
    values.update({f"vision_{key}": getattr(vision, key) for key in _VISION})
    values["llm_head_dim"] = None if llm.head_dim == llm.hidden_size // llm.num_heads else llm.head_dim
    values["llm_sliding_window"] = llm.sliding_window
    values["llm_sliding_layers"] = llm.sliding_layers or None
    values["llm_attention_gate"] = llm.attention_gate or None
    values.update({f"llm_moe_{key}": None if llm.moe is None else getattr(llm.moe, key) for key in _MOE})
    linear = llm.linear_attention
    values.update({f"llm_linear_{key}": None if linear is None else getattr(linear, key) for key in _LINEAR})
    values.update({f"vision_{key}": getattr(vision, key) or None for key in _VISION_OPTIONAL})
    return values


def model_data(values: Mapping[str, Any]) -> dict[str, Any]:
    """Flat columns (an ORM row's, a CSV row's) as ModelSpec's nested data; an optional column that
    is absent, None or empty is left out (the schema's default)."""
    def given(key: str) -> bool:
        return values.get(key) not in (None, "")

    data: dict[str, Any] = {key: values[key] for key in _MODEL_TOP}
    data["llm"] = {key: values[f"llm_{key}"] for key in _LLM}
    data["llm"].update({key: values[f"llm_{key}"] for key in _LLM_OPTIONAL if given(f"llm_{key}")})
    if any(given(f"llm_moe_{key}") for key in _MOE):
        data["llm"]["moe"] = {key: values[f"llm_moe_{key}"] for key in _MOE if given(f"llm_moe_{key}")}
    if any(given(f"llm_linear_{key}") for key in _LINEAR):
        data["llm"]["linear_attention"] = {key: values[f"llm_linear_{key}"] for key in _LINEAR
                                           if given(f"llm_linear_{key}")}
    data["vision"] = {key: values[f"vision_{key}"] for key in _VISION}
    data["vision"].update({key: values[f"vision_{key}"] for key in _VISION_OPTIONAL if given(f"vision_{key}")})
    return data
