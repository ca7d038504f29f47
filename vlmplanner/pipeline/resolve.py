"""Every check ``load()`` makes before anything is loaded, as plain Python (no torch).

:func:`resolve` turns a candidate key (or a :class:`~vlmplanner.schemas.Candidate`) and its options
into a :class:`RunPlan`: the model spec, the family, the compressor's card and the options it will
be built with, the token count per crop (LLaVA-NeXT), where the weights come from. A bad input
raises a :class:`~vlmplanner.errors.ValidationError` subclass naming the field and the value; none
of this imports torch or transformers, so it is cheap and testable in the light install.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vlmplanner.errors import InvalidTokenCountError, UnknownModelError, ValidationError
from vlmplanner.families.base import TokenFit
from vlmplanner.schemas import Candidate, ModelSpec

if TYPE_CHECKING:
    from vlmplanner.compressors import CompressorCard
    from vlmplanner.store import Catalog

__all__ = [
    "DTYPES",
    "RunPlan",
    "TokenFit",
    "check_checkpoint",
    "check_device",
    "check_dtype",
    "check_seam",
    "check_share",
    "check_weights",
    "fit_tokens",
    "resolve",
    "seam_families",
]

#: dtype spellings accepted by load() / instantiate(), and the torch dtype name each means.
DTYPES: dict[str, str] = {
    "auto": "auto",
    "float32": "float32", "fp32": "float32", "float": "float32",
    "bfloat16": "bfloat16", "bf16": "bfloat16",
    "float16": "float16", "fp16": "float16", "half": "float16",
}
_DEVICE = re.compile(r"^(cpu|mps|meta|(cuda|xpu|npu)(:\d+)?)$")


@dataclass(frozen=True)
class RunPlan:
    """What load() will build, decided before anything is loaded.

    ``visual_tokens`` is the candidate's k (a share's k at the model's reference image; ``share``
    then keeps that fraction of each image's own tokens). For ``llava_next``, pre-LLM compressors run per crop:
    ``crop_tokens`` = k / ``crops`` (the most crops an image can have), so an image never gives the
    LLM more than k tokens, newline tokens aside. ``grid`` is the patch grid a compressor runs on
    (per crop for the LLaVA families; None for Qwen, whose grid depends on the image).
    """

    candidate: Candidate
    spec: ModelSpec
    card: CompressorCard
    visual_tokens: int
    compressor_tokens: int
    grid: tuple[int, int] | None
    crops: int
    compressor_options: dict[str, Any]
    checkpoint: str
    local_checkpoint: bool
    device: str
    dtype: str | None
    trust_remote_code: bool
    notes: tuple[str, ...] = field(default=())
    #: run ``none`` through the seam too (tests compare it with the model's own path)
    through_seam: bool = False

    @property
    def family(self) -> str:
        return self.spec.model_type

    @property
    def share(self) -> float | None:
        return self.candidate.share

    def tokens_for(self, native: int) -> int:
        """The tokens one image with ``native`` tokens keeps: k, or the share of its own count."""
        return self.compressor_tokens if self.share is None else self.candidate.tokens_for(native)

    @property
    def compressor(self) -> str:
        return self.card.name

    @property
    def native(self) -> bool:
        """True for ``none`` and ``downsample`` (which only scales the image first): the model's own
        path runs, no seam in between."""
        from vlmplanner.compressors.resize import resizes_input

        return (self.card.token_rule == "native" or resizes_input(self.card)) and not self.through_seam

    @property
    def in_llm(self) -> bool:
        return self.card.kind == "in-llm"


def check_device(device: Any) -> str:
    """The device as a string (``cpu``, ``cuda``, ``cuda:1``, ``mps``...), or a ValidationError."""
    text = str(device) if device is not None and type(device).__name__ == "device" else device
    if not isinstance(text, str) or not _DEVICE.match(text.strip()):
        raise ValidationError(
            f"device must be 'cpu', 'cuda', 'cuda:N', 'mps' or a torch.device, got {device!r}",
            field="device", value=device,
        )
    return text.strip()


def check_dtype(dtype: Any) -> str | None:
    """The dtype's torch name (``float32``, ``bfloat16``, ``float16``, ``auto``) or None."""
    if dtype is None:
        return None
    if type(dtype).__name__ == "dtype" and type(dtype).__module__ == "torch":
        name = str(dtype).removeprefix("torch.")
        if name in DTYPES.values():
            return name
    elif isinstance(dtype, str) and dtype.strip().lower().removeprefix("torch.") in DTYPES:
        return DTYPES[dtype.strip().lower().removeprefix("torch.")]
    raise ValidationError(
        f"dtype must be one of {', '.join(sorted(set(DTYPES)))} or a torch floating dtype, got {dtype!r}",
        field="dtype", value=str(dtype),
    )


