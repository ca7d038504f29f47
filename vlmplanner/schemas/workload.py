"""Workload: what one request looks like to the model."""

from __future__ import annotations

from pydantic import Field, NonNegativeInt, PositiveInt

from ._base import Schema

__all__ = ["Workload"]


class Workload(Schema):
    text_tokens: NonNegativeInt = Field(50, description="Q: text tokens in the prompt")
    output_tokens: NonNegativeInt = Field(0, description="tokens generated per request")
    images_per_request: PositiveInt = 1
    image_size: tuple[PositiveInt, PositiveInt] | None = Field(
        None, description="(height, width) in pixels; None means the family's default"
    )
    batch_size: PositiveInt = 1
