"""``load``, ``instantiate`` and ``wrap``: from a candidate key (or a recommendation, or a model in
memory) to a running :class:`~vlmplanner.pipeline.runner.VLMPipeline`.

The extras are checked first (torch, transformers, Pillow: a MissingExtraError naming ``pip install
'vlmplanner[torch]'``), then every check on the input (:func:`vlmplanner.pipeline.resolve.resolve`,
plain Python), then the compressor is built (its weights file checked against the model) and the
device checked (DeviceUnavailableError), and only then the model's weights are loaded through
transformers (``family.load``: ModelLoadError or HubUnreachableError when that fails).
"""

from __future__ import annotations

from collections.abc import Mapping
from os import PathLike
from typing import TYPE_CHECKING, Any

from vlmplanner.errors import NotRunnableError, ValidationError
from vlmplanner.extras import require
from vlmplanner.schemas import Candidate, ModelSpec

from .resolve import RunPlan, resolve

if TYPE_CHECKING:
    from vlmplanner.compressors import Compressor
    from vlmplanner.planner import Recommendation
    from vlmplanner.store import Catalog

    from .runner import VLMPipeline

__all__ = ["build_compressor", "instantiate", "load", "wrap"]


def build_compressor(plan: RunPlan) -> Compressor:
    """The plan's compressor instance (``get_compressor`` with the options the seam needs)."""
    from vlmplanner.compressors import get_compressor

    return get_compressor(plan.compressor, plan.compressor_tokens, model_type=plan.family,
                          **plan.compressor_options)


def _torch_dtype(name: str | None) -> Any:
    if name is None or name == "auto":
        return name
    return getattr(require("torch", feature="a model dtype"), name)


def _require_stack(feature: str) -> None:
    """torch, transformers and Pillow, or one MissingExtraError naming the extra that brings them."""
    for module in ("torch", "transformers", "PIL"):
        require(module, feature=feature)


def _place(compressor: Compressor, device: str) -> None:
    require("torch", feature="placing a compressor")
    import torch

    if isinstance(compressor, torch.nn.Module):
        compressor.to(device)
        compressor.eval()


def load(
    candidate_key: str | Candidate,
    *,
    device: str = "cpu",
    dtype: Any = None,
    checkpoint: str | PathLike[str] | None = None,
    compressor_weights: str | PathLike[str] | None = None,
    trust_remote_code: bool = False,
    catalog: Catalog | str | None = None,
    model_spec: ModelSpec | None = None,
    compressor_options: Mapping[str, Any] | None = None,
    architecture: str = "strict",
) -> VLMPipeline:
    """Load a configuration by its candidate key (``<checkpoint>+<compressor>@<tokens>``) and return a
    pipeline whose ``generate(images, prompts)`` returns text.

    The key's model is looked up in the catalog (``catalog``: a Catalog, a database URL, or None for
    the default one), or given directly as ``model_spec``. The weights come from ``checkpoint`` (a
    local directory) when given, else from the model's checkpoint id: a local directory or a Hub id,
    through transformers' ``from_pretrained``. ``trust_remote_code`` is passed on only when True.
    ``dtype``: None (the checkpoint's), ``"auto"``, a torch dtype or its name (``"bf16"``...).
    ``compressor_weights``: the safetensors file of a trained compressor (QueCC);
    ``compressor_options``: extra options for the compressor (``prune_layer``, ``dominant``...).
    ``architecture="tokens"`` lets a local ``checkpoint`` differ from the catalog's model in everything
    but what sets the visual-token count (a small stand-in, for tests and demos); default ``strict``.

    Every bad input -- a malformed key, an unknown model or compressor, a compressor the family does
    not support, a k the compressor does not allow or the model cannot give, a trained compressor
    without weights, a missing checkpoint directory, a bad device or dtype -- raises a
    :class:`~vlmplanner.errors.ValidationError` subclass naming the field, before anything is loaded.
    Before those, MissingExtraError when torch, transformers or Pillow is missing; after them,
    DeviceUnavailableError for a device this machine does not have, HubUnreachableError when the
    weights are on a Hub that cannot be reached (and are not cached), ModelLoadError when the
    checkpoint's files do not load.
    """
    _require_stack("vlmplanner.load")
    plan = resolve(candidate_key, catalog=catalog, model_spec=model_spec, checkpoint=checkpoint,
                   compressor_weights=compressor_weights, compressor_options=compressor_options,
                   device=device, dtype=dtype, trust_remote_code=trust_remote_code, architecture=architecture)
    return _load_plan(plan)


