"""Candidate: (model, compressor, visual tokens), and its canonical key."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, computed_field, model_validator

from vlmplanner.errors import InvalidTokenCountError, ValidationError

from ._base import PositiveCount, Schema

__all__ = ["Candidate"]


class Candidate(Schema):
    """A configuration to cost, rank and run. Its key is ``<checkpoint>+<compressor>@<tokens>``."""

    field_error_classes: ClassVar[dict[str, type[ValidationError]]] = {"visual_tokens": InvalidTokenCountError}

    model: str = Field(min_length=1)
    compressor: str = Field(min_length=1)
    visual_tokens: PositiveCount

    @model_validator(mode="before")
    @classmethod
    def _read_key(cls, data: Any) -> Any:
        """JSON written by ``model_dump`` carries ``key``: read it back (alone, or matching the fields)."""
        if not isinstance(data, dict) or "key" not in data:
            return data
        fields = {k: v for k, v in data.items() if k != "key"}
        parsed = cls.parse(data["key"])
        if not fields:
            return parsed.model_dump(exclude={"key"})
        given = {name: fields.get(name) for name in ("model", "compressor", "visual_tokens")}
        if given != parsed.model_dump(exclude={"key"}):
            raise ValidationError(f"key {data['key']!r} does not match model, compressor and visual_tokens {given}",
                                  field="key", value=data["key"])
        return fields

    @computed_field  # type: ignore[prop-decorator]
    @property
    def key(self) -> str:
        return f"{self.model}+{self.compressor}@{self.visual_tokens}"

    def __str__(self) -> str:
        return self.key

    @classmethod
    def parse(cls, key: str) -> Candidate:
        """Read a canonical key; a checkpoint never contains '+', a compressor may (``prumerge+``)."""
        if not isinstance(key, str):
            raise ValidationError(f"a candidate key is text <checkpoint>+<compressor>@<visual tokens>, got"
                                  f" {type(key).__name__} {key!r:.60}", field="key", value=key)
        model, plus, rest = key.strip().partition("+")
        compressor, at, tokens = rest.rpartition("@")
        if not (plus and at and model and compressor and tokens):
            raise ValidationError(
                f"malformed candidate key {key!r}: expected <checkpoint>+<compressor>@<visual tokens>,"
                " e.g. llava-hf/llava-1.5-7b-hf+pool@144",
                field="key",
                value=key,
            )
        try:
            count = int(tokens)
        except ValueError:
            raise InvalidTokenCountError(
                f"malformed candidate key {key!r}: visual tokens {tokens!r} is not an integer",
                field="visual_tokens",
                value=tokens,
            ) from None
        if count <= 0:
            raise InvalidTokenCountError(
                f"visual tokens must be positive, got {count} in {key!r}",
                field="visual_tokens",
                value=count,
            )
        return cls(model=model, compressor=compressor, visual_tokens=count)