def _local_config(path: Path) -> dict[str, Any] | None:
    file = path / "config.json"
    if not file.is_file():
        return None
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValidationError(f"cannot read {file}: {exc}", field="checkpoint", value=str(path)) from exc
    if not isinstance(data, dict):
        raise ValidationError(f"{file} does not hold a JSON object", field="checkpoint", value=str(path))
    return data


def seam_families() -> list[str]:
    """The families whose adapter names a pipeline seam."""
    from vlmplanner.families import get_family, list_families

    return [f for f in list_families() if get_family(f).seam is not None]


def _spec_for(candidate: Candidate, catalog: Catalog | str | None, model_spec: ModelSpec | None) -> ModelSpec:
    if model_spec is not None:
        if not isinstance(model_spec, ModelSpec):
            raise ValidationError(f"model_spec must be a vlmplanner ModelSpec, got {type(model_spec).__name__}",
                                  field="model_spec", value=type(model_spec).__name__)
        if model_spec.checkpoint != candidate.model:
            raise ValidationError(
                f"the candidate names model {candidate.model!r} but model_spec is {model_spec.checkpoint!r}",
                field="model_spec", value=model_spec.checkpoint,
            )
        return model_spec
    from vlmplanner.store import Catalog, open_catalog

    if isinstance(catalog, Catalog):
        return catalog.model(candidate.model)
    if catalog is not None and not isinstance(catalog, str):
        raise ValidationError(f"catalog must be a Catalog, a database URL or None, got {type(catalog).__name__}",
                              field="catalog", value=type(catalog).__name__)
    with open_catalog(catalog) as store:
        try:
            return store.model(candidate.model)
        except UnknownModelError as exc:
            raise UnknownModelError(
                candidate.model, [m.checkpoint for m in store.models()],
                hint="register it first (vlmplanner register DIR --checkpoint ID), or pass model_spec=",
            ) from exc


def check_checkpoint(spec: ModelSpec, checkpoint: Any) -> tuple[str, bool]:
    """(where the weights come from, whether it is a local directory)."""
    if checkpoint is not None:
        if not isinstance(checkpoint, (str, PathLike)) or not str(checkpoint).strip():
            raise ValidationError(f"checkpoint must be a local directory, got {checkpoint!r}",
                                  field="checkpoint", value=checkpoint)
        path = Path(checkpoint).expanduser()
        if not path.is_dir():
            raise ValidationError(f"checkpoint {str(checkpoint)!r} is not a directory: pass the folder that holds"
                                  " config.json and the weights", field="checkpoint", value=str(checkpoint))
        config = _local_config(path)
        if config is None:
            raise ValidationError(f"checkpoint {str(path)!r} has no config.json", field="checkpoint",
                                  value=str(checkpoint))
        if config.get("model_type") != spec.model_type:
            raise ValidationError(
                f"checkpoint {str(path)!r} holds a {config.get('model_type')!r} model, but {spec.checkpoint!r}"
                f" is {spec.model_type!r}", field="checkpoint", value=str(checkpoint),
            )
        return str(path.resolve()), True
    local = Path(spec.checkpoint).expanduser()
    if local.is_dir() and (local / "config.json").is_file():
        return str(local.resolve()), True
    if not spec.public_checkpoint:
        raise ValidationError(
            f"{spec.checkpoint!r} has no released weights (public_checkpoint is false): pass checkpoint=DIR,"
            " a local directory with the weights", field="checkpoint", value=None,
        )
    return spec.checkpoint, False


