"""Every private or fast-moving torch / transformers / huggingface_hub API vlmplanner relies on.

Why one module: these are the calls a new release can move or change under us -- FakeTensor
internals, the CPU SDPA op, transformers' modelling helpers and the attributes of its models and
processors, the ``mm_encoder_outputs`` argument the seams hand compressed features through. Had
they been spread over the code, a release that moved one would break somewhere deep, or worse
count silently wrong (transformers 5.17 accepted ``mm_encoder_outputs`` into ``**kwargs`` and
ignored it, so a compressor's tokens were dropped without a word). Here each use is a named shim
that checks what it relies on and, when that is gone, raises :class:`IncompatibleVersionError`
naming the shim, the package, the installed version and the supported range. tests/test_compat.py
exercises every shim against the installed releases.

Nothing is imported at module level beyond the standard library and vlmplanner's own light
modules: ``import vlmplanner.compat`` works in the core install, and a shim that needs torch or
transformers raises :class:`~vlmplanner.errors.MissingExtraError` (through
:func:`vlmplanner.extras.require`) when they are missing.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import inspect
import os
import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from vlmplanner.errors import IncompatibleVersionError
from vlmplanner.extras import available, require

__all__ = [
    "anyres_grid_shape",
    "check_encoder_outputs",
    "countable_experts",
    "counting_experts",
    "deepstack_features",
    "deepstack_outputs",
    "clip_attention",
    "clip_encoder_layers",
    "ClipAttention",
    "decoder_attention",
    "decoder_layer_inputs",
    "DecoderAttention",
    "ENCODER_OUTPUTS",
    "encoder_outputs",
    "fake_mode_of",
    "fake_tensor_mode",
    "hub_cached",
    "hub_endpoint",
    "hub_offline",
    "image_features",
    "image_only_processor_class",
    "image_token_id",
    "IncompatibleVersionError",
    "is_fake_tensor",
    "module_flops",
    "no_init_weights",
    "override_placeholders",
    "patch_rope_index",
    "quiet_hf",
    "release_placeholders",
    "sdpa_cpu_op",
    "sdpa_flop_count",
    "supported",
    "traceable_deepstack",
    "traceable_llava_next",
    "transformers_class",
    "vlm_part",
]

#: The releases the test suite last passed with (raised in the error message as "tested with").
TESTED_WITH = {"torch": "2.13.0", "transformers": "5.24.0", "huggingface_hub": "2.4.0"}


def _installed(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def supported(package: str) -> str:
    """The version range vlmplanner declares for ``package`` (from its installed metadata), e.g.
    ``>=5.18``; empty when the metadata is unavailable."""
    try:
        requirements = metadata.requires("vlmplanner") or []
    except metadata.PackageNotFoundError:  # pragma: no cover - a source tree without metadata
        return ""
    for requirement in requirements:
        found = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*([^;]*)", requirement)
        if found and _canonical(found.group(1)) == _canonical(package) and found.group(2).strip():
            return found.group(2).strip().strip("()")
    return ""


def _moved(shim: str, package: str, what: str) -> IncompatibleVersionError:
    installed = _installed(package)
    wanted = supported(package)
    message = (f"vlmplanner.compat.{shim}: {package} {installed} {what}; vlmplanner supports {package}"
               f"{wanted or ' as pinned in its torch extra'} (tested with {TESTED_WITH.get(package, '?')});"
               f" install a supported release: pip install '{package}{wanted}'")
    return IncompatibleVersionError(message, shim=shim, package=package, installed=installed)


def _module(name: str, *, shim: str, feature: str) -> Any:
    """Import a (possibly private) submodule: MissingExtraError when its package is absent,
    IncompatibleVersionError when the package is there but the submodule moved."""
    top = name.split(".")[0]
    require(top, feature=feature)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and name.startswith(exc.name):
            raise _moved(shim, _package(top), f"has no module {name}") from None
        raise


def _package(module: str) -> str:
    return {"PIL": "pillow"}.get(module, module)


def _attribute(owner: Any, name: str, *, shim: str, package: str, where: str) -> Any:
    try:
        return getattr(owner, name)
    except AttributeError:
        raise _moved(shim, package, f"has no {where}.{name}") from None


# --- torch: fake tensors --------------------------------------------------------------------------

def fake_tensor_mode() -> Any:
    """A FakeTensorMode that lets real (integer) tensors in: full-size models are built in it with
    shapes and dtypes only, no storage (``torch._subclasses.fake_tensor``, private)."""
    module = _module("torch._subclasses.fake_tensor", shim="fake_tensor_mode", feature="building a model on fake"
                     " tensors")
    mode_class = _attribute(module, "FakeTensorMode", shim="fake_tensor_mode", package="torch",
                            where="torch._subclasses.fake_tensor")
    try:
        return mode_class(allow_non_fake_inputs=True)
    except TypeError:
        raise _moved("fake_tensor_mode", "torch", "FakeTensorMode takes no allow_non_fake_inputs") from None


def is_fake_tensor(value: Any) -> bool:
    """Whether ``value`` is a FakeTensor (shape and dtype, no storage)."""
    module = _module("torch._subclasses.fake_tensor", shim="is_fake_tensor", feature="fake tensors")
    fake = _attribute(module, "FakeTensor", shim="is_fake_tensor", package="torch",
                      where="torch._subclasses.fake_tensor")
    return isinstance(value, fake)


def fake_mode_of(value: Any) -> Any:
    """The FakeTensorMode a FakeTensor belongs to, or None for a real tensor."""
    if not is_fake_tensor(value):
        return None
    return _attribute(value, "fake_mode", shim="fake_mode_of", package="torch", where="FakeTensor")


def as_fake_like(like: Any, tensor: Any) -> Any:
    """``tensor`` (real) as a FakeTensor of ``like``'s FakeTensorMode, so it flows on through a fake
    model (``FakeTensorMode.from_tensor``)."""
    mode = fake_mode_of(like)
    return _attribute(mode, "from_tensor", shim="as_fake_like", package="torch", where="FakeTensorMode")(tensor)


# --- torch: FLOP counting ---------------------------------------------------------------------------

def sdpa_cpu_op() -> Any:
    """``aten._scaled_dot_product_flash_attention_for_cpu``: the op CPU SDPA dispatches to, which
    FlopCounterMode counts as 0 (torch 2.13), so the profiler registers a formula for it."""
    torch = require("torch", feature="counting FLOPs")
    aten = torch.ops.aten
    if not hasattr(aten, "_scaled_dot_product_flash_attention_for_cpu"):
        raise _moved("sdpa_cpu_op", "torch", "has no aten._scaled_dot_product_flash_attention_for_cpu")
    return aten._scaled_dot_product_flash_attention_for_cpu


def solve_triangular_op() -> Any:
    """``aten.linalg_solve_triangular``: Qwen3.5's chunked delta rule solves two unit-triangular
    systems per chunk with it, which FlopCounterMode has no formula for (torch 2.13)."""
    torch = require("torch", feature="counting FLOPs")
    aten = torch.ops.aten
    if not hasattr(aten, "linalg_solve_triangular"):
        raise _moved("solve_triangular_op", "torch", "has no aten.linalg_solve_triangular")
    return aten.linalg_solve_triangular


def sdpa_flop_count(query_shape: Sequence[int], key_shape: Sequence[int], value_shape: Sequence[int]) -> int:
    """FLOPs of dense attention (QKᵀ and AV) for ``[B, H, S, D]`` shapes
    (``torch.utils.flop_counter.sdpa_flop_count``, outside its ``__all__``)."""
    module = _module("torch.utils.flop_counter", shim="sdpa_flop_count", feature="counting FLOPs")
    count = _attribute(module, "sdpa_flop_count", shim="sdpa_flop_count", package="torch",
                       where="torch.utils.flop_counter")
    return int(count(tuple(query_shape), tuple(key_shape), tuple(value_shape)))


#: The key FlopCounterMode files the whole run under.
GLOBAL = "Global"


def module_flops(counter: Any) -> tuple[float, dict[str, float]]:
    """(total, FLOPs per module path) of a finished FlopCounterMode. Paths start with the root
    module's class name (``Runner.model.lm_head``) and include their submodules' FLOPs."""
    counts = _attribute(counter, "get_flop_counts", shim="module_flops", package="torch",
                        where="FlopCounterMode")()
    if GLOBAL not in counts and counts:
        raise _moved("module_flops", "torch", f"FlopCounterMode files no {GLOBAL!r} total")
    totals = {path: float(sum(ops.values())) for path, ops in counts.items()}
    return totals.pop(GLOBAL, 0.0), totals


# --- transformers: classes, helpers, modelling functions ------------------------------------------------

def transformers_class(name: str) -> Any:
    """``transformers.<name>`` (a config, model or processor class), or IncompatibleVersionError."""
    transformers = require("transformers", feature=f"transformers' {name}")
    return _attribute(transformers, name, shim="transformers_class", package="transformers", where="transformers")


def no_init_weights() -> contextlib.AbstractContextManager[Any]:
    """transformers' switch that skips random weight initialization (``transformers.initialization``):
    a FakeTensor model's values are never read, and initializing them costs seconds at 72B."""
    module = _module("transformers.initialization", shim="no_init_weights", feature="building a fake model")
    context: contextlib.AbstractContextManager[Any] = _attribute(
        module, "no_init_weights", shim="no_init_weights", package="transformers",
        where="transformers.initialization")()
    return context


