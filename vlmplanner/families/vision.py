"""The vision side of a family for the cost model: crops, token counts, the tower's FLOPs and parameters,
and the one check of an image size.

Each family adapter's ``vision_profile`` picks one of these towers (a CLIP on one crop or on
LLaVA-NeXT's anyres crops, Qwen's native-resolution ViT) and passes its own numbers; the cost model
(``vlmplanner.cost.vision``) asks the adapter and caches the profile. Plain Python, no torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vlmplanner.errors import ValidationError

from .geometry import DEFAULT_PINPOINTS, anyres_grid, anyres_layout, smart_resize

__all__ = ["CHECKPOINT_MAX_PIXELS", "CHECKPOINT_MIN_PIXELS", "QWEN25_FULL_ATTENTION_LAYERS", "QWEN25_WINDOW_PX",
           "QWEN_TEMPORAL_PATCH", "VisionProfile", "check_image_size", "clip_anyres", "clip_crop_flops",
           "clip_params", "clip_single_crop", "intern_vit", "qwen3_vit", "qwen_vit", "siglip_anyres", "siglip_crop_flops",
           "siglip_params", "siglip_pooled",
           "window_attention_pairs"]

#: Qwen2.5-VL's window_size in pixels (112 px = 8x8 patches of 14 px) and the layer indexes that
#: keep full attention (fullatt_block_indexes of every shipped config).
QWEN25_WINDOW_PX = 112
QWEN25_FULL_ATTENTION_LAYERS = (7, 15, 23, 31)
#: Qwen2-VL's patch embedding is a 3-D convolution over 2 frames (a still image is repeated).
QWEN_TEMPORAL_PATCH = 2
#: Pixel bounds the released Qwen2-VL / Qwen2.5-VL checkpoints' preprocessor_config.json set
#: (min_pixels 3136 = 56x56, max_pixels 12845056 = 28x28x16384); the processor class defaults are tighter.
CHECKPOINT_MIN_PIXELS = 3136
CHECKPOINT_MAX_PIXELS = 12845056


def check_image_size(image_size: Any) -> None:
    """ValidationError (field ``image_size``) unless it is None or (height, width) in positive pixels."""
    if image_size is None:
        return
    if (not isinstance(image_size, (tuple, list)) or len(image_size) != 2
            or any(isinstance(s, bool) or not isinstance(s, int) or s <= 0 for s in image_size)):
        raise ValidationError(f"image_size must be (height, width) in positive pixels, got {image_size!r}",
                              field="image_size", value=image_size)


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
    #: parameters of the norm a patch merger applies before merging (Qwen); 0 without one
    merger_norm_params: int = 0
    #: tokens the model adds to a pre-LLM compressor's k per image: one newline per feature row
    #: of the tile grid (LLaVA-NeXT, LLaVA-OneVision); 0 for every other layout
    row_tokens: int = 0


# --- CLIP towers (LLaVA, LLaVA-NeXT) ---------------------------------------------------------------

def _vit_crop_flops(tokens: int, grid: int, patch: int, layers: int, hidden: int, inter: int) -> float:
    """One crop through a pre-LN ViT of ``tokens`` tokens a layer (the patch grid, maybe a CLS):
    every layer (HF runs all of them, even past the feature layer) and the patch convolution."""
    per_layer = 8 * tokens * hidden**2 + 4 * tokens**2 * hidden + 4 * tokens * hidden * inter
    patch_embed = 2 * grid * grid * (3 * patch * patch) * hidden
    return float(layers * per_layer + patch_embed)


def clip_crop_flops(grid: int, patch: int, layers: int, hidden: int, inter: int) -> float:
    """One crop through CLIP: the patches and a CLS token."""
    return _vit_crop_flops(grid * grid + 1, grid, patch, layers, hidden, inter)


def siglip_crop_flops(grid: int, patch: int, layers: int, hidden: int, inter: int) -> float:
    """One crop through SigLIP without its pooling head: the patches alone (no CLS)."""
    return _vit_crop_flops(grid * grid, grid, patch, layers, hidden, inter)


def clip_params(grid: int, patch: int, layers: int, hidden: int, inter: int) -> int:
    """CLIPVisionModel: embeddings, pre/post LayerNorm, and pre-LN blocks with biased linears."""
    embeddings = hidden + 3 * patch * patch * hidden + (grid * grid + 1) * hidden
    block = 4 * (hidden * hidden + hidden) + 4 * hidden + (hidden * inter + inter) + (inter * hidden + hidden)
    return embeddings + 2 * hidden + layers * block + 2 * hidden


def clip_single_crop(family: str, side: int, patch: int, layers: int, hidden: int, inter: int,
                     native: int) -> VisionProfile:
    """A CLIP tower on one crop: every image resized to the tower's square."""
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


