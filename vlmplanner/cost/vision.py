"""The vision side of a model for the cost model: its family adapter's ``vision_profile``, cached.

The numbers depend only on a few integers of the vision config, the native token count and the
image size, so profiles are cached: a sweep over hundreds of models that share one vision tower
computes it once. What each family's tower does lives in its adapter (``vlmplanner.families``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vlmplanner.errors import ValidationError
from vlmplanner.families.vision import VisionProfile, check_image_size
from vlmplanner.schemas import ModelSpec

if TYPE_CHECKING:
    from vlmplanner.families import ModelFamily

__all__ = ["VisionProfile", "family_of", "native_token_range", "vision_profile", "visual_tokens_per_image"]

_PROFILES: dict[tuple[object, ...], VisionProfile] = {}
_MAX_CACHED = 4096


def family_of(model: ModelSpec) -> ModelFamily:
    """The adapter of ``model``'s family, or a ValidationError naming model_type."""
    from vlmplanner.families import get_family, list_families

    try:
        return get_family(model.model_type)
    except ValidationError:
        raise ValidationError(
            f"model {model.checkpoint!r} has model_type {model.model_type!r}, which the cost model"
            f" does not know; known families: {', '.join(list_families())}",
            field="model_type", value=model.model_type,
        ) from None


def vision_profile(model: ModelSpec, image_size: tuple[int, int] | None) -> VisionProfile:
    """The vision profile of ``model`` for one image (``None``: the family's default image)."""
    v = model.vision
    key = (model.model_type, v.image_size, v.patch_size, v.num_layers, v.hidden_size, v.intermediate_size,
           v.spatial_merge_size, model.native_visual_tokens, image_size)
    found = _PROFILES.get(key)
    if found is None:
        found = family_of(model).vision_profile(model, image_size)
        if len(_PROFILES) >= _MAX_CACHED:
            _PROFILES.clear()
        _PROFILES[key] = found
    return found


def visual_tokens_per_image(model: ModelSpec, image_size: tuple[int, int] | None = None) -> int:
    """Native (uncompressed) visual tokens one image of ``image_size`` gives ``model``'s LLM.

    ``None`` means the family's default image and returns the catalog's ``native_visual_tokens``.
    """
    check_image_size(image_size)
    return vision_profile(model, image_size).native


def native_token_range(model: ModelSpec) -> tuple[int, int]:
    """The fewest and the most visual tokens one uncompressed image gives ``model``'s LLM, over
    every image its processor accepts (the family adapter's ``native_token_range``)."""
    return family_of(model).native_token_range(model)
