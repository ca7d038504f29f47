"""The vision side of a model for the cost model: its family adapter's ``vision_profile``, cached.

The numbers depend only on a few integers of the vision config, the native token count and the
image size, so profiles are cached: a sweep over hundreds of models that share one vision tower
computes it once. What each family's tower does lives in its adapter (``vlmplanner.families``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from vlmplanner.errors import ValidationError
from vlmplanner.families.vision import VisionProfile, check_image_size
from vlmplanner.schemas import ModelSpec

if TYPE_CHECKING:
    from vlmplanner.families import ModelFamily

__all__ = ["ResizedVision", "VisionProfile", "family_of", "native_token_range", "resized_vision", "vision_profile",
           "visual_tokens_per_image"]

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


@dataclass(frozen=True)
class ResizedVision:
    """Vision tower and projector FLOPs of one image scaled down until it gives V tokens, as
    polynomials in V: ``tower`` (c0, c1, c2), ``projector`` (c0, c1). ``points`` image sizes were
    fitted; ``max_error`` is the largest relative miss of the tower fit among them."""

    tower: tuple[float, float, float]
    projector: tuple[float, float]
    points: int
    max_error: float


#: Image sizes sampled between the smallest input and the workload's image.
_RESIZE_SAMPLES = 24


def resized_vision(model: ModelSpec, image_size: tuple[int, int] | None) -> ResizedVision:
    """What ``downsample`` costs on the vision side of ``model`` for an image of ``image_size``
    (None: the reference image): the family's vision profile at sizes from the smallest input up to
    the image itself, least-squares fitted. Qwen2-VL's tower (full attention) is exactly quadratic
    in its patches, so there the fit is exact; windowed attention (Qwen2.5-VL) and LLaVA-NeXT's
    tiles make it an approximation, whose error ``max_error`` reports."""
    return _resized(model, image_size)


@lru_cache(maxsize=1024)
def _resized(model: ModelSpec, image_size: tuple[int, int] | None) -> ResizedVision:
    import numpy as np

    from .projector import projector_cost

    height, width = image_size or vision_profile(model, None).image
    tokens, tower, projector = [], [], []
    for rows in sorted({max(1, round(height * s)) for s in np.geomspace(1.0 / height, 1.0, _RESIZE_SAMPLES)}):
        size = (rows, max(1, round(width * rows / height)))
        profile = vision_profile(model, size)
        if profile.native in tokens:
            continue
        cost = projector_cost(model.projector, profile, model.vision.hidden_size, model.llm.hidden_size)
        tokens.append(profile.native)
        tower.append(profile.flops)
        projector.append(cost.flops)
    if len(tokens) == 1:   # a fixed count (one crop): the cost does not follow V
        return ResizedVision((tower[0], 0.0, 0.0), (projector[0], 0.0), 1, 0.0)
    # through every point when there are at most three (LLaVA-NeXT: a few tile layouts), else least squares
    x = np.asarray(tokens, dtype=np.float64)
    degree = min(2, len(tokens) - 1)
    c = np.polyfit(x, np.asarray(tower), degree)[::-1]
    p1, p0 = np.polyfit(x, np.asarray(projector), 1)
    fitted = np.polyval(c[::-1], x)
    error = float(np.max(np.abs(fitted - tower) / np.asarray(tower)))
    c0, c1, c2 = (*c.tolist(), 0.0, 0.0)[:3]
    return ResizedVision((float(c0), float(c1), float(c2)), (float(p0), float(p1)), len(tokens), error)