def clip_anyres(side: int, patch: int, layers: int, hidden: int, inter: int, native: int,
                image_size: tuple[int, int] | None) -> VisionProfile:
    """A CLIP tower on LLaVA-NeXT's anyres crops: a base view and the pinpoint's tiles."""

    grid = side // patch
    height, width = image_size or (2 * side, 2 * side)
    # LLaVA-1.6's pinpoints are multiples of its 336 px tiles; a tower of another side scales them.
    pinpoints = [(h * side // 336, w * side // 336) for h, w in DEFAULT_PINPOINTS]
    computed, crops = anyres_layout(height, width, side=side, patch=patch, pinpoints=pinpoints)
    rows, _, _ = anyres_grid(height, width, side=side, patch=patch, pinpoints=pinpoints)
    tokens = native if image_size is None else computed
    notes = (
        f"llava_next: {crops} crops (1 base + {crops - 1} tiles of {side}px) for a {height}x{width} image,"
        " chosen from LLaVA-1.6's image_grid_pinpoints as LlavaNextProcessor does",
        f"llava_next: {tokens} visual tokens per image = {grid * grid} base + the unpadded tile grid + one"
        f" image-newline token per row; the projector maps the {crops * grid * grid} crop tokens (newline"
        " tokens are a learned vector, not projected)",
        f"llava_next: all {layers} CLIP layers counted for each of the {crops} crops",
        f"llava_next: a pre-LLM compressor's k tokens reach the LLM with the {rows} newline tokens of the"
        " tile grid's rows",
    )
    return VisionProfile(
        crops=crops, tower_tokens=grid * grid + 1, patches=grid * grid, projected=crops * grid * grid,
        native=tokens, flops=crops * clip_crop_flops(grid, patch, layers, hidden, inter),
        params=clip_params(grid, patch, layers, hidden, inter), merge_dim=hidden,
        image=(height, width), notes=notes, row_tokens=rows,
    )


def siglip_anyres(family: str, side: int, patch: int, layers: int, hidden: int, inter: int, *,
                  image: tuple[int, int], pinpoints: Sequence[Sequence[int]], max_tiles: int) -> VisionProfile:
    """A SigLIP tower on LLaVA-OneVision's anyres crops (a base view and the pinpoint's tiles), the
    un-padded tile features pooled to about ``max_tiles`` tiles' worth (``anyres_max_N``)."""
    grid = side // patch
    height, width = image
    tokens, crops = anyres_layout(height, width, side=side, patch=patch, pinpoints=pinpoints, cls_tokens=0,
                                  strategy="full", max_tiles=max_tiles)
    rows, _, _ = anyres_grid(height, width, side=side, patch=patch, pinpoints=pinpoints, max_tiles=max_tiles)
    notes = (
        f"{family}: {crops} crops (1 base + {crops - 1} tiles of {side}px) for a {height}x{width} image, chosen"
        " from the model's image_grid_pinpoints as LlavaOnevisionProcessor does",
        f"{family}: {tokens} visual tokens per image = {grid * grid} base + the un-padded tile grid (pooled"
        f" bilinearly to about {max_tiles} tiles' features when larger: anyres_max_{max_tiles}) + one"
        f" image-newline token per row; the projector maps the {crops * grid * grid} crop tokens before the"
        " pooling; the pooling itself is not counted",
        f"{family}: all {layers} SigLIP layers counted for each of the {crops} crops ({grid * grid} tokens, no CLS)",
        f"{family}: a pre-LLM compressor's k tokens reach the LLM with the {rows} newline tokens of the"
        " (pooled) tile grid's rows",
        f"{family}: counted as a one-image request; in a request with several images the model encodes only"
        f" each image's base view ({grid * grid} + 1 newline tokens), which the cost model does not model",
    )
    return VisionProfile(
        crops=crops, tower_tokens=grid * grid, patches=grid * grid, projected=crops * grid * grid, native=tokens,
        flops=crops * siglip_crop_flops(grid, patch, layers, hidden, inter),
        params=siglip_params(grid, patch, layers, hidden, inter), merge_dim=hidden, image=(height, width),
        notes=notes, row_tokens=rows,
    )


# --- SigLIP towers whose patch grid is pooled to a fixed count (Gemma 3) ------------------------------

def siglip_params(grid: int, patch: int, layers: int, hidden: int, inter: int) -> int:
    """SiglipVisionModel without its attention-pooling head: a biased patch convolution, a learned
    position per patch, pre-LN blocks with biased linears, a final LayerNorm."""
    embeddings = 3 * patch * patch * hidden + hidden + grid * grid * hidden
    block = 4 * (hidden * hidden + hidden) + 4 * hidden + (hidden * inter + inter) + (inter * hidden + hidden)
    return embeddings + layers * block + 2 * hidden


def siglip_pooled(family: str, side: int, patch: int, layers: int, hidden: int, inter: int, tokens: int,
                  crops: int, image: tuple[int, int]) -> VisionProfile:
    """A SigLIP tower on ``crops`` square crops of ``side`` px, each patch grid average-pooled to
    ``tokens`` (Gemma 3: 64x64 patches pooled 4x4 to 256). No CLS token; every layer is full
    attention over the crop's patches."""
    grid = side // patch
    patches = grid * grid
    per_side = round(tokens ** 0.5)
    notes = (f"{family}: {crops} crop{'s' if crops > 1 else ''} of {side}x{side}: {patches} ViT tokens each"
             f" ({grid}x{grid} patches, no CLS), all {layers} vision layers counted",
             f"{family}: each crop's patch grid is average-pooled {grid // per_side}x{grid // per_side} to"
             f" {tokens} tokens ({per_side}x{per_side}) before the projector; pooling is not counted")
    return VisionProfile(
        crops=crops, tower_tokens=patches, patches=patches, projected=crops * tokens, native=crops * tokens,
        flops=crops * siglip_crop_flops(grid, patch, layers, hidden, inter), params=siglip_params(grid, patch, layers, hidden, inter),
        merge_dim=hidden, image=image, notes=notes,
    )


# --- InternViT on InternVL's dynamic tiles ----------------------------------------------------------

def intern_vit(family: str, side: int, patch: int, layers: int, hidden: int, inter: int, shuffle: int,
               views: int, image: tuple[int, int], tiles: tuple[int, int]) -> VisionProfile:
    """InternViT on ``views`` square crops of ``side`` px (an image's tiles and, with more than one,
    its thumbnail): per crop (side/patch)² patches and a CLS token through every layer, then the
    CLS dropped and ``shuffle`` x ``shuffle`` neighbours stacked on channels (pixel shuffle):
    (side/patch)² / shuffle² tokens per crop reach the projector, at shuffle² x the width."""
    grid = side // patch
    per_view = grid * grid // (shuffle * shuffle)
    notes = (f"{family}: a {image[0]}x{image[1]} image is cut into {tiles[0]}x{tiles[1]} tiles of {side}px"
             + (" plus a thumbnail" if views > 1 else "") + f" ({views} view{'s' if views > 1 else ''}, as the"
             " processor's crop_to_patches does): " + f"{grid * grid + 1} ViT tokens per view ({grid}x{grid}"
             f" patches + CLS), all {layers} vision layers counted",
             f"{family}: pixel shuffle stacks {shuffle}x{shuffle} neighbours: {per_view} tokens per view,"
             f" {views * per_view} per image")
    return VisionProfile(
        crops=views, tower_tokens=grid * grid + 1, patches=grid * grid, projected=views * per_view,
        native=views * per_view,
        flops=views * clip_crop_flops(grid, patch, layers, hidden, inter),
        params=intern_vit_params(grid, patch, layers, hidden, inter), merge_dim=hidden * shuffle * shuffle,
        image=image, notes=notes,
    )


def intern_vit_params(grid: int, patch: int, layers: int, hidden: int, inter: int) -> int:
    """InternViT-300M's parameters: CLS, a biased patch convolution, a position per token, and per
    layer biased q/k/v/o, two LayerNorms, two layer-scale vectors and a biased MLP (mean pooling:
    no final norm). InternViT-6B (RMSNorm, q/k norms, unbiased q/k/v) differs by a few widths a layer."""
    embeddings = hidden + 3 * patch * patch * hidden + hidden + (grid * grid + 1) * hidden
    block = 4 * (hidden * hidden + hidden) + 4 * hidden + 2 * hidden + (hidden * inter + inter) + (inter * hidden + hidden)
    return embeddings + layers * block


# --- Qwen2-VL / Qwen2.5-VL native-resolution ViTs ---------------------------------------------------

def window_attention_pairs(rows: int, cols: int, window: int, merge: int) -> int:
    """Σ over windows of (patches in the window)²: the (query, key) pairs windowed attention scores.

    Windows tile the merged-token grid from the top-left, ``window`` merged tokens per side; the
    last row and column of windows are cut short when the grid is not a multiple of the window.
    A grid of whole windows gives P·(window·merge)², the 4·P·64·h of the docs.
    """
    def squares(n: int) -> int:
        return (n // window) * window * window + (n % window) ** 2

    return merge**4 * squares(rows) * squares(cols)


def qwen_vit(family: str, side: int, patch: int, layers: int, hidden: int, inter: int, merge: int,
             native: int, image_size: tuple[int, int] | None, *, gated: bool, full_layers: int) -> VisionProfile:
    """Qwen's native-resolution ViT: patches of the image rounded to the merge grid; ``gated``
    (Qwen2.5-VL): window attention outside ``full_layers``, RMSNorm, gated MLP."""
    height, width = image_size or (side, side)
    factor = patch * merge
    h, w = smart_resize(height, width, factor=factor, min_pixels=CHECKPOINT_MIN_PIXELS,
                        max_pixels=CHECKPOINT_MAX_PIXELS)
    patches = (h // patch) * (w // patch)
    merged = patches // (merge * merge)
    full = full_layers
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
        merger_norm_params=hidden if gated else 2 * hidden,   # RMSNorm vs LayerNorm before the merge
    )


# --- Qwen3-VL: a SigLIP-2-like native-resolution ViT with DeepStack mergers ---------------------------

def qwen3_vit(family: str, side: int, patch: int, layers: int, hidden: int, inter: int, merge: int, native: int,
              image_size: tuple[int, int] | None, *, deepstack: int, out_hidden: int, position_embeddings: int,
              bounds: tuple[int, int]) -> VisionProfile:
    """Qwen3-VL's ViT: full attention in every layer, LayerNorm, a GELU MLP, a biased 3-D patch
    embedding, a learned position table interpolated to each image, and ``deepstack`` more patch
    mergers (LayerNorm over the merged 2x2 group, MLP to the LLM width) that feed early LLM layers.
    The DeepStack mergers run in the tower, on every merged token before any compressor, so they
    are charged here; the last layer's merger is the projector (priced by ``patch_merger``)."""
    height, width = image_size or (side, side)
    factor = patch * merge
    h, w = smart_resize(height, width, factor=factor, min_pixels=bounds[0], max_pixels=bounds[1])
    patches = (h // patch) * (w // patch)
    merged = patches // (merge * merge)
    width_merged = hidden * merge * merge
    linear = 8 * patches * hidden**2 + 4 * patches * hidden * inter
    attention = 4 * hidden * patches * patches
    patch_embed = 2 * patches * (3 * QWEN_TEMPORAL_PATCH * patch * patch) * hidden
    mergers = deepstack * 2 * merged * (width_merged**2 + width_merged * out_hidden)
    flops = float(layers * (linear + attention) + patch_embed + mergers)
    block = 4 * hidden + (3 * hidden**2 + 3 * hidden) + (hidden**2 + hidden) + (hidden * inter + inter) \
        + (inter * hidden + hidden)
    merger = 2 * width_merged + width_merged**2 + width_merged + width_merged * out_hidden + out_hidden
    params = (3 * QWEN_TEMPORAL_PATCH * patch * patch * hidden + hidden + position_embeddings * hidden
              + layers * block + deepstack * merger)
    notes = (f"{family}: a {height}x{width} image is rounded to {h}x{w} (multiples of {factor} px, {bounds[0]} to"
             f" {bounds[1]} pixels): {patches} patches, {merged} tokens after the {merge}x{merge} merge",
             f"{family}: full attention in all {layers} vision layers; {deepstack} DeepStack mergers"
             f" (MLP {width_merged}->{width_merged}->{out_hidden} on the {merged} merged tokens each) charged"
             " to the vision tower; their outputs are added to the first LLM layers' visual positions"
             " (no FLOPs counted for the addition)")
    return VisionProfile(
        crops=1, tower_tokens=patches, patches=patches, projected=merged,
        native=native if image_size is None else merged, flops=flops, params=params,
        merge_dim=width_merged, image=(h, w), notes=notes, merger_norm_params=2 * hidden,
    )
