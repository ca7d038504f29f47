"""Candidate: (model, compressor, visual tokens or a share of the native ones), and its canonical key."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, computed_field, model_validator

from vlmplanner.errors import InvalidTokenCountError, ValidationError

from ._base import PositiveCount, Schema

__all__ = ["Candidate"]


def _percent(share: float) -> str:
    """A share as the key writes it: ``25%``, ``6.25%`` (no trailing zeros, no float noise)."""
    return f"{round(share * 100, 6):g}%"


class Candidate(Schema):
    """A configuration to cost, rank and run. Its key is ``<checkpoint>+<compressor>@<tokens>``, or
    ``<checkpoint>+<compressor>@<percent>%`` for a share of each image's native tokens (families
    whose token count follows the image: Qwen2-VL / Qwen2.5-VL)."""

    field_error_classes: ClassVar[dict[str, type[ValidationError]]] = {"visual_tokens": InvalidTokenCountError,
                                                                      "share": InvalidTokenCountError}

    model: str = Field(min_length=1)
    compressor: str = Field(min_length=1)
    visual_tokens: PositiveCount | None = None
    share: float | None = Field(default=None, gt=0, le=1,
                                description="the kept fraction of each image's native visual tokens, in (0, 1]")

    @model_validator(mode="after")
    def _one_of_count_or_share(self) -> Candidate:
        if (self.visual_tokens is None) == (self.share is None):
            raise InvalidTokenCountError(
                f"a candidate keeps either a number of visual tokens or a share of them, not"
                f" {'both' if self.share is not None else 'neither'}", field="visual_tokens",
                value=self.visual_tokens)
        return self

    def tokens_for(self, native: int) -> int:
        """The visual tokens it keeps of an image with ``native`` tokens (a share: rounded, at least 1)."""
        if self.share is None:
            assert self.visual_tokens is not None
            return self.visual_tokens
        return max(1, round(self.share * native))

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
        given = {name: fields.get(name) for name in ("model", "compressor", "visual_tokens", "share")}
        if given != parsed.model_dump(exclude={"key"}):
            raise ValidationError(f"key {data['key']!r} does not match model, compressor and visual_tokens {given}",
                                  field="key", value=data["key"])
        return fields

    @computed_field  # type: ignore[prop-decorator]
    @property
    def key(self) -> str:
        tokens = _percent(self.share) if self.share is not None else str(self.visual_tokens)
        return f"{self.model}+{self.compressor}@{tokens}"

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
        if tokens.endswith("%"):
            return cls(model=model, compressor=compressor, share=_read_share(tokens, key))
        try:
            count = int(tokens)
        except ValueError:
            raise InvalidTokenCountError(
                f"malformed candidate key {key!r}: visual tokens {tokens!r} is neither an integer nor a share"
                " such as 25%",
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


def _read_share(text: str, key: str) -> float:
    """``25%`` -> 0.25; a share outside (0, 100%] is an InvalidTokenCountError."""
    try:
        percent = float(text[:-1])
    except ValueError:
        raise InvalidTokenCountError(f"malformed candidate key {key!r}: share {text!r} is not a percentage such as"
                                     " 25%", field="share", value=text) from None
    if not 0 < percent <= 100:
        raise InvalidTokenCountError(f"a share of the native visual tokens must be in (0, 100%], got {text} in"
                                     f" {key!r}", field="share", value=text)
    return percent / 100