def _llava_next_module(shim: str) -> Any:
    return _module("transformers.models.llava_next.modeling_llava_next", shim=shim, feature="LLaVA-NeXT")


def anyres_grid_shape(image_size: Sequence[int], pinpoints: Sequence[Sequence[int]], tile: int) -> tuple[int, int]:
    """(rows, cols) of tiles LLaVA-NeXT cuts an image of ``(height, width)`` into, by transformers'
    own ``get_anyres_image_grid_shape`` (so the seam's layout is the model's)."""
    function = _attribute(_llava_next_module("anyres_grid_shape"), "get_anyres_image_grid_shape",
                          shim="anyres_grid_shape", package="transformers", where="modeling_llava_next")
    rows, cols = function([int(s) for s in image_size], [list(p) for p in pinpoints], int(tile))
    return int(rows), int(cols)


def _unpad_image(tensor: Any, original_size: Any) -> Any:
    """LLaVA-NeXT's ``unpad_image`` on Python ints (a jit trace turns ``tensor.shape`` into tensors,
    which ``round()`` refuses); the same arithmetic, the same FLOPs."""
    if not isinstance(original_size, (list, tuple)):
        original_size = original_size.tolist()
    height, width = (int(v) for v in original_size)
    current_height, current_width = (int(v) for v in tensor.shape[1:])
    if width / height > current_width / current_height:
        new_height = int(round(height * (current_width / width), 7))
        padding = (current_height - new_height) // 2
        return tensor[:, padding: current_height - padding, :]
    new_width = int(round(width * (current_height / height), 7))
    padding = (current_width - new_width) // 2
    return tensor[:, :, padding: current_width - padding]