def _load_plan(plan: RunPlan) -> VLMPipeline:
    from vlmplanner.families import get_family
    from vlmplanner.families.devices import check_available

    _require_stack("loading a configuration")
    compressor = build_compressor(plan)                 # checks a weights file against the model first
    check_available(plan.device)
    family = get_family(plan.family)
    model, processor = family.load(plan.checkpoint, device=plan.device, dtype=_torch_dtype(plan.dtype),
                                   trust_remote_code=plan.trust_remote_code)
    _place(compressor, plan.device)
    from .runner import VLMPipeline

    return VLMPipeline(model, processor, compressor, plan)


def instantiate(recommendation: Recommendation, *, device: str = "cpu", dtype: Any = None,
                checkpoint: str | PathLike[str] | None = None, trust_remote_code: bool = False,
                compressor_weights: str | PathLike[str] | None = None, architecture: str = "strict") -> VLMPipeline:
    """Load a :class:`~vlmplanner.planner.Recommendation`'s configuration (its model spec travels
    with it, so no catalog is opened).

    A what-if recommendation (``include="all"``) that cannot run here raises NotRunnableError with
    every reason and the best runnable alternative, before anything loads; a local ``checkpoint``
    or ``compressor_weights`` given here can lift the reasons they address. ``architecture``: as for
    :func:`load`."""
    _require_stack("Recommendation.instantiate")
    if not recommendation.runnable.runnable:  # a what-if: say everything that stands in the way at once
        from .runnable import runnability

        candidate = recommendation.candidate
        found = runnability(recommendation.model, candidate.compressor,
                            candidate.tokens_for(recommendation.model.native_visual_tokens), checkpoint=checkpoint,
                            compressor_weights=compressor_weights, share=candidate.share)
        if not found.runnable:
            raise NotRunnableError(recommendation.key, found.reasons,
                                   alternative=recommendation.runnable_alternative)
    return load(recommendation.candidate, device=device, dtype=dtype, checkpoint=checkpoint,
                compressor_weights=compressor_weights, trust_remote_code=trust_remote_code,
                model_spec=recommendation.model, architecture=architecture)


def wrap(model: Any, processor: Any, compressor: str | Compressor, visual_tokens: int | None = None, *,
         compressor_options: Mapping[str, Any] | None = None,
         compressor_weights: str | PathLike[str] | None = None, checkpoint: str = "in-memory/model") -> VLMPipeline:
    """A pipeline around a model already in memory (e.g. ``get_family("llava").build_tiny()``).

    ``compressor`` is a registered name (then ``visual_tokens`` is the candidate's k) or a compressor
    instance (k from it; for ``llava_next`` an instance keeps k tokens per crop). The model's config
    stands in for the catalog entry; the same checks as :func:`load` apply.
    """
    from vlmplanner.compressors import Compressor, InLLMCompressor
    from vlmplanner.families import get_family

    _require_stack("wrapping a model")
    config = model.config.to_dict()
    family = get_family(config.get("model_type"))
    spec = family.spec_from_config(config, checkpoint=checkpoint, source="a model in memory (vlmplanner.pipeline.wrap)")
    options = dict(compressor_options or {})
    instance: Compressor | None = None
    if isinstance(compressor, Compressor):
        instance = compressor
        name = compressor.card.name
        if isinstance(compressor, InLLMCompressor):
            options.setdefault("prune_layer", compressor.prune_layer)
        if compressor.card.training == "trained":
            options.setdefault("allow_untrained", True)
        tokens = compressor.visual_tokens
        if compressor.card.token_rule == "native":
            tokens = spec.native_visual_tokens
        elif compressor.card.kind == "pre-llm":   # k per crop: the family's crops per image
            tokens *= family.max_crops(config, spec.vision.image_size)
        if visual_tokens is not None and visual_tokens != tokens:
            raise ValidationError(f"visual_tokens={visual_tokens} but the compressor keeps {tokens}",
                                  field="visual_tokens", value=visual_tokens)
        visual_tokens = tokens
    else:
        name = compressor
        if visual_tokens is None:
            raise ValidationError("pass visual_tokens with a compressor name", field="visual_tokens", value=None)
    plan = resolve(Candidate(model=checkpoint, compressor=name, visual_tokens=visual_tokens), model_spec=spec,
                   compressor_options=options, compressor_weights=compressor_weights, config=config,
                   device=str(next(model.parameters()).device),
                   card=None if instance is None else instance.card, in_memory=True)
    if instance is None:
        instance = build_compressor(plan)
    elif instance.visual_tokens != plan.compressor_tokens and not plan.native:
        raise ValidationError(f"the compressor keeps {instance.visual_tokens} tokens; this model needs"
                              f" {plan.compressor_tokens} per {'crop' if plan.crops > 1 else 'image'}",
                              field="visual_tokens", value=instance.visual_tokens)
    _place(instance, plan.device)
    from .runner import VLMPipeline

    return VLMPipeline(model, processor, instance, plan)
