"""The inputs of one profiled request: the family's dummy inputs, with the seam's placeholder count.

``family.dummy_inputs`` builds one forward pass's inputs at the model's native count. A compressor
that runs before the LLM needs fewer image placeholders in ``input_ids`` (the seam says how many:
``Seam.placeholders``, k per image, or for LLaVA-NeXT k per crop plus the newline tokens), so the
request keeps the first that many of every row, and the same positions of every per-token input
(``attention_mask``, ``mm_token_type_ids``). The vision inputs (``pixel_values``, ``image_sizes``,
``image_grid_thw``) stay as they are: the seam runs the vision tower on the full image.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vlmplanner import compat
from vlmplanner.errors import InvalidTokenCountError, ValidationError
from vlmplanner.extras import require

__all__ = ["Request", "build_request", "count_placeholders", "image_token_id"]

#: Inputs the vision side consumes: the seam reads them whole.
VISION_KEYS = ("pixel_values", "image_sizes", "image_grid_thw")


@dataclass
class Request:
    """Model inputs for one batch, and what they hold."""

    kwargs: dict[str, Any]  # the processed batch: what the seam's prepare() takes
    visual_tokens: int  # image placeholders per image: what the LLM's first layer sees
    native_tokens: int  # per image, uncompressed
    text_tokens: int  # per request: sequence length minus visual tokens
    batch_size: int
    image_size: tuple[int, int] | None
    token_id: int  # an ordinary token id, fed to decode steps

    @property
    def features_path(self) -> bool:
        """True when fewer placeholders than native: the seam supplies the compressed features."""
        return self.visual_tokens != self.native_tokens

    @property
    def sequence_length(self) -> int:
        return self.text_tokens + self.visual_tokens

    def to(self, device: str, dtype: Any) -> Request:
        """A copy with tensors on ``device`` and floating tensors in ``dtype``."""
        return Request(kwargs=_move(self.kwargs, device, dtype), visual_tokens=self.visual_tokens,
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
                  what: str = "the model", placeholders: Callable[[dict[str, Any]], int | None] | None = None) -> Request:
    """Inputs with ``text_tokens`` of text and ``visual_tokens`` image placeholders per image (None:
    the native count; ``placeholders(batch)``, a seam's count for this batch, when given instead).

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
    if placeholders is not None:
        wanted = placeholders(base)
        k = native if wanted is None else wanted
    else:
        k = native if visual_tokens is None else check_tokens(visual_tokens, native, what=what)
    text = int(ids.shape[1]) - native
    ordinary = ids[0][ids[0] != image_id]
    token_id = int(ordinary[-1]) if len(ordinary) else 0
    if k == native:
        return Request(kwargs=dict(base), visual_tokens=k, native_tokens=native, text_tokens=text,
                       batch_size=batch_size, image_size=image_size, token_id=token_id)
    if k > native:  # pragma: no cover - the seams never ask for more than the image gives
        raise InvalidTokenCountError(f"the seam asks for {k} image placeholders; {what} gives {native}",
                                     field="visual_tokens", value=k)
    placeholder = ids == image_id
    rank = placeholder.long().cumsum(dim=1)
    keep = ~placeholder | (rank <= k)  # the first k placeholders of every row, and all text
    length = int(keep[0].sum())
    kwargs: dict[str, Any] = {}
    for key, value in base.items():
        if key not in VISION_KEYS and isinstance(value, torch.Tensor) and value.dim() >= 2 \
                and tuple(value.shape[:2]) == tuple(ids.shape):
            value = value[keep].reshape(ids.shape[0], length, *value.shape[2:])
        kwargs[key] = value
    return Request(kwargs=kwargs, visual_tokens=k, native_tokens=native, text_tokens=text,
                   batch_size=batch_size, image_size=image_size, token_id=token_id)
