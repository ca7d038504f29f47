"""The base of every schema: frozen, strict about unknown fields, and errors that name the field."""

from __future__ import annotations

from typing import Any, TypeVar

import pydantic
from pydantic import BaseModel, ConfigDict

from vlmplanner.errors import ValidationError

__all__ = ["Schema", "build"]

SchemaT = TypeVar("SchemaT", bound="Schema")


class Schema(BaseModel):
    """Immutable value object; unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


def build(cls: type[SchemaT], data: dict[str, Any] | None = None, **fields: Any) -> SchemaT:
    """Validate into ``cls``, turning pydantic's error into a ``VlmPlannerError`` naming the field.

    pydantic's own exception would reach users as a raw traceback from deep inside the library; this
    keeps the first problem's field and value and says which object it was.
    """
    try:
        return cls.model_validate({**(data or {}), **fields})
    except pydantic.ValidationError as exc:
        raise as_validation_error(exc, cls.__name__) from exc


def as_validation_error(exc: pydantic.ValidationError, what: str) -> ValidationError:
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first.get("loc", ())) or None
    value = first.get("input")
    shown = repr(value) if not isinstance(value, dict) else "(missing)"
    message = f"invalid {what}: {field or 'value'} = {shown}: {first.get('msg', 'invalid')}"
    if len(exc.errors()) > 1:
        message += f" (and {len(exc.errors()) - 1} more problem(s))"
    return ValidationError(message, field=field, value=value)