#: What a checkpoint's config must share with the catalog's model: everything (``strict``), or only
#: what sets the visual-token count (``tokens``: a stand-in with other widths, for tests and demos).
_ARCHITECTURE_FIELDS: dict[str, dict[str, tuple[str, ...]]] = {
    "strict": {"llm": ("num_layers", "hidden_size", "num_heads", "vocab_size"),
               "vision": ("num_layers", "hidden_size", "num_heads", "image_size", "patch_size")},
    "tokens": {"vision": ("image_size", "patch_size")},
}


def _check_same_architecture(spec: ModelSpec, config: Mapping[str, Any], where: str, match: str) -> None:
    """The weights' config.json must describe the catalog's model (``match``: see _ARCHITECTURE_FIELDS)."""
    from vlmplanner.families import get_family

    if match not in _ARCHITECTURE_FIELDS:
        raise ValidationError(f"architecture must be one of {', '.join(_ARCHITECTURE_FIELDS)}, got {match!r}",
                              field="architecture", value=match)
    found = get_family(spec.model_type).spec_from_config(config, checkpoint=spec.checkpoint, source=where)
    for part, names in _ARCHITECTURE_FIELDS[match].items():
        ours, theirs = getattr(spec, part), getattr(found, part)
        for name in names:
            if getattr(ours, name) != getattr(theirs, name):
                raise ValidationError(
                    f"checkpoint {where!r} holds a model with {part}.{name} {getattr(theirs, name)}, but the catalog's"
                    f" {spec.checkpoint!r} has {getattr(ours, name)}: point checkpoint= at that model's weights",
                    field="checkpoint", value=where,
                )
    if match == "tokens" and found.native_visual_tokens != spec.native_visual_tokens:
        raise ValidationError(
            f"checkpoint {where!r} gives {found.native_visual_tokens} visual tokens per image, the catalog's"
            f" {spec.checkpoint!r} {spec.native_visual_tokens}", field="checkpoint", value=where)


def _merge_options(base: dict[str, Any], user: Mapping[str, Any] | None) -> dict[str, Any]:
    if user is None:
        return base
    if not isinstance(user, Mapping) or not all(isinstance(k, str) for k in user):
        raise ValidationError(f"compressor_options must be a mapping of option names, got {user!r}",
                              field="compressor_options", value=user)
    for reserved in ("visual_tokens", "model_type", "weights"):
        if reserved in user:
            raise ValidationError(
                f"compressor_options may not set {reserved!r}: it comes from the candidate key"
                + (" (pass compressor_weights= for weights)" if reserved == "weights" else ""),
                field=f"compressor_options.{reserved}", value=user[reserved],
            )
    return {**base, **dict(user)}


def check_seam(spec: ModelSpec) -> None:
    """ValidationError (field ``model_type``) when the pipeline has no seam for the spec's family."""
    from vlmplanner.families import get_family, has_family

    if not has_family(spec.model_type) or get_family(spec.model_type).seam is None:
        raise ValidationError(
            f"model {spec.checkpoint!r} is a {spec.model_type!r} model; the pipeline has seams for "
            f"{', '.join(seam_families())}", field="model_type", value=spec.model_type,
        )


