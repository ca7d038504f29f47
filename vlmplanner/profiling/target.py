"""What a profile runs on: a model family, its transformers config, its ModelSpec, and maybe weights.

A ``ProfileTarget`` comes from a catalog checkpoint (its shipped config.json, or one built from the
catalog's ModelSpec numbers when none is shipped), a local checkpoint directory, a config.json dict,
or an in-memory model bundle such as ``family.build_tiny()``. FLOP counting needs only the config;
timing needs weights, which a target loads on first use (``materialize``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vlmplanner.errors import ValidationError
from vlmplanner.extras import require

if TYPE_CHECKING:
    from vlmplanner.families.base import ModelFamily, TinyVLM
    from vlmplanner.schemas import ModelSpec
    from vlmplanner.store import Catalog

__all__ = ["ProfileTarget", "config_from_spec", "shipped_config_path"]


def shipped_config_path(checkpoint: str) -> Path | None:
    """The config.json shipped in catalog/hf_configs for a checkpoint, if there is one."""
    from vlmplanner.store.shipped import shipped_catalog_dir

    path = shipped_catalog_dir() / "hf_configs" / checkpoint / "config.json"
    return path if path.is_file() else None


@dataclass
class ProfileTarget:
    """One model to profile. ``name`` is the checkpoint used in candidate keys (no '+')."""

    name: str
    family: ModelFamily
    spec: ModelSpec
    config: Any  # transformers.PretrainedConfig
    config_source: str
    model: Any = None  # a materialized torch.nn.Module, when there is one
    weights: str | None = None  # what materialize() loads: a checkpoint id or a local directory
    notes: list[str] = field(default_factory=list)
    _device: str | None = field(default=None, init=False, repr=False)
    _dtype: Any = field(default=None, init=False, repr=False)
    _fake_model: Any = field(default=None, init=False, repr=False)  # built by flops.fake_model()

    # -- constructors -------------------------------------------------------------------------
    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, name: str, source: str = "config.json",
                    weights: str | None = None, spec: ModelSpec | None = None) -> ProfileTarget:
        """A target from a config.json dict (weights, if given, are a checkpoint id or directory)."""
        from vlmplanner.families import get_family

        for module in ("torch", "transformers"):  # torch first: transformers warns on import without it
            require(module, feature="a profile target")
        _check_name(name)
        if not isinstance(config, Mapping):
            raise ValidationError("a config.json must be a JSON object", field="config", value=type(config).__name__)
        family = get_family(str(config.get("model_type")))
        hf = family.hf_config(config)
        spec = spec or family.spec_from_config(config, checkpoint=name, source=source)
        return cls(name=name, family=family, spec=spec, config=hf, config_source=source, weights=weights)

    @classmethod
    def from_bundle(cls, bundle: TinyVLM | Any, *, name: str | None = None) -> ProfileTarget:
        """A target around an in-memory model (``family.build_tiny()`` or any TinyVLM-like object
        with ``model``, ``config`` and ``family``)."""
        family = bundle.family
        config = bundle.config
        name = name or f"tiny/{family.model_type}"
        _check_name(name)
        spec = family.spec_from_config(config.to_dict(), checkpoint=name,
                                       source="in-memory model (random weights)")
        model = bundle.model
        target = cls(name=name, family=family, spec=spec, config=config, config_source="in-memory model",
                     model=model)
        first = next(iter(model.parameters()), None)
        if first is not None:
            target._device, target._dtype = str(first.device), first.dtype
        return target

    @classmethod
    def from_checkpoint(cls, checkpoint: str, *, catalog: Catalog | None = None,
                        name: str | None = None) -> ProfileTarget:
        """A catalog checkpoint (``llava-hf/llava-1.5-7b-hf``) or a local checkpoint directory.

        A catalog checkpoint uses the config.json shipped in catalog/hf_configs when there is one,
        else a config.json built from the catalog's ModelSpec numbers (see ``config_from_spec``);
        its weights are loaded by id (the Hugging Face cache, or the Hub) only when timing needs them.
        """
        path = Path(checkpoint).expanduser()
        if path.is_dir():
            config_file = path / "config.json"
            if not config_file.is_file():
                raise ValidationError(f"{str(path)!r} is a directory without a config.json", field="model",
                                      value=checkpoint)
            config = _read_json(config_file)
            return cls.from_config(config, name=name or str(path.resolve()),
                                   source=f"config.json of the local checkpoint {path.resolve()}",
                                   weights=str(path.resolve()))
        spec = _catalog_model(checkpoint, catalog)
        shipped = shipped_config_path(spec.checkpoint)
        if shipped is not None:
            config = _read_json(shipped)
            source = f"shipped config.json (catalog/hf_configs/{spec.checkpoint}/config.json)"
            target = cls.from_config(config, name=name or spec.checkpoint, source=source, weights=spec.checkpoint,
                                     spec=spec)
        else:
            config = config_from_spec(spec)
            source = ("config.json built from the catalog's ModelSpec numbers (no config.json is shipped"
                      " for this checkpoint)")
            target = cls.from_config(config, name=name or spec.checkpoint, source=source, weights=spec.checkpoint,
                                     spec=spec)
            target.notes.append(source)
        return target

    # -- facts --------------------------------------------------------------------------------
    @property
    def model_type(self) -> str:
        return str(self.family.model_type)

    def native_tokens(self, image_size: tuple[int, int] | None = None) -> int:
        """The visual tokens one image gives the LLM uncompressed: the placeholders the family's
        ``dummy_inputs`` emits for this config (the model's own count)."""
        from .requests import count_placeholders

        inputs = self.family.dummy_inputs(self.config, image_size=image_size, text_tokens=1, batch_size=1)
        return count_placeholders(self.config, inputs["input_ids"])

    # -- weights ------------------------------------------------------------------------------
    def materialize(self, device: str, dtype: Any) -> Any:
        """The model on ``device`` in ``dtype`` (a torch dtype), loading weights on first use."""
        if self.model is None:
            if self.weights is None:
                raise ValidationError(f"{self.name!r} has no weights to load; pass a bundle or a checkpoint",
                                      field="model", value=self.name)
            model, _processor = self.family.load(self.weights, device=device, dtype=dtype)
            self.model = model
        elif self._device != device or self._dtype != dtype:
            self.model = self.model.to(device=device, dtype=dtype)
        self._device, self._dtype = device, dtype
        return self.model


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not name or "+" in name:
        raise ValidationError(f"a model name in candidate keys must be non-empty and without '+', got {name!r}",
                              field="name", value=name)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValidationError(f"cannot read {path}: {exc}", field="config", value=str(path)) from exc
    if not isinstance(data, dict):
        raise ValidationError(f"{path} is not a JSON object", field="config", value=str(path))
    return data


def _catalog_model(checkpoint: str, catalog: Catalog | None) -> ModelSpec:
    if catalog is not None:
        return catalog.model(checkpoint)
    from vlmplanner.errors import UnknownModelError
    from vlmplanner.store.shipped import load_shipped

    models = {m.checkpoint: m for m in load_shipped().models}
    if checkpoint not in models:
        raise UnknownModelError(checkpoint, models, hint="a catalog checkpoint, or a local checkpoint directory")
    return models[checkpoint]


# --- config.json from a ModelSpec ---------------------------------------------------------------

def config_from_spec(spec: ModelSpec) -> dict[str, Any]:
    """A config.json dict (the checkpoint's own format) with the catalog's architecture numbers:
    the family adapter's ``config_from_spec`` (used where catalog/hf_configs ships no config.json)."""
    from vlmplanner.families import get_family

    return get_family(spec.model_type).config_from_spec(spec)
