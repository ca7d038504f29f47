"""CompressorSpec: a visual-token compressor as the catalog knows it (its card)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, NonNegativeInt, field_validator

from ._base import Schema

__all__ = ["CompressorKind", "CompressorSpec", "Training"]

#: pre-llm: V tokens enter every LLM layer; in-llm: all tokens for the first K layers, fewer after.
CompressorKind = Literal["pre-llm", "in-llm"]
Training = Literal["training-free", "trained"]


class CompressorSpec(Schema):
    name: str = Field(min_length=1, description="the slug used in candidate keys, e.g. visionzip")
    display_name: str
    kind: CompressorKind
    training: Training
    paper: str = ""
    arxiv: str = ""
    prune_layer: NonNegativeInt | None = Field(
        None, description="in-llm only: the layer after which tokens are dropped (FastV's K)"
    )
    aliases: tuple[str, ...] = Field(default=(), description="other names results use for it")
    description: str = ""
    source: str = ""

    def answers_to(self, name: str) -> bool:
        """Whether ``name`` (any case, spaces around ignored) is this compressor's name or an alias."""
        wanted = name.strip().lower()
        return wanted == self.name or wanted in (alias.lower() for alias in self.aliases)

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str) -> str:
        if "@" in value or " " in value or value != value.lower():
            raise ValueError("a compressor name is a lower-case slug without spaces or '@'")
        return value