def fit_tokens(card: CompressorCard, spec: ModelSpec, k: int, *, config: Mapping[str, Any] | None = None,
               local: bool = False, compressor_options: Mapping[str, Any] | None = None) -> TokenFit:
    """Whether ``card`` can give the LLM ``k`` visual tokens of ``spec``'s images (the seam's inputs
    and stages, the family's token rules, an in-LLM prune layer), or the ValidationError saying why
    not. ``config``: the checkpoint's config.json, for LLaVA-NeXT's pinpoints."""
    from vlmplanner.families import get_family

    slug, family = card.name, get_family(spec.model_type)
    from vlmplanner.compressors.resize import input_fit, resizes_input

    if resizes_input(card):                    # on the image: the family's own count of a smaller one

        if not family.input_resize:
            raise ValidationError(f"compressor {slug!r} scales the input image; a {family.model_type} model gives"
                                  " every image the same token count", field="compressor", value=slug)
        return TokenFit(compressor_tokens=k, grid=None, crops=1, options={}, notes=input_fit(spec, k))
    if card.kind == "pre-llm":
        missing = family.missing_inputs(card.requires)
        if missing:
            raise ValidationError(
                f"compressor {slug!r} needs {', '.join(missing)}, which the {family.model_type} seam cannot supply",
                field="compressor", value=slug,
            )
        if card.stage != "either" and card.stage not in family.seam_stages:
            raise ValidationError(
                f"compressor {slug!r} runs {card.stage}; the {family.model_type} seam compresses"
                f" {' or '.join(sorted(family.seam_stages))}", field="compressor", value=slug,
            )
    fit = family.fit_tokens(slug, card.token_rule, card.kind, spec, k, check_tokens=card.check_tokens,
                            config=config, local=local)
    options = dict(fit.options)
    if card.kind == "in-llm":
        layer = (compressor_options or {}).get("prune_layer", card.prune_layer)
        if isinstance(layer, bool) or not isinstance(layer, int) or layer < 1:
            raise ValidationError(f"{slug}: prune_layer must be an integer >= 1, got {layer!r}", field="prune_layer",
                                  value=layer)
        if layer >= spec.llm.num_layers:
            raise ValidationError(
                f"{slug}: prune_layer {layer} must be below the LLM's {spec.llm.num_layers} layers, or no layer"
                " would see fewer tokens", field="prune_layer", value=layer,
            )
        options["prune_layer"] = layer
    if slug == "quecc":
        options.update(vision_dim=spec.vision.hidden_size, query_dim=spec.llm.hidden_size)
    return replace(fit, options=options)


def check_share(candidate: Candidate, spec: ModelSpec, card: CompressorCard) -> int:
    """The k a share candidate keeps at the model's reference image, or InvalidTokenCountError (field
    ``share``) when the share has no meaning here: a family whose every image gives the same count, or
    a compressor that does not compress."""
    from vlmplanner.families import get_family

    assert candidate.share is not None
    family = get_family(spec.model_type)
    k = candidate.tokens_for(spec.native_visual_tokens)
    if not family.token_shares:
        raise InvalidTokenCountError(
            f"{candidate.key}: {spec.checkpoint} is a {spec.model_type} model, whose images all give"
            f" {spec.native_visual_tokens} visual tokens; a share of them is for families whose count follows"
            f" the image. Use a count, e.g. @{k}", field="share", value=candidate.share,
        )
    if card.token_rule == "native" and candidate.share != 1:
        raise InvalidTokenCountError(f"{candidate.key}: {card.name} keeps every token: its share is 100%",
                                     field="share", value=candidate.share)
    return k


def check_weights(card: CompressorCard, compressor_weights: Any,
                  compressor_options: Mapping[str, Any] | None = None) -> str | None:
    """The trained compressor's weights file (None for a training-free one), or a ValidationError
    naming ``weights``: a trained compressor needs one unless ``allow_untrained`` is set."""
    slug = card.name
    if card.training == "trained":
        allow = bool((compressor_options or {}).get("allow_untrained", False))
        if compressor_weights is None and not allow:
            raise ValidationError(
                f"compressor {slug!r} is trained: pass compressor_weights='path/to/{slug}.safetensors' (weights"
                " trained for this model and k)", field="weights", value=None,
            )
        if compressor_weights is not None:
            if not isinstance(compressor_weights, (str, PathLike)) or not Path(compressor_weights).is_file():
                raise ValidationError(f"compressor weights {str(compressor_weights)!r} is not a file",
                                      field="weights", value=str(compressor_weights))
            return str(Path(compressor_weights).expanduser())
        return None
    if compressor_weights is not None:
        raise ValidationError(f"compressor {slug!r} is training-free: it takes no weights", field="weights",
                              value=str(compressor_weights))
    return None