@contextlib.contextmanager
def traceable_llava_next(family: str = "llava_next") -> Iterator[None]:
    """For the duration, the module-level ``unpad_image`` of LLaVA-NeXT (or of ``family``, another
    anyres model: ``llava_onevision``) is replaced by one a torch.jit trace can follow (fvcore
    traces the model)."""
    module = _module(f"transformers.models.{family}.modeling_{family}", shim="traceable_llava_next",
                     feature=family)
    original = _attribute(module, "unpad_image", shim="traceable_llava_next", package="transformers",
                          where=f"modeling_{family}")
    module.unpad_image = _unpad_image
    try:
        yield
    finally:
        module.unpad_image = original


def _without_vmap(mask: Callable[..., Any]) -> Callable[..., Any]:
    def build(*args: Any, **kwargs: Any) -> Any:
        return mask(*args, **{**kwargs, "use_vmap": False})

    return build


@contextlib.contextmanager
def traceable_masks() -> Iterator[None]:
    """For the duration, transformers builds attention masks by broadcasting index tensors, not
    with ``torch.vmap``: a mask with an overlay (Gemma 3's bidirectional image blocks, a sliding
    window) asks for vmap, which a torch.jit trace (fvcore) cannot follow. The overlays are
    index-based, so both ways give the same mask."""
    module = _module("transformers.masking_utils", shim="traceable_masks", feature="tracing attention masks")
    registry = _attribute(module, "ALL_MASK_ATTENTION_FUNCTIONS", shim="traceable_masks", package="transformers",
                          where="masking_utils")
    names = [name for name in ("sdpa", "eager") if name in registry]
    saved = {name: registry[name] for name in names}
    for name in names:
        registry[name] = _without_vmap(saved[name])
    try:
        yield
    finally:
        for name, mask in saved.items():
            registry[name] = mask


def _deepstack_by_index(self: Any, hidden_states: Any, visual_pos_masks: Any, visual_embeds: Any) -> Any:
    """Qwen3-VL's ``_deepstack_process`` with the (real) mask turned into indices first: boolean
    indexing of a FakeTensor asks for its nonzero count, which fake tensors cannot give."""
    rows, cols = visual_pos_masks.nonzero(as_tuple=True)
    device = hidden_states.device
    rows, cols = rows.to(device), cols.to(device)
    hidden_states = hidden_states.clone()
    hidden_states[rows, cols] = hidden_states[rows, cols] + visual_embeds.to(device, hidden_states.dtype)
    return hidden_states


#: The Qwen3-VL text models whose DeepStack step :func:`traceable_deepstack` replaces.
_DEEPSTACK_MODELS = (("transformers.models.qwen3_vl.modeling_qwen3_vl", "Qwen3VLTextModel"),
                     ("transformers.models.qwen3_vl_moe.modeling_qwen3_vl_moe", "Qwen3VLMoeTextModel"))


