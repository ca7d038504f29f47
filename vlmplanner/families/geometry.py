"""How families lay images out as visual tokens: pure arithmetic, no torch, no transformers.

The cost model and the planner need these rules on every recommendation, so they live apart from
the adapters (which build models and import the heavy stack): LLaVA-NeXT's anyres tiling (and
LLaVA-OneVision's pooled "anyres_max"), Qwen2-VL's native-resolution resizing, Gemma 3's
pan-and-scan crops, as the families' Hugging Face processors compute them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from vlmplanner.errors import ValidationError

__all__ = ["DEFAULT_PINPOINTS", "ONEVISION_PINPOINTS", "PAN_AND_SCAN", "QWEN_MAX_PIXELS", "QWEN_MIN_PIXELS", "anyres_grid",
           "anyres_layout",
           "best_resolution", "pan_and_scan_crops", "pooled_grid", "smart_resize", "tile_grid", "tiled_views"]

#: LlavaNextConfig's default image_grid_pinpoints (height, width), for 336 px tiles.
DEFAULT_PINPOINTS: tuple[tuple[int, int], ...] = ((336, 672), (672, 336), (672, 672), (1008, 336), (336, 1008))
#: LlavaOnevisionConfig's default image_grid_pinpoints: every grid of 1-6 x 1-6 tiles of 384 px.
ONEVISION_PINPOINTS: tuple[tuple[int, int], ...] = tuple(
    (384 * rows, 384 * cols) for rows in range(1, 7) for cols in range(1, 7))
#: Qwen2VLImageProcessor's default pixel bounds.
QWEN_MIN_PIXELS = 56 * 56
QWEN_MAX_PIXELS = 28 * 28 * 1280


#: Gemma3Processor's pan-and-scan defaults (the released preprocessor_config.json leaves them null):
#: smallest crop side in px, most crops, the aspect ratio from which an image is cropped.
PAN_AND_SCAN = {"min_crop_size": 256, "max_num_crops": 4, "min_ratio_to_activate": 1.2}


def pan_and_scan_crops(height: int, width: int, *, min_crop_size: int = 256, max_num_crops: int = 4,
                       min_ratio_to_activate: float = 1.2) -> int:
    """Extra crops Gemma 3's pan-and-scan cuts from an image of ``(height, width)`` (0: none, the
    image alone): along the long side, about one per aspect-ratio unit (2 to ``max_num_crops``),
    only for an elongated image whose crops stay at least ``min_crop_size`` px."""
    long, short = max(height, width), min(height, width)
    if long / short < min_ratio_to_activate:
        return 0
    crops = min(math.floor(long / short + 0.5), math.floor(long / min_crop_size))
    crops = min(max_num_crops, max(2, crops))
    across = math.ceil(long / crops)
    if min(across, short) < min_crop_size:
        return 0
    return crops


def tile_grid(height: int, width: int, *, tile: int, min_tiles: int, max_tiles: int) -> tuple[int, int]:
    """(columns, rows) of the tile grid InternVL's processor (GotOcr2's ``crop_to_patches``) cuts an
    image into: of the grids with ``min_tiles`` to ``max_tiles`` tiles, the one whose aspect ratio
    is nearest the image's; on a tie the one with more tiles, while the image's area exceeds half
    the tiles' area."""
    grids = sorted(((c, r) for c in range(1, max_tiles + 1) for r in range(1, max_tiles + 1)
                    if min_tiles <= c * r <= max_tiles), key=lambda g: g[0] * g[1])
    aspect, area = width / height, width * height
    best, best_diff = (1, 1), float("inf")
    for columns, rows in grids:
        diff = abs(aspect - columns / rows)
        if diff < best_diff:
            best, best_diff = (columns, rows), diff
        elif diff == best_diff and area > 0.5 * tile * tile * columns * rows:
            best = (columns, rows)
    return best


def tiled_views(height: int, width: int, *, tile: int, min_tiles: int, max_tiles: int) -> int:
    """Views of an image through the tower: its tiles, plus a thumbnail of the whole image when
    there is more than one tile."""
    columns, rows = tile_grid(height, width, tile=tile, min_tiles=min_tiles, max_tiles=max_tiles)
    tiles = columns * rows
    return tiles + (1 if tiles > 1 else 0)