def resolve(
    candidate: str | Candidate,
    *,
    catalog: Catalog | str | None = None,
    model_spec: ModelSpec | None = None,
    checkpoint: str | PathLike[str] | None = None,
    compressor_weights: str | PathLike[str] | None = None,
    compressor_options: Mapping[str, Any] | None = None,
    device: Any = "cpu",
    dtype: Any = None,
    trust_remote_code: bool = False,
    config: Mapping[str, Any] | None = None,
    card: CompressorCard | None = None,
    in_memory: bool = False,
    architecture: str = "strict",
) -> RunPlan:
    """Every check load() makes before loading anything; see the module docstring.

    ``config``: the model's config.json as a dict, when it is not in a local checkpoint directory
    (a model in memory); it supplies LLaVA-NeXT's pinpoints. ``card``: the card of a compressor
    instance that need not be registered (``wrap``); its name must be the key's compressor.
    ``in_memory``: the model is already built (``wrap``, the profiler), so where its weights would
    come from is not checked. ``architecture``: how much a local checkpoint must match the catalog's
    model: ``strict`` (layers, widths, heads, vocabulary, patch grid) or ``tokens`` (only what sets the
    visual-token count: image and patch size; a small stand-in model, for tests and demos).
    """
    from vlmplanner.compressors import compressor_card, resolve_name

    if isinstance(candidate, str):
        candidate = Candidate.parse(candidate)
    elif not isinstance(candidate, Candidate):
        raise ValidationError(f"expected a candidate key such as 'org/model+pool@144', got {candidate!r}",
                              field="key", value=candidate)
    device_name = check_device(device)
    dtype_name = check_dtype(dtype)
    if architecture not in _ARCHITECTURE_FIELDS:
        raise ValidationError(f"architecture must be one of {', '.join(_ARCHITECTURE_FIELDS)}, got {architecture!r}",
                              field="architecture", value=architecture)
    if not isinstance(trust_remote_code, bool):
        raise ValidationError(f"trust_remote_code must be True or False, got {trust_remote_code!r}",
                              field="trust_remote_code", value=trust_remote_code)
    if card is None:
        card = compressor_card(resolve_name(candidate.compressor))  # UnknownCompressorError, did-you-mean
    elif card.name != candidate.compressor:
        raise ValidationError(f"the compressor is {card.name!r} but the key names {candidate.compressor!r}",
                              field="compressor", value=candidate.compressor)
    spec = _spec_for(candidate, catalog, model_spec)
    check_seam(spec)
    card.check_family(spec.model_type)                             # ValidationError(field="model_type")
    where, local = (candidate.model, False) if in_memory else check_checkpoint(spec, checkpoint)
    if config is None and local:
        config = _local_config(Path(where))
        if config is not None:
            _check_same_architecture(spec, config, where, architecture)
    k = check_share(candidate, spec, card) if candidate.share is not None else candidate.tokens_for(0)
    fit = fit_tokens(card, spec, k, config=config, local=local, compressor_options=compressor_options)
    options = dict(fit.options)
    weights = check_weights(card, compressor_weights, compressor_options)
    if weights is not None:
        options["weights"] = weights
    options = _merge_options(options, compressor_options)
    return RunPlan(
        candidate=candidate, spec=spec, card=card, visual_tokens=k,
        compressor_tokens=fit.compressor_tokens, grid=fit.grid, crops=fit.crops, compressor_options=options,
        checkpoint=where, local_checkpoint=local, device=device_name, dtype=dtype_name,
        trust_remote_code=trust_remote_code, notes=fit.notes,
    )