@contextlib.contextmanager
def traceable_deepstack() -> Iterator[None]:
    """For the duration, Qwen3-VL's DeepStack step adds the vision features by index instead of by
    boolean mask (the same sums), so the model runs on FakeTensor weights."""
    originals = []
    for module_name, class_name in _DEEPSTACK_MODELS:
        module = _module(module_name, shim="traceable_deepstack", feature="tracing Qwen3-VL")
        cls = _attribute(module, class_name, shim="traceable_deepstack", package="transformers", where=module_name)
        method = _attribute(cls, "_deepstack_process", shim="traceable_deepstack", package="transformers",
                            where=class_name)
        originals.append((cls, method))
        cls._deepstack_process = _deepstack_by_index
    try:
        yield
    finally:
        for cls, method in originals:
            cls._deepstack_process = method


#: The experts implementation whose cost is its active experts' and that runs on fake tensors.
COUNTABLE_EXPERTS = "batched_mm"


def countable_experts(config: Any) -> Any:
    """A copy of an MoE model's config that runs its experts as one batched matmul per (token,
    expert) pair (transformers' ``experts_implementation="batched_mm"``). The default loops over
    the experts a batch picked, which asks data-dependent questions a FakeTensor cannot answer,
    and ``grouped_mm`` is an op torch's FLOP counter does not count."""
    if not hasattr(config, "_experts_implementation"):
        raise _moved("countable_experts", "transformers",
                     f"{type(config).__name__} has no _experts_implementation (experts_implementation)")
    copied = copy.deepcopy(config)
    copied._experts_implementation = COUNTABLE_EXPERTS
    return copied


@contextlib.contextmanager
def counting_experts(model: Any) -> Iterator[None]:
    """For the duration, a real MoE model runs its experts as :func:`countable_experts` configures
    them (a jit trace of the default records a loop whose grouped matmuls fvcore does not count)."""
    setter = _attribute(model, "set_experts_implementation", shim="counting_experts", package="transformers",
                        where=type(model).__name__)
    before = getattr(model.config, "_experts_implementation", None)
    setter(COUNTABLE_EXPERTS)
    try:
        yield
    finally:
        setter(before or "eager")


def deepstack_outputs(model: Any, features: Sequence[Any], deepstack: Sequence[Sequence[Any]]) -> dict[str, Any]:
    """:func:`encoder_outputs` for Qwen3-VL: the images' merged features and, per DeepStack level,
    each image's features for the early LLM layers (``deepstack_features``)."""
    check_encoder_outputs(model)
    module = _module("transformers.models.qwen3_vl.modeling_qwen3_vl", shim="deepstack_outputs",
                     feature="feeding Qwen3-VL image features")
    output = _attribute(module, "BaseModelOutputWithDeepstackFeatures", shim="deepstack_outputs",
                        package="transformers", where="transformers.models.qwen3_vl.modeling_qwen3_vl")
    return {ENCODER_OUTPUTS: {"image": output(pooler_output=list(features),
                                              deepstack_features=[list(level) for level in deepstack])}}


