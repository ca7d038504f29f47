"""The vision side of each family: crops, token counts, and the vision tower's FLOPs and parameters.

One function per family turns (vision config, native token count, image size) into a
``VisionProfile``. The numbers depend only on those few integers, so profiles are cached: a sweep
over hundreds of models that share one vision tower computes it once.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from vlmplanner.errors import ValidationError
from vlmplanner.schemas import ModelSpec

__all__ = ["FAMILIES", "VisionProfile", "vision_profile", "visual_tokens_per_image"]

FAMILIES: tuple[str, ...] = ("llava", "llava_next", "qwen2_vl", "qwen2_5_vl")

#: Qwen2.5-VL's window_size in pixels (112 px = 8x8 patches of 14 px) and the layer indexes that
#: keep full attention (fullatt_block_indexes of every shipped config).
QWEN25_WINDOW_PX = 112
QWEN25_FULL_ATTENTION_LAYERS = (7, 15, 23, 31)
#: Qwen2-VL's patch embedding is a 3-D convolution over 2 frames (a still image is repeated).
QWEN_TEMPORAL_PATCH = 2
#: LLaVA-NeXT anyres: tiles per side are capped at 2 (the 2x2 pinpoint, 672x672 for a 336 tower).
#: Pixel bounds the released Qwen2-VL / Qwen2.5-VL checkpoints' preprocessor_config.json set
#: (min_pixels 3136 = 56x56, max_pixels 12845056 = 28x28x16384); the processor class defaults are tighter.
QWEN_MIN_PIXELS = 3136
QWEN_MAX_PIXELS = 12845056


@dataclass(frozen=True)
class VisionProfile:
    """What the vision side does for one image of a given size.

    ``projected`` counts the tokens the projector maps (crop tokens for LLaVA, merged tokens for
    Qwen), ``native`` the visual tokens that reach the LLM uncompressed. ``flops`` and ``params``
    are the vision tower's alone (the projector needs the LLM width and is costed elsewhere).
    """

    crops: int
    tower_tokens: int
    patches: int
    projected: int
    native: int
    flops: float
    params: int
    merge_dim: int
    image: tuple[int, int]
    notes: tuple[str, ...]


def check_family(model: ModelSpec) -> str:
    if model.model_type not in FAMILIES:
        raise ValidationError(
            f"model {model.checkpoint!r} has model_type {model.model_type!r}, which the cost model"
            f" does not know; known families: {', '.join(FAMILIES)}",
            field="model_type",
            value=model.model_type,
        )
    return model.model_type


def vision_profile(model: ModelSpec, image_size: tuple[int, int] | None) -> VisionProfile:
    """The vision profile of ``model`` for one image (``None``: the family's default image)."""
    family = check_family(model)
    v = model.vision
    key = (family, v.image_size, v.patch_size, v.num_layers, v.hidden_size, v.intermediate_size,
           v.spatial_merge_size, model.native_visual_tokens, image_size)
    return _profile(*key)


def visual_tokens_per_image(model: ModelSpec, image_size: tuple[int, int] | None = None) -> int:
    """Native (uncompressed) visual tokens one image of ``image_size`` gives ``model``'s LLM.

    ``None`` means the family's default image and returns the catalog's ``native_visual_tokens``.
    """
    if image_size is not None:
        _check_image_size(image_size)
    return vision_profile(model, image_size).native


def native_token_range(model: ModelSpec) -> tuple[int, int]:
    """The fewest and the most visual tokens one uncompressed image gives ``model``'s LLM, over
    every image its processor accepts.

    A fixed-resolution family (LLaVA-1.5, the paper's single-crop grid) always gives the same count.
    LLaVA-NeXT's anyres gives at least the base crop and at most its largest pinpoint layout; Qwen's
    native resolution spans the released checkpoints' min_pixels to max_pixels.
    """
    family = check_family(model)
    v = model.vision
    if family in ("qwen2_vl", "qwen2_5_vl"):
        per_token = (v.patch_size * v.spatial_merge_size) ** 2
        return max(1, QWEN_MIN_PIXELS // per_token), QWEN_MAX_PIXELS // per_token
    grid = v.image_size // v.patch_size
    if family == "llava_next" and model.native_visual_tokens != grid * grid:
        from vlmplanner.families.geometry import DEFAULT_PINPOINTS

        side = v.image_size
        layouts = [visual_tokens_per_image(model, (h * side // 336, w * side // 336)) for h, w in DEFAULT_PINPOINTS]
        return grid * grid, max(*layouts, model.native_visual_tokens)
    return model.native_visual_tokens, model.native_visual_tokens


def _check_image_size(image_size: tuple[int, int]) -> None:
    if len(image_size) != 2 or any(not isinstance(s, int) or s <= 0 for s in image_size):
        raise ValidationError(
            f"image_size must be (height, width) in positive pixels, got {image_size!r}",
            field="image_size",
            value=image_size,
        )


@lru_cache(maxsize=4096)
def _profile(family: str, side: int, patch: int, layers: int, hidden: int, inter: int, merge: int,
             native: int, image_size: tuple[int, int] | None) -> VisionProfile:
    if family in ("qwen2_vl", "qwen2_5_vl"):
        return _qwen(family, side, patch, layers, hidden, inter, merge, native, image_size)
    grid = side // patch
    if family == "llava_next" and native != grid * grid:
        return _llava_next(side, patch, layers, hidden, inter, native, image_size)
    return _llava_single(family, side, patch, layers, hidden, inter, native)


# --- CLIP towers (LLaVA, LLaVA-NeXT) ---------------------------------------------------------------

def clip_crop_flops(grid: int, patch: int, layers: int, hidden: int, inter: int) -> float:
    """One crop through CLIP: every layer (HF runs all of them, even past the feature layer)."""
    tokens = grid * grid + 1  # patches + CLS
    per_layer = 8 * tokens * hidden**2 + 4 * tokens**2 * hidden + 4 * tokens * hidden * inter
    patch_embed = 2 * grid * grid * (3 * patch * patch) * hidden
    return float(layers * per_layer + patch_embed)


def clip_params(grid: int, patch: int, layers: int, hidden: int, inter: int) -> int:
    """CLIPVisionModel: embeddings, pre/post LayerNorm, and pre-LN blocks with biased linears."""
    embeddings = hidden + 3 * patch * patch * hidden + (grid * grid + 1) * hidden
    block = 4 * (hidden * hidden + hidden) + 4 * hidden + (hidden * inter + inter) + (inter * hidden + hidden)
    return embeddings + 2 * hidden + layers * block + 2 * hidden


def _llava_single(family: str, side: int, patch: int, layers: int, hidden: int, inter: int,
                  native: int) -> VisionProfile:
    grid = side // patch
    notes = [f"{family}: every image is resized to {side}x{side}: {grid * grid + 1} ViT tokens per crop"
             f" ({grid}x{grid} patches + CLS), all {layers} vision layers counted (HF runs them all)"]
    if family == "llava_next":
        notes.append(f"llava_next: single crop, because this model's native token count ({native})"
                     f" equals the {grid}x{grid} patch grid (the paper's grid models)")
    return VisionProfile(
        crops=1, tower_tokens=grid * grid + 1, patches=grid * grid, projected=native, native=native,
        flops=clip_crop_flops(grid, patch, layers, hidden, inter),
        params=clip_params(grid, patch, layers, hidden, inter), merge_dim=hidden,
        image=(side, side), notes=tuple(notes),
    )


def _llava_next(side: int, patch: int, layers: int, hidden: int, inter: int, native: int,
                image_size: tuple[int, int] | None) -> VisionProfile:
    from vlmplanner.families.geometry import DEFAULT_PINPOINTS, anyres_layout

    grid = side // patch
    height, width = image_size or (2 * side, 2 * side)
    # LLaVA-1.6's pinpoints are multiples of its 336 px tiles; a tower of another side scales them.
    pinpoints = [(h * side // 336, w * side // 336) for h, w in DEFAULT_PINPOINTS]
    computed, crops = anyres_layout(height, width, side=side, patch=patch, pinpoints=pinpoints)
    tokens = native if image_size is None else computed
    notes = (
        f"llava_next: {crops} crops (1 base + {crops - 1} tiles of {side}px) for a {height}x{width} image,"
        " chosen from LLaVA-1.6's image_grid_pinpoints as LlavaNextProcessor does",
        f"llava_next: {tokens} visual tokens per image = {grid * grid} base + the unpadded tile grid + one"
        f" image-newline token per row; the projector maps the {crops * grid * grid} crop tokens (newline"
        " tokens are a learned vector, not projected)",
        f"llava_next: all {layers} CLIP layers counted for each of the {crops} crops",
    )
    return VisionProfile(
        crops=crops, tower_tokens=grid * grid + 1, patches=grid * grid, projected=crops * grid * grid,
        native=tokens, flops=crops * clip_crop_flops(grid, patch, layers, hidden, inter),
        params=clip_params(grid, patch, layers, hidden, inter), merge_dim=hidden,
        image=(height, width), notes=notes,
    )


# --- Qwen2-VL / Qwen2.5-VL native-resolution ViTs ---------------------------------------------------

def qwen_full_attention_layers(family: str, layers: int) -> int:
    if family == "qwen2_vl":
        return layers
    return sum(1 for index in QWEN25_FULL_ATTENTION_LAYERS if index < layers)


def window_attention_pairs(rows: int, cols: int, window: int, merge: int) -> int:
    """Σ over windows of (patches in the window)²: the (query, key) pairs windowed attention scores.

    Windows tile the merged-token grid from the top-left, ``window`` merged tokens per side; the
    last row and column of windows are cut short when the grid is not a multiple of the window.
    A grid of whole windows gives P·(window·merge)², the 4·P·64·h of the docs.
    """
    def squares(n: int) -> int:
        return (n // window) * window * window + (n % window) ** 2

    return merge**4 * squares(rows) * squares(cols)


def _qwen(family: str, side: int, patch: int, layers: int, hidden: int, inter: int, merge: int,
          native: int, image_size: tuple[int, int] | None) -> VisionProfile:
    from vlmplanner.families.geometry import smart_resize

    height, width = image_size or (side, side)
    factor = patch * merge
    h, w = smart_resize(height, width, factor=factor, min_pixels=QWEN_MIN_PIXELS, max_pixels=QWEN_MAX_PIXELS)
    patches = (h // patch) * (w // patch)
    merged = patches // (merge * merge)
    gated = family == "qwen2_5_vl"
    full = qwen_full_attention_layers(family, layers)
    windowed = window_attention_pairs(h // factor, w // factor, QWEN25_WINDOW_PX // factor, merge)
    linear = 8 * patches * hidden**2 + (6 if gated else 4) * patches * hidden * inter
    attention = 4 * hidden * (full * patches * patches + (layers - full) * windowed)
    patch_embed = 2 * patches * (3 * QWEN_TEMPORAL_PATCH * patch * patch) * hidden
    flops = float(layers * linear + attention + patch_embed)
    if gated:  # RMSNorm x2, biased qkv/proj, gated MLP with biases
        block = 2 * hidden + 4 * hidden**2 + 4 * hidden + 3 * hidden * inter + 2 * inter + hidden
    else:  # LayerNorm x2, biased qkv/proj, fc1/fc2 with biases
        block = 4 * hidden + 4 * hidden**2 + 4 * hidden + 2 * hidden * inter + inter + hidden
    params = 3 * QWEN_TEMPORAL_PATCH * patch * patch * hidden + layers * block
    notes = [f"{family}: a {height}x{width} image is rounded to {h}x{w} (multiples of {factor} px;"
             f" min/max_pixels not applied): {patches} patches, {merged} tokens after the"
             f" {merge}x{merge} merge"]
    if gated:
        side_px = QWEN25_WINDOW_PX // patch
        notes.append(f"{family}: window attention ({side_px}x{side_px}-patch windows, edge windows"
                     f" smaller) in {layers - full} of {layers} vision layers, full attention in"
                     f" {full}; gated MLP")
    else:
        notes.append(f"{family}: full attention in all {layers} vision layers")
    return VisionProfile(
        crops=1, tower_tokens=patches, patches=patches, projected=merged,
        native=native if image_size is None else merged, flops=flops, params=params,
        merge_dim=hidden * merge * merge, image=(h, w), notes=tuple(notes),
    )
