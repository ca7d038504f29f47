"""Model families: one adapter per Hugging Face ``model_type``.

An adapter (a :class:`ModelFamily` subclass) knows its family's config.json, how many visual tokens an
image becomes, how to build a tiny offline model and the full-size model on fake tensors, the inputs
of a forward pass, which submodules are which cost component, and how to load a real checkpoint.

Built-ins are listed by name here and imported only when asked for; third-party adapters come from
the entry-point group ``vlmplanner.model_families`` (name = model_type, value = ``"module:Class"``),
read on the first lookup, never at import. Importing this package imports neither torch nor
transformers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from vlmplanner._registry import Registry
from vlmplanner.errors import UnsupportedFamilyError, ValidationError, suggest
from vlmplanner.schemas import ModelSpec

from .base import ModelFamily, TinyVLM

if TYPE_CHECKING:
    from ._hf import HFFamily, fake_mode_of

__all__ = [
    "ENTRY_POINT_GROUP",
    "HFFamily",
    "REGISTRY",
    "ModelFamily",
    "TinyVLM",
    "fake_mode_of",
    "get_family",
    "has_family",
    "list_families",
    "register_family",
    "spec_from_config",
]

def __getattr__(name: str) -> Any:
    """``HFFamily`` and ``fake_mode_of`` load on first use: importing the package (for its light
    modules, such as ``geometry``) must not pay for the transformers-facing base class."""
    if name in ("HFFamily", "fake_mode_of"):
        from . import _hf

        return getattr(_hf, name)
    raise AttributeError(f"module 'vlmplanner.families' has no attribute {name!r}")


#: The entry-point group third-party packages declare their adapters in.
ENTRY_POINT_GROUP = "vlmplanner.model_families"

#: The built-in adapters, imported on first use.
BUILTIN_FAMILIES: dict[str, str] = {
    "llava": "vlmplanner.families.llava:LlavaFamily",
    "llava_next": "vlmplanner.families.llava_next:LlavaNextFamily",
    "llava_onevision": "vlmplanner.families.llava_onevision:LlavaOnevisionFamily",
    "qwen2_vl": "vlmplanner.families.qwen2_vl:Qwen2VLFamily",
    "qwen2_5_vl": "vlmplanner.families.qwen2_5_vl:Qwen2_5_VLFamily",
    "qwen3_vl": "vlmplanner.families.qwen3_vl:Qwen3VLFamily",
    "gemma3": "vlmplanner.families.gemma3:Gemma3Family",
    "internvl": "vlmplanner.families.internvl:InternVLFamily",
    "qwen3_vl_moe": "vlmplanner.families.qwen3_vl:Qwen3VLMoeFamily",
    "qwen3_5": "vlmplanner.families.qwen3_5:Qwen3_5Family",
    "qwen3_5_moe": "vlmplanner.families.qwen3_5:Qwen3_5MoeFamily",
}

_instances: dict[str, ModelFamily] = {}


def _check(model_type: str, cls: Any, origin: str) -> type[ModelFamily]:
    if not (isinstance(cls, type) and issubclass(cls, ModelFamily)):
        raise ValidationError(f"the adapter for model_type {model_type!r} ({origin}) is not a ModelFamily subclass:"
                              f" {cls!r}", field="model_type", value=model_type)
    if getattr(cls, "model_type", None) != model_type:
        raise ValidationError(
            f"the adapter {cls.__name__} declares model_type {getattr(cls, 'model_type', None)!r}, but is"
            f" registered as {model_type!r}", field="model_type", value=model_type,
        )
    return cls


def _unsupported(model_type: str, known: Iterable[str]) -> UnsupportedFamilyError:
    known = sorted(known)
    message = f"unsupported model_type {model_type!r}; supported: {', '.join(known)}"
    close = suggest(model_type, known)
    if close:
        message += f" (did you mean {', '.join(repr(c) for c in close)}?)"
    message += f". Other families plug in through the {ENTRY_POINT_GROUP!r} entry-point group (docs/families.md)"
    return UnsupportedFamilyError(message, field="model_type", value=model_type)


#: model_type -> adapter class: the built-ins, entry points of ``ENTRY_POINT_GROUP``, registered ones.
REGISTRY: Registry[type[ModelFamily]] = Registry(
    kind="model family", group=ENTRY_POINT_GROUP, builtins=BUILTIN_FAMILIES, field="model_type", check=_check,
    unknown=_unsupported,
    name_rule="an HF model_type",
)


def list_families() -> list[str]:
    """Every model_type with an adapter: the built-ins, registered ones and installed plug-ins."""
    return REGISTRY.names()


def has_family(model_type: object) -> bool:
    """Whether ``model_type`` has an adapter. A built-in or registered one is known without reading
    the installed packages' entry points (an entry point never replaces it)."""
    return model_type in REGISTRY


def get_family(model_type: str) -> ModelFamily:
    """The adapter of ``model_type`` (an HF config.json's ``model_type``), created once and reused."""
    instance = _instances.get(model_type) if isinstance(model_type, str) else None
    if instance is not None:
        return instance
    if not has_family(model_type):  # model_types have no aliases: the name is exact
        raise _unsupported(str(model_type), REGISTRY.names())
    instance = REGISTRY.load(model_type)()
    _instances[model_type] = instance
    return instance


def register_family(model_type: str, family: type[ModelFamily] | str, *, exist_ok: bool = False) -> None:
    """Add an adapter: a ModelFamily subclass, or ``"module:Class"`` imported on first use.

    Registering a model_type that already has an adapter is an error unless ``exist_ok``, which
    replaces it.
    """
    if not isinstance(model_type, str) or not model_type.strip():
        raise ValidationError(f"model_type must be a non-empty string, got {model_type!r}", field="model_type",
                              value=model_type)
    if isinstance(family, str) and ":" not in family:
        raise ValidationError(f"an adapter given by name must be 'module:Class', got {family!r}",
                              field="family", value=family)
    if model_type in REGISTRY and not exist_ok:
        raise ValidationError(f"model_type {model_type!r} already has an adapter ({REGISTRY.origin(model_type)});"
                              " pass exist_ok=True to replace it", field="model_type", value=model_type)
    REGISTRY.register(model_type, family, exist_ok=True)
    _instances.pop(model_type, None)


def spec_from_config(config: Mapping[str, Any], *, checkpoint: str, source: str,
                     params_b: float | None = None) -> ModelSpec:
    """A config.json dict as a ModelSpec, through the adapter of its ``model_type``."""
    if not isinstance(config, Mapping):
        raise ValidationError(f"a config.json must be a JSON object, got {type(config).__name__}",
                              field="config", value=None)
    model_type = config.get("model_type")
    if model_type is None:
        raise ValidationError("config.json has no model_type, so its family is unknown", field="model_type",
                              value=None)
    return get_family(model_type).spec_from_config(config, checkpoint=checkpoint, source=source,
                                                   params_b=params_b)