def deepstack_features(model: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
    """(merged features per image, DeepStack features per level and image) of Qwen3-VL's
    ``get_image_features``."""
    method = _attribute(model, "get_image_features", shim="deepstack_features", package="transformers",
                        where=type(model).__name__)
    out = method(*args, return_dict=True, **kwargs)
    where = f"{type(model).__name__}.get_image_features()"
    return (_attribute(out, "pooler_output", shim="deepstack_features", package="transformers", where=where),
            _attribute(out, "deepstack_features", shim="deepstack_features", package="transformers", where=where))


#: The keyword ``encoder_outputs`` fills: the image features a VLM takes from outside.
ENCODER_OUTPUTS = "mm_encoder_outputs"


def encoder_outputs(model: Any, features: Sequence[Any], *, joined: bool = False) -> dict[str, Any]:
    """The keyword arguments that hand a VLM its image features from outside (one tensor per image)
    instead of running its vision tower: ``mm_encoder_outputs={"image": BaseModelOutputWithPooling}``.
    ``joined``: as one ``[tokens, d]`` tensor, for a model that reads it as a tensor (Gemma 3).

    transformers before 5.18 takes the argument into ``**kwargs`` and ignores it, which would drop
    the compressor's tokens silently: the model's ``forward`` must name it.
    """
    check_encoder_outputs(model)
    outputs = _module("transformers.modeling_outputs", shim="encoder_outputs", feature="feeding image features")
    pooling = _attribute(outputs, "BaseModelOutputWithPooling", shim="encoder_outputs", package="transformers",
                         where="transformers.modeling_outputs")
    if joined:
        torch = require("torch", feature="feeding image features")
        return {ENCODER_OUTPUTS: {"image": pooling(pooler_output=torch.cat(list(features), dim=0))}}
    return {ENCODER_OUTPUTS: {"image": pooling(pooler_output=list(features))}}


_ACCEPTS_ENCODER_OUTPUTS: set[type] = set()


def check_encoder_outputs(model: Any) -> None:
    """IncompatibleVersionError unless ``model`` takes image features from outside
    (:func:`encoder_outputs`); the seams check it when they are built, before any generation."""
    model_class = type(model)
    if model_class in _ACCEPTS_ENCODER_OUTPUTS:
        return
    forward = getattr(model_class, "forward", None)
    parameters = inspect.signature(forward).parameters if callable(forward) else {}
    if ENCODER_OUTPUTS not in parameters:
        raise _moved("encoder_outputs", "transformers",
                     f"{model_class.__name__}.forward takes no mm_encoder_outputs (image features from outside)")
    _ACCEPTS_ENCODER_OUTPUTS.add(model_class)


def image_features(model: Any, *args: Any, **kwargs: Any) -> Any:
    """The projected features of each image (a sequence of ``[tokens, D]`` tensors):
    ``get_image_features(..., return_dict=True).pooler_output`` of the inner VLM model."""
    method = _attribute(model, "get_image_features", shim="image_features", package="transformers",
                        where=type(model).__name__)
    out = method(*args, return_dict=True, **kwargs)
    return _attribute(out, "pooler_output", shim="image_features", package="transformers",
                      where=f"{type(model).__name__}.get_image_features()")


#: What the seam's replacement is called with: ``input_ids`` first (positional), the rest by name
#: (Qwen2.5-VL adds ``second_per_grid_ts``, which the replacement takes in ``**kwargs``).
_ROPE_PARAMETERS = ("input_ids", "mm_token_type_ids", "image_grid_thw", "video_grid_thw", "attention_mask")


def patch_rope_index(base: Any, replacement: Callable[..., Any]) -> Callable[[], None]:
    """Route Qwen2-VL's ``get_rope_index`` (M-RoPE positions) through ``replacement`` on one model
    instance; ``replacement`` returns None to let the model's own run. Returns the undo.

    The signature is checked, and the undo keeps a chain intact: a patch installed above this one
    stays, and this one then passes every call through.
    """
    original = _attribute(base, "get_rope_index", shim="patch_rope_index", package="transformers",
                          where=type(base).__name__)
    signature = inspect.signature(original)
    names = [p for p in signature.parameters if p not in ("args", "kwargs")]
    if names[:1] != ["input_ids"] or not set(_ROPE_PARAMETERS) <= set(names):
        raise _moved("patch_rope_index", "transformers",
                     f"changed {type(base).__name__}.get_rope_index to {signature}")
    active = True

    def get_rope_index(*args: Any, **kwargs: Any) -> Any:
        result = replacement(*args, **kwargs) if active else None
        return original(*args, **kwargs) if result is None else result

    base.get_rope_index = get_rope_index

    def undo() -> None:
        nonlocal active
        active = False
        if vars(base).get("get_rope_index") is get_rope_index:
            if original == type(base).get_rope_index.__get__(base):
                del base.get_rope_index                      # the class's method is visible again
            else:                                            # another patch was below this one
                base.get_rope_index = original

    return undo


_SUBCLASSES: dict[type, type] = {}


def _replace_image_token(self: Any, image_inputs: dict[str, Any], image_idx: int, **kwargs: Any) -> str:
    count_fn = self._vlmplanner_placeholders
    count = None if count_fn is None else count_fn(image_inputs, image_idx)
    if count is None:
        return str(self._vlmplanner_base.replace_image_token(self, image_inputs, image_idx, **kwargs))
    text_fn = getattr(self, "_vlmplanner_text", None)
    if text_fn is not None:
        return str(text_fn(self, int(count)))
    token: str = self.image_token
    return token * int(count)


def override_placeholders(processor: Any, count: Callable[[dict[str, Any], int], int | None],
                          text: Callable[[Any, int], str] | None = None) -> Any:
    """A shallow copy of ``processor`` that emits ``count(image_inputs, index)`` image placeholders
    for each image (None: the processor's own number), written as ``text(processor, count)`` (None:
    the image token repeated). The original is untouched.

    It overrides transformers' ``ProcessorMixin.replace_image_token(image_inputs, image_idx)`` hook
    in a subclass of the processor's own class.
    """
    cls = type(processor)
    hook = getattr(cls, "replace_image_token", None)
    names = list(inspect.signature(hook).parameters)[1:3] if callable(hook) else []
    if names != ["image_inputs", "image_idx"] or not hasattr(processor, "image_token"):
        raise _moved("override_placeholders", "transformers",
                     f"has no {cls.__name__}.replace_image_token(image_inputs, image_idx) / image_token")
    sub = _SUBCLASSES.get(cls)
    if sub is None:
        sub = type(f"Compressed{cls.__name__}", (cls,), {
            "replace_image_token": _replace_image_token, "_vlmplanner_base": cls,
            "__module__": __name__, "__doc__": f"{cls.__name__} that emits a compressor's token count."})
        _SUBCLASSES[cls] = sub
    new = copy.copy(processor)
    new.__class__ = sub
    new._vlmplanner_placeholders = count
    new._vlmplanner_text = text
    return new


def release_placeholders(processor: Any) -> None:
    """An overridden processor counts placeholders as its class does again."""
    if hasattr(processor, "_vlmplanner_placeholders"):
        processor._vlmplanner_placeholders = None


_PROCESSOR_PARTS = ("image_processor", "tokenizer", "video_processor", "chat_template")


#: transformers' generic fast-tokenizer classes: a tokenizer.json loaded as it was written.
_GENERIC_TOKENIZERS = ("TokenizersBackend", "PreTrainedTokenizerFast")


def generic_saved_tokenizer(path: str) -> dict[str, Any]:
    """``{"tokenizer": ...}`` for a processor's ``from_pretrained`` when the tokenizer saved in the
    directory ``path`` names a generic fast class, loaded as that class; ``{}`` otherwise.

    For some model types (Qwen3.5) transformers 5 swaps a generic tokenizer for the model's own
    class, which rebuilds the pre-tokenizer and re-tokenizes a custom tokenizer.json (a tiny
    model's word-level vocabulary) differently from how it was saved.
    """
    import json

    saved = Path(path) / "tokenizer_config.json"
    try:
        name = json.loads(saved.read_text(encoding="utf-8")).get("tokenizer_class")
    except (OSError, ValueError, AttributeError):
        return {}
    if name not in _GENERIC_TOKENIZERS:
        return {}
    return {"tokenizer": transformers_class(name).from_pretrained(path)}


def image_only_processor_class(cls: Any) -> Any:
    """``cls`` (a Qwen or InternVL processor) without its video processor, which needs torchvision.

    transformers reads a processor's parts and saved settings from the parameter names of its
    ``__init__``, so a subclass whose ``__init__`` has the parent's parameters but
    ``video_processor`` constructs, saves and loads without it.
    """
    parameters = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    if tuple(parameters[:3]) != _PROCESSOR_PARTS[:3] or _PROCESSOR_PARTS[3] not in parameters:
        raise _moved("image_only_processor_class", "transformers",
                     f"changed {cls.__name__}.__init__ to ({', '.join(parameters[:4])}, ...)")

    # transformers reads a processor's parts and saved settings (InternVL's image_seq_length) from
    # the names in its __init__'s code, so the subclass's __init__ names every parameter of the
    # parent's but video_processor, with the parent's defaults
    signature = inspect.signature(cls.__init__)
    kept = [p for p in signature.parameters.values() if p.name not in ("self", "video_processor")
            and p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
    defaults = {p.name: (None if p.default is inspect.Parameter.empty else p.default) for p in kept}
    arguments = ", ".join(f"{p.name}=_defaults[{p.name!r}]" for p in kept)
    passed = ", ".join(f"{p.name}={p.name}" for p in kept)
    namespace: dict[str, Any] = {"_defaults": defaults, "_parent": cls}
    exec(f"def __init__(self, {arguments}, **kwargs):\n"
         f"    _parent.__init__(self, video_processor=None, {passed}, **kwargs)\n"
         "    self.video_processor = None\n", namespace)
    ImageOnlyProcessor = type(f"NoVideo{cls.__name__}", (cls,), {"__init__": namespace["__init__"],
                                                                   "__module__": __name__})
    return ImageOnlyProcessor


# --- transformers: the parts of a model -------------------------------------------------------------

#: Where each part of a transformers VLM lives (the first path that exists wins).
_PARTS: dict[str, tuple[str, ...]] = {
    "language_model": ("model.language_model",),
    "vision_tower": ("model.vision_tower", "model.visual"),
    "projector": ("model.multi_modal_projector", "model.visual.merger"),
    "lm_head": ("lm_head",),
    "image_newline": ("model.image_newline",),
    "inner_model": ("model",),
}


def vlm_part(model: Any, part: str) -> Any:
    """A part of a transformers VLM (``*ForConditionalGeneration``): ``language_model`` (the LLM
    without lm_head), ``vision_tower`` (Qwen: ``visual``), ``projector`` (Qwen: the patch merger),
    ``lm_head``, ``image_newline`` (LLaVA-NeXT) or ``inner_model`` (the ``*Model`` inside)."""
    paths = _PARTS.get(part)
    if paths is None:
        raise ValueError(f"unknown VLM part {part!r}; known: {', '.join(_PARTS)}")
    for path in paths:
        value: Any = model
        for name in path.split("."):
            value = getattr(value, name, None)
            if value is None:
                break
        else:
            return value
    raise _moved("vlm_part", "transformers", f"has no {' or '.join(paths)} on {type(model).__name__}")


def decoder_layers(model: Any) -> Any:
    """The LLM's decoder layers (``language_model.layers``, a ModuleList) of a transformers VLM."""
    llm = vlm_part(model, "language_model")
    return _attribute(llm, "layers", shim="decoder_layers", package="transformers", where=type(llm).__name__)


def layer_kind(layer: Any) -> tuple[Any, ...]:
    """What decides a decoder layer's work on given inputs: its class, its attention type (full or
    sliding window, as transformers' layers name it) and every parameter's name and shape."""
    attention = getattr(layer, "self_attn", None)
    return (type(layer).__name__, getattr(layer, "attention_type", None),
            getattr(attention, "sliding_window", None),
            tuple((name, tuple(p.shape)) for name, p in layer.named_parameters()))


@contextlib.contextmanager
def replaced_decoder_layers(model: Any, layers: Sequence[Any]) -> Iterator[None]:
    """While active, the LLM runs ``layers`` instead of its own (its forward loops over
    ``self.layers[: num_hidden_layers]``); each layer keeps its ``layer_idx`` into the cache."""
    torch = require("torch", feature="tracing a model")
    llm = vlm_part(model, "language_model")
    own = decoder_layers(model)
    llm.layers = torch.nn.ModuleList(list(layers))
    try:
        yield
    finally:
        llm.layers = own


@dataclass(frozen=True)
class DecoderAttention:
    """What a Llama / Qwen2 decoder layer's attention row is recomputed from."""

    norm: Any       # input_layernorm
    q_proj: Any
    k_proj: Any
    head_dim: int
    scaling: float


def _attention_parts(layer: Any, *, shim: str, norm: str, size: str, scale: str) -> tuple[Any, ...]:
    """(the layer's ``norm``, its ``self_attn`` q_proj and k_proj, and ``self_attn.<size>``,
    ``self_attn.<scale>``): each looked up by name, the shim named when one has moved."""
    where = type(layer).__name__
    attention = _attribute(layer, "self_attn", shim=shim, package="transformers", where=where)
    label = f"{where}.self_attn"
    return (_attribute(layer, norm, shim=shim, package="transformers", where=where),
            *(_attribute(attention, name, shim=shim, package="transformers", where=label)
              for name in ("q_proj", "k_proj", size, scale)))


def decoder_attention(layer: Any) -> DecoderAttention:
    """The parts of a Llama-style decoder layer (``input_layernorm``, ``self_attn.q_proj / k_proj``,
    ``head_dim``, ``scaling``) that FastV's single attention row is recomputed from."""
    norm, q_proj, k_proj, head_dim, scaling = _attention_parts(
        layer, shim="decoder_attention", norm="input_layernorm", size="head_dim", scale="scaling")
    return DecoderAttention(norm, q_proj, k_proj, int(head_dim), float(scaling))


def decoder_layer_inputs(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any, Any]:
    """(hidden states, rotary (cos, sin), attention mask) a decoder layer is called with, as a
    forward pre-hook sees them. transformers 5 passes the rotary embedding to every layer; a
    release that stops doing so would make the recomputed row skip RoPE, so its absence is an error."""
    hidden = args[0] if args else kwargs.get("hidden_states")
    if hidden is None or "position_embeddings" not in kwargs:
        raise _moved("decoder_layer_inputs", "transformers",
                     "no longer calls decoder layers with hidden_states and position_embeddings")
    return hidden, kwargs["position_embeddings"], kwargs.get("attention_mask")


@dataclass(frozen=True)
class ClipAttention:
    """What a CLIP encoder layer's [CLS] attention row and keys are recomputed from."""

    norm: Any       # layer_norm1
    q_proj: Any
    k_proj: Any
    heads: int
    scale: float


def clip_attention(layer: Any) -> ClipAttention:
    """The parts of a CLIP encoder layer (``layer_norm1``, ``self_attn.q_proj / k_proj``,
    ``num_heads``, ``scale``)."""
    norm, q_proj, k_proj, heads, scale = _attention_parts(
        layer, shim="clip_attention", norm="layer_norm1", size="num_heads", scale="scale")
    return ClipAttention(norm, q_proj, k_proj, int(heads), float(scale))


def clip_encoder_layers(tower: Any) -> Any:
    """The encoder layers of a CLIP vision tower (``CLIPVisionModel.vision_model.encoder.layers``)."""
    inner = getattr(tower, "vision_model", tower)
    encoder = _attribute(inner, "encoder", shim="clip_encoder_layers", package="transformers",
                         where=type(inner).__name__)
    return _attribute(encoder, "layers", shim="clip_encoder_layers", package="transformers",
                      where=type(encoder).__name__)


def image_token_id(config: Any) -> int:
    """The id of the image placeholder token in ``input_ids`` (``image_token_id``; older LLaVA
    configs call it ``image_token_index``)."""
    for key in ("image_token_id", "image_token_index"):
        value = getattr(config, key, None)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    raise _moved("image_token_id", "transformers",
                 f"names no image_token_id / image_token_index on {type(config).__name__}")


# --- huggingface_hub: where checkpoints come from ------------------------------------------------------

_TRUE = ("1", "on", "yes", "true")


def hub_offline() -> bool:
    """Whether the Hub must not be contacted (``HF_HUB_OFFLINE``, read now, as huggingface_hub would)."""
    value = os.environ.get("HF_HUB_OFFLINE")
    if value is not None:
        return value.strip().lower() in _TRUE
    if available("huggingface_hub"):
        constants = _module("huggingface_hub.constants", shim="hub_offline", feature="the Hugging Face Hub")
        return bool(getattr(constants, "HF_HUB_OFFLINE", False))
    return False


def hub_endpoint() -> str:
    """The Hub's base URL (``HF_ENDPOINT``, a mirror, or https://huggingface.co)."""
    value = os.environ.get("HF_ENDPOINT")
    if value:
        return value.rstrip("/")
    if available("huggingface_hub"):
        constants = _module("huggingface_hub.constants", shim="hub_endpoint", feature="the Hugging Face Hub")
        return str(getattr(constants, "ENDPOINT", "https://huggingface.co")).rstrip("/")
    return "https://huggingface.co"


def hub_cached(repo_id: str, filename: str = "config.json") -> bool:
    """Whether ``filename`` of Hub repo ``repo_id`` is in the local Hugging Face cache
    (``huggingface_hub.try_to_load_from_cache``; no network)."""
    hub = require("huggingface_hub", feature="the Hugging Face cache")
    lookup = _attribute(hub, "try_to_load_from_cache", shim="hub_cached", package="huggingface_hub",
                        where="huggingface_hub")
    return isinstance(lookup(repo_id, filename), str)


# --- quiet loading --------------------------------------------------------------------------------------

#: UserWarnings from these packages are hidden while a model loads (unless verbose).
_NOISY = r"(transformers|huggingface_hub|torch|accelerate|safetensors|tokenizers)(\.|$)"


@contextlib.contextmanager
def quiet_hf() -> Iterator[None]:
    """While a model, processor or generation runs: no transformers / huggingface_hub log warnings,
    no progress bars, no Deprecation/FutureWarnings -- unless ``VLMPLANNER_VERBOSE`` asks for them
    (``vlmplanner --verbose``). Everything is restored afterwards."""
    from vlmplanner.settings import verbose

    if verbose():
        yield
        return
    with contextlib.ExitStack() as stack:
        stack.enter_context(warnings.catch_warnings())
        for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
            warnings.simplefilter("ignore", category)
        warnings.filterwarnings("ignore", category=UserWarning, module=_NOISY)
        if available("transformers"):
            stack.callback(_quiet_transformers())
        if available("huggingface_hub"):
            stack.callback(_quiet_hub())
        yield


def _quiet_transformers() -> Callable[[], None]:
    logging = _module("transformers.utils.logging", shim="quiet_hf", feature="quiet loading")
    level = logging.get_verbosity()
    bars = logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()

    def restore() -> None:
        logging.set_verbosity(level)
        if bars:
            logging.enable_progress_bar()

    return restore


def _quiet_hub() -> Callable[[], None]:
    utils = _module("huggingface_hub.utils", shim="quiet_hf", feature="quiet loading")
    logging = _module("huggingface_hub.utils.logging", shim="quiet_hf", feature="quiet loading")
    level = logging.get_verbosity()
    disabled = bool(utils.are_progress_bars_disabled())
    logging.set_verbosity_error()
    if not disabled:
        utils.disable_progress_bars()

    def restore() -> None:
        logging.set_verbosity(level)
        if not disabled:
            utils.enable_progress_bars()

    return restore
