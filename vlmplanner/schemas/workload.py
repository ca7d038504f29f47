"""Workload: what one request looks like to the model."""

from __future__ import annotations

from pydantic import Field

from ._base import NonNegativeCount, PositiveCount, Schema

__all__ = ["Workload"]


class Workload(Schema):
    """One request as the model sees it; every count is an integer (a bool or ``"50"`` is refused)."""

    text_tokens: NonNegativeCount = Field(50, description="Q: text tokens in the prompt")
    output_tokens: NonNegativeCount = Field(0, description="tokens generated per request")
    images_per_request: PositiveCount = 1
    image_size: tuple[PositiveCount, PositiveCount] | None = Field(
        None, description="(height, width) in pixels; None means the family's default"
    )
    batch_size: PositiveCount = 1