def best_resolution(height: int, width: int, pinpoints: Sequence[Sequence[int]]) -> tuple[int, int]:
    """The pinpoint that keeps the most of the image's pixels, then wastes the fewest (HF's rule)."""
    best: tuple[int, int] | None = None
    best_effective, best_waste = 0, float("inf")
    for pin_h, pin_w in pinpoints:
        scale = min(pin_w / width, pin_h / height)
        effective = min(int(width * scale) * int(height * scale), width * height)
        waste = pin_w * pin_h - effective
        if effective > best_effective or (effective == best_effective and waste < best_waste):
            best, best_effective, best_waste = (pin_h, pin_w), effective, waste
    if best is None:
        raise ValidationError("image_grid_pinpoints is empty", field="image_grid_pinpoints", value=list(pinpoints))
    return best


def anyres_layout(height: int, width: int, *, side: int, patch: int, pinpoints: Sequence[Sequence[int]],
                  cls_tokens: int = 1, strategy: str = "default", max_tiles: int | None = None) -> tuple[int, int]:
    """(visual tokens, crops) of one ``height`` × ``width`` image, as LlavaNextProcessor counts them.

    crops = 1 base view + the tiles of the chosen pinpoint; the model encodes every crop.
    ``max_tiles`` (LLaVA-OneVision's ``anyres_max_N``): an un-padded tile grid of more than about N
    tiles' features is pooled (bilinear) to N tiles' worth, as LlavaOnevisionProcessor counts it.
    """
    rows, cols, crops = anyres_grid(height, width, side=side, patch=patch, pinpoints=pinpoints, max_tiles=max_tiles)
    grid = side // patch
    base = grid * grid + cls_tokens - (1 if strategy == "default" else 0)
    return base + rows * cols + rows, crops


def anyres_grid(height: int, width: int, *, side: int, patch: int, pinpoints: Sequence[Sequence[int]],
                max_tiles: int | None = None) -> tuple[int, int, int]:
    """(rows, cols, crops): the tile-feature grid an anyres model keeps for the image (un-padded to
    its aspect ratio, pooled under ``max_tiles``), each row followed by a newline token, and the
    crops it encodes (1 base view + the chosen pinpoint's tiles)."""
    best_h, best_w = best_resolution(height, width, pinpoints)
    grid = side // patch
    rows, cols = grid * (best_h // side), grid * (best_w // side)
    if width / height > cols / rows:  # wider than the tile grid: rows of padding removed
        kept = int(round(height * (cols / width), 7))
        rows -= 2 * ((rows - kept) // 2)
    else:
        kept = int(round(width * (rows / height), 7))
        cols -= 2 * ((cols - kept) // 2)
    if max_tiles is not None:
        rows, cols = pooled_grid(rows, cols, grid=grid, max_tiles=max_tiles)
    return rows, cols, 1 + (best_h // side) * (best_w // side)


def pooled_grid(rows: int, cols: int, *, grid: int, max_tiles: int) -> tuple[int, int]:
    """The (rows, cols) LLaVA-OneVision interpolates an un-padded ``rows`` x ``cols`` feature grid
    to: unchanged up to 1.1 x the side of ``max_tiles`` tiles' area, else both sides divided by
    that ratio and rounded down."""
    ratio = math.sqrt(rows * cols / (max_tiles * grid * grid))
    if ratio > 1.1:
        return int(rows // ratio), int(cols // ratio)
    return rows, cols


def smart_resize(height: int, width: int, *, factor: int = 28, min_pixels: int = QWEN_MIN_PIXELS,
                 max_pixels: int = QWEN_MAX_PIXELS) -> tuple[int, int]:
    """The size Qwen2-VL's image processor resizes an image to (multiples of ``factor``, within bounds)."""
    if max(height, width) / min(height, width) > 200:
        raise ValidationError(f"image_size {height}x{width}: Qwen2-VL refuses aspect ratios above 200",
                              field="image_size", value=(height, width))
    h = round(height / factor) * factor
    w = round(width / factor) * factor
    if h * w > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h = max(factor, math.floor(height / beta / factor) * factor)
        w = max(factor, math.floor(width / beta / factor) * factor)
    elif h * w < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h = math.ceil(height * beta / factor) * factor
        w = math.ceil(width * beta / factor) * factor
    return h, w
