"""The base of every schema: frozen, strict about unknown fields and types, errors that name the field.

pydantic's own exception would reach users as a raw ``pydantic.ValidationError``; constructing any
schema here (``Budget(gflops="abc")``, ``Workload(text_tokens=True)``, ``Schema.model_validate``)
raises a :class:`~vlmplanner.errors.ValidationError` instead, naming the schema, the first bad
field and its value, with a "did you mean" for a misspelt field name.
"""

from __future__ import annotations

import numbers
import operator
from typing import Annotated, Any, ClassVar, TypeVar

import pydantic
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from vlmplanner.errors import ValidationError, suggest

__all__ = ["Count", "NonNegativeCount", "Number", "PositiveCount", "Schema", "as_validation_error", "build"]

SchemaT = TypeVar("SchemaT", bound="Schema")


def _count(value: Any) -> Any:
    """An integer, as an integer: not a bool, a string or a float (``144.0`` is not a count)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"expected an integer, got {type(value).__name__}")
    return operator.index(value)  # numpy integers become int


def _number(value: Any) -> Any:
    """A real number, as a float: not a bool or a string."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"expected a number, got {type(value).__name__}")
    return float(value)


#: An integer count; booleans, strings and floats are refused, numpy integers accepted.
Count = Annotated[int, BeforeValidator(_count)]
PositiveCount = Annotated[int, BeforeValidator(_count), Field(gt=0)]
NonNegativeCount = Annotated[int, BeforeValidator(_count), Field(ge=0)]
#: A real number; booleans and strings are refused.
Number = Annotated[float, BeforeValidator(_number)]


class Schema(BaseModel):
    """Immutable value object; unknown fields are an error, not silently dropped."""

    # defer_build: a class builds its validator when first used, so importing many schemas stays cheap;
    # no protected namespaces: fields such as model_type are ours (pydantic < 2.10 warns about "model_")
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, defer_build=True,
                              protected_namespaces=())
    #: The error class bad input to this schema raises ...
    error_class: ClassVar[type[ValidationError]] = ValidationError
    #: ... or, for these fields, a more specific one.
    field_error_classes: ClassVar[dict[str, type[ValidationError]]] = {}

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except pydantic.ValidationError as exc:
            raise as_validation_error(exc, type(self)) from exc

    # pydantic calls a model's own __init__ for nested fields unless it is marked as the base one;
    # marked, nested problems keep their full path (``llm.num_heads``) and this runs once, at the top.
    # tests/test_schemas.py checks the path, so a pydantic that drops the marker fails there.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @classmethod
    def trusted(cls: type[SchemaT], **fields: Any) -> SchemaT:
        """An instance from values vlmplanner computed itself (already typed, nested schemas already
        built): no validation, so no validator is built for a result nobody typed. Never for input."""
        return cls.model_construct(**fields)  # type: ignore[return-value]

    @classmethod
    def model_validate(cls: type[SchemaT], obj: Any, *args: Any, **kwargs: Any) -> SchemaT:
        if not isinstance(obj, (dict, BaseModel)) and not kwargs.get("from_attributes"):
            raise cls.error_class(f"invalid {cls.__name__}: expected a mapping of its fields, got"
                                  f" {type(obj).__name__} {obj!r:.80}", field=cls.__name__, value=obj)
        try:
            return super().model_validate(obj, *args, **kwargs)
        except pydantic.ValidationError as exc:
            raise as_validation_error(exc, cls) from exc


def build(cls: type[SchemaT], data: dict[str, Any] | None = None, **fields: Any) -> SchemaT:
    """Validate ``data`` and ``fields`` into ``cls``; bad input is a ``VlmPlannerError`` naming the field."""
    if data is not None and not isinstance(data, dict):
        raise cls.error_class(f"invalid {cls.__name__}: expected a mapping of its fields, got"
                              f" {type(data).__name__} {data!r:.80}", field=cls.__name__, value=data)
    return cls.model_validate({**(data or {}), **fields})


def as_validation_error(exc: pydantic.ValidationError, schema: type[Schema] | str) -> ValidationError:
    """The first problem pydantic found, as one line: ``invalid Budget: gflops = 'abc': …``."""
    what = schema if isinstance(schema, str) else schema.__name__
    error_class = ValidationError if isinstance(schema, str) else schema.error_class
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first.get("loc", ())) or None
    value = first.get("input")
    shown = repr(value) if not isinstance(value, dict) else "(missing)"
    reason = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    if first.get("type") == "missing":
        shown = "(missing)"
    message = f"invalid {what}: {field or 'value'} = {shown:.120}: {reason}"
    if first.get("type") == "extra_forbidden" and field and not isinstance(schema, str):
        close = suggest(field, schema.model_fields)
        message += f"; did you mean {', '.join(repr(c) for c in close)}?" if close else (
            f"; its fields are {', '.join(schema.model_fields)}")
    if len(exc.errors()) > 1:
        message += f" (and {len(exc.errors()) - 1} more problem(s))"
    if not isinstance(schema, str) and field in schema.field_error_classes:
        error_class = schema.field_error_classes[field]
    return error_class(message, field=field, value=value)
