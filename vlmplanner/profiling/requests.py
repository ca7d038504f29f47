"""The inputs of one profiled request: the family's dummy inputs, with k visual tokens.

At the model's native token count the inputs are exactly what ``family.dummy_inputs`` builds and the
model runs its own forward pass. Below it (a compressor, or compressor ``none`` asked for fewer
tokens) the request takes the *features path*: the vision tower and projector run on the full
image (``get_image_features``), the compressor maps each image's projected features to k tokens,
and the LLM gets them through ``mm_encoder_outputs`` with k placeholders in ``input_ids``. For
Qwen2-VL/2.5-VL the M-RoPE positions come from ``image_grid_thw``: the request passes the grid
(1, 2·h, 2·w) whose merged size h·w equals k (h the largest divisor of k not above √k).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from vlmplanner import compat
from vlmplanner.errors import InvalidTokenCountError, ValidationError
from vlmplanner.extras import require

__all__ = ["Request", "build_request", "count_placeholders", "image_token_id", "token_grid"]

#: Inputs the vision side consumes (they move to get_image_features on the features path).
VISION_KEYS = ("pixel_values", "image_sizes", "image_grid_thw")


@dataclass
class Request:
    """Model inputs for one batch, and what they hold."""

    kwargs: dict[str, Any]  # forward() inputs of the LLM call (plain path: all inputs)
    vision: dict[str, Any] | None  # get_image_features() inputs on the features path, else None
    visual_tokens: int  # per image, as the LLM sees them
    native_tokens: int  # per image, uncompressed
    text_tokens: int  # per request: sequence length minus visual tokens
    batch_size: int
    image_size: tuple[int, int] | None
    token_id: int  # an ordinary token id, fed to decode steps

    @property
    def features_path(self) -> bool:
        return self.vision is not None

    @property
    def sequence_length(self) -> int:
        return self.text_tokens + self.visual_tokens

    def to(self, device: str, dtype: Any) -> Request:
        """A copy with tensors on ``device`` and floating tensors in ``dtype``."""
        return Request(kwargs=_move(self.kwargs, device, dtype), vision=None if self.vision is None else
                       _move(self.vision, device, dtype), visual_tokens=self.visual_tokens,
                       native_tokens=self.native_tokens, text_tokens=self.text_tokens,
                       batch_size=self.batch_size, image_size=self.image_size, token_id=self.token_id)


def _move(inputs: dict[str, Any], device: str, dtype: Any) -> dict[str, Any]:
    out = {}
    for key, value in inputs.items():
        if hasattr(value, "is_floating_point") and not compat.is_fake_tensor(value):
            value = value.to(device=device, dtype=dtype if value.is_floating_point() else value.dtype)
        out[key] = value
    return out


def image_token_id(config: Any) -> int:
    """The placeholder id of an image token in ``input_ids``."""
    return compat.image_token_id(config)


def count_placeholders(config: Any, input_ids: Any) -> int:
    """Image placeholders per row of ``input_ids`` (the same in every row)."""
    counts = (input_ids == image_token_id(config)).sum(dim=-1).tolist()
    if len(set(counts)) != 1:  # pragma: no cover - dummy_inputs builds identical rows
        raise ValidationError(f"rows hold different numbers of image tokens: {counts}", field="input_ids",
                              value=counts)
    return int(counts[0])


def token_grid(tokens: int) -> tuple[int, int]:
    """(h, w) with h·w = tokens and h the largest divisor of tokens not above √tokens."""
    h = max(d for d in range(1, math.isqrt(tokens) + 1) if tokens % d == 0)
    return h, tokens // h


def check_tokens(tokens: Any, native: int, *, what: str) -> int:
    if isinstance(tokens, bool) or not isinstance(tokens, int):
        raise InvalidTokenCountError(f"visual tokens must be an integer, got {tokens!r}", field="visual_tokens",
                                     value=tokens)
    if tokens <= 0:
        raise InvalidTokenCountError(f"visual tokens must be positive, got {tokens}", field="visual_tokens",
                                     value=tokens)
    if tokens > native:
        raise InvalidTokenCountError(
            f"{tokens} visual tokens is more than {what} produces: at most {native} per image",
            field="visual_tokens", value=tokens,
        )
    return tokens


def build_request(family: Any, config: Any, *, visual_tokens: int | None = None, text_tokens: int = 50,
                  batch_size: int = 1, image_size: tuple[int, int] | None = None, fake_mode: Any = None,
                  what: str = "the model") -> Request:
    """Inputs with ``visual_tokens`` per image (None: the native count) and ``text_tokens`` of text.

    ``text_tokens`` is passed to ``dummy_inputs``; the request's ``text_tokens`` counts every
    non-image position (Qwen adds <|vision_start|> and <|vision_end|> around the image).
    """
    require("torch", feature="building a profiled request")
    import torch

    base = family.dummy_inputs(config, image_size=image_size, text_tokens=text_tokens, batch_size=batch_size,
                               pixel_values_fake_mode=fake_mode)
    ids = base["input_ids"]
    image_id = image_token_id(config)
    native = count_placeholders(config, ids)
    k = native if visual_tokens is None else check_tokens(visual_tokens, native, what=what)
    text = int(ids.shape[1]) - native
    ordinary = ids[0][ids[0] != image_id]
    token_id = int(ordinary[-1]) if len(ordinary) else 0
    if k == native:
        return Request(kwargs=dict(base), vision=None, visual_tokens=k, native_tokens=native, text_tokens=text,
                       batch_size=batch_size, image_size=image_size, token_id=token_id)

    vision = {key: base[key] for key in VISION_KEYS if key in base}
    placeholders = ids == image_id
    rank = placeholders.long().cumsum(dim=1)
    keep = ~placeholders | (rank <= k)  # the first k placeholders of every row, and all text
    length = int(keep[0].sum())
    kwargs: dict[str, Any] = {}
    for key, value in base.items():
        if key in VISION_KEYS:
            continue
        if isinstance(value, torch.Tensor) and value.dim() >= 2 and tuple(value.shape[:2]) == tuple(ids.shape):
            value = value[keep].reshape(ids.shape[0], length, *value.shape[2:])
        kwargs[key] = value
    if "image_grid_thw" in base:  # Qwen: positions of a grid whose merged size is k
        merge = int(config.vision_config.spatial_merge_size)
        h, w = token_grid(k)
        images = int(base["image_grid_thw"].shape[0])
        kwargs["image_grid_thw"] = torch.tensor([[1, h * merge, w * merge]] * images, dtype=torch.long)
    return Request(kwargs=kwargs, vision=vision, visual_tokens=k, native_tokens=native, text_tokens=text,
                   batch_size=batch_size, image_size=image_size, token_id=token_id)
