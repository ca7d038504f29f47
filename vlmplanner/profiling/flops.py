"""FLOPs of one request, three independent ways, each per component.

- ``analytic``: ``vlmplanner.cost.breakdown``, closed-form formulas (no torch).
- ``traced``: ``torch.utils.flop_counter.FlopCounterMode`` over the family's full-size model built
  on FakeTensor weights (``build_fake``): shapes only, no weights allocated, seconds for a 72B model.
  torch 2.13 counts CPU SDPA (``aten._scaled_dot_product_flash_attention_for_cpu``) as 0, so a
  formula for it is registered through ``custom_mapping``.
- ``fvcore``: ``fvcore.nn.FlopCountAnalysis`` (a torch.jit trace) on a materialized model (tiny
  models in tests): multiply-adds x 2, SDPA and baddbmm handles added, norms set to 0 like the other
  two methods, elementwise ops explicitly ignored, and component outputs kept alive so that the
  trace's dead-code elimination does not drop layers HF executes (LLaVA's last CLIP layer).

Components: vision_tower, projector, compressor, llm_blocks, lm_head (the prefill, which keeps the
logits of the last position only, as generate() does) and decode_step (one new token over a KV
cache of the prefill's length). Per request, batch 1. docs/profiling.md explains every difference.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import time
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vlmplanner import compat
from vlmplanner.errors import ValidationError
from vlmplanner.extras import require

from .conventions import COMPONENTS, CONVENTIONS, PREFILL_COMPONENTS

if TYPE_CHECKING:
    from vlmplanner.schemas import CompressorSpec

    from .requests import Request
    from .target import ProfileTarget

__all__ = ["FlopCount", "attribute", "count_flops", "sdpa_cpu_mapping"]

FLOP_METHODS = ("analytic", "traced", "fvcore")


@dataclass(frozen=True)
class FlopCount:
    """One request's FLOPs by one method. ``flops`` holds COMPONENTS (and ``other`` for traced
    FLOPs outside every component, when there are any)."""

    method: str
    flops: dict[str, float]
    visual_tokens: int
    native_tokens: int
    text_tokens: int
    compressor: str
    image_size: tuple[int, int] | None
    convention: str
    seconds: float
    notes: tuple[str, ...] = ()
    unsupported_ops: dict[str, int] = field(default_factory=dict)

    @property
    def prefill(self) -> float:
        return float(sum(self.flops.get(c, 0.0) for c in (*PREFILL_COMPONENTS, "other")))

    @property
    def decode_step(self) -> float:
        return float(self.flops.get("decode_step", 0.0))


def count_flops(target: ProfileTarget, visual_tokens: int | None = None, *, method: str = "traced",
                compressor: str | Any = "none", text_tokens: int = 50,
                image_size: tuple[int, int] | None = None, compressor_spec: CompressorSpec | None = None,
                keep_alive: bool = True, sdpa_formula: bool = True,
                compressor_options: Mapping[str, Any] | None = None,
                compressor_weights: str | None = None, every_layer: bool = False) -> FlopCount:
    """FLOPs of one request with ``visual_tokens`` per image (None: the model's native count).

    ``method`` is analytic, traced or fvcore. fvcore needs a materialized model (``target.model``,
    e.g. a tiny bundle); traced never allocates weights. ``keep_alive`` (fvcore) and
    ``sdpa_formula`` (traced) exist to show the raw tools' behaviour; leave them on.
    ``compressor_options`` / ``compressor_weights`` are load()'s (FastV's ``prune_layer``, QueCC's
    weights; a trained compressor without weights runs untrained: its cost does not depend on them).
    ``every_layer`` (traced): run all decoder layers instead of one of each kind, multiplied.
    """
    if method not in FLOP_METHODS:
        raise ValidationError(f"unknown FLOP method {method!r}; known: {', '.join(FLOP_METHODS)}", field="method",
                              value=method)
    if method != "analytic":
        for module in ("torch", "transformers") + (("fvcore",) if method == "fvcore" else ()):
            require(module, feature=f"counting FLOPs with method {method!r}")
    if method == "analytic":
        spec = compressor_spec or placeholder_spec(_compressor_name(compressor))
        layer = (compressor_options or {}).get("prune_layer")
        if layer is not None and spec.kind == "in-llm":  # the in-LLM prune layer the run uses
            spec = spec.model_copy(update={"prune_layer": layer})
        return _analytic(target, visual_tokens, compressor, text_tokens, image_size, spec)
    with compat.quiet_hf():  # the model runs: its deprecation notices are not the user's business
        how = {"options": dict(compressor_options or {}), "weights": compressor_weights}
        if method == "traced":
            return _traced(target, visual_tokens, compressor, text_tokens, image_size, sdpa_formula, how,
                           every_layer)
        return _fvcore(target, visual_tokens, compressor, text_tokens, image_size, keep_alive, how)


# --- analytic -----------------------------------------------------------------------------------

def _compressor_name(compressor: str | Any) -> str:
    return compressor if isinstance(compressor, str) else str(getattr(compressor, "name", "?"))


def _resizes_input(name: str) -> bool:
    from vlmplanner.compressors import compressor_card
    from vlmplanner.compressors.resize import resizes_input
    from vlmplanner.errors import UnknownCompressorError

    try:
        return resizes_input(compressor_card(name))
    except UnknownCompressorError:   # a callable or a plug-in not registered: a token-level step
        return False


def _analytic(target: ProfileTarget, visual_tokens: int | None, compressor: str | Any, text_tokens: int,
              image_size: tuple[int, int] | None, spec: CompressorSpec | None) -> FlopCount:
    from vlmplanner.cost import breakdown
    from vlmplanner.schemas import Workload, build

    from .requests import build_request

    start = time.perf_counter()
    name = _compressor_name(compressor)
    if visual_tokens is not None and _resizes_input(name):   # downsample: the smaller image's own count
        from vlmplanner.compressors.resize import image_tokens, input_size

        visual_tokens = image_tokens(target.spec, input_size(target.spec, image_size, visual_tokens))
    request = build_request(target.family, target.config, visual_tokens=visual_tokens, text_tokens=text_tokens,
                            image_size=image_size, what=f"model {target.name!r}")

    if spec is None:
        spec = placeholder_spec(name)
    if name == "none" and request.visual_tokens < request.native_tokens:  # packed as a compressor's k is
        spec = placeholder_spec("index-selection")
    workload = build(Workload, text_tokens=request.text_tokens, output_tokens=0, image_size=image_size)
    detail = breakdown(target.spec, spec, request.visual_tokens, workload, dtype="bf16")
    flops = {c: float(detail.flops.get(c, 0.0)) for c in PREFILL_COMPONENTS}
    flops["decode_step"] = float(detail.decode_step_flops)
    return FlopCount(method="analytic", flops=flops, visual_tokens=request.visual_tokens,
                     native_tokens=request.native_tokens, text_tokens=request.text_tokens, compressor=name,
                     image_size=image_size, convention=CONVENTIONS["analytic"],
                     seconds=time.perf_counter() - start, notes=tuple(detail.notes))


def placeholder_spec(name: str) -> CompressorSpec:
    """The spec costed for a compressor the caller gave no catalog spec for: its card's, or a
    pre-LLM one for a callable."""
    from vlmplanner.compressors import compressor_card, list_compressors
    from vlmplanner.schemas import CompressorSpec, build

    if name in list_compressors():
        return compressor_card(name).spec()
    return build(CompressorSpec, name=name, display_name=name, kind="pre-llm", training="training-free")


# --- component attribution -----------------------------------------------------------------------

def attribute(totals: Mapping[str, float], paths: Mapping[str, str], total: float) -> dict[str, float]:
    """Per-component FLOPs from per-module totals that include their submodules.

    ``paths`` maps each component to its module's path; a component nested in another (Qwen's
    merger inside the vision tower) is subtracted from its parent. ``other`` is what no component
    holds, kept only when it is not zero.
    """
    out: dict[str, float] = {}
    for component, path in paths.items():
        inner = [p for c, p in paths.items() if c != component and p.startswith(path + ".")]
        outermost = [p for p in inner if not any(q != p and p.startswith(q + ".") for q in inner)]
        out[component] = float(totals.get(path, 0.0) - sum(totals.get(p, 0.0) for p in outermost))
    other = float(total - sum(out.values()))
    if other:
        out["other"] = other
    return out


def _component_paths(target: ProfileTarget, root: Any, model: Any, compressor: Any, prefix: str) -> dict[str, str]:
    """Component -> path of its module in ``root``'s tree, under ``prefix`` (FlopCounterMode names
    modules ``<root class>.<path>``; fvcore by the bare path)."""
    by_id = {id(module): name for name, module in root.named_modules()}
    modules = dict(target.family.components(model))
    modules["compressor"] = compressor
    paths = {}
    for component, module in modules.items():
        if id(module) not in by_id:  # pragma: no cover - components() returns submodules
            raise ValidationError(f"family {target.model_type!r}: component {component!r} is not a submodule of"
                                  " the model", field="components", value=component)
        name = by_id[id(module)]
        paths[component] = f"{prefix}.{name}" if prefix and name else (name or prefix)
    return paths


# --- traced: FlopCounterMode over FakeTensor weights ----------------------------------------------

def _sdpa_cpu_flops(query_shape: Any, key_shape: Any, value_shape: Any, *args: Any, out_shape: Any = None,
                    **kwargs: Any) -> int:
    """FLOPs of aten._scaled_dot_product_flash_attention_for_cpu: QKᵀ and AV, dense."""
    shapes = [tuple(s) if len(s) == 4 else (1, *s) for s in (query_shape, key_shape, value_shape)]
    return compat.sdpa_flop_count(*shapes)


def _solve_triangular_flops(a_shape: Any, b_shape: Any, *args: Any, out_shape: Any = None, left: bool = True,
                            unitriangular: bool = False, **kwargs: Any) -> int:
    """FLOPs of a triangular solve of n x n against m right-hand sides: n·(n - 1)/2 multiply-adds
    per column with a unit diagonal (n² without), per batch."""
    n = int(a_shape[-1])
    shape = list(out_shape if out_shape is not None else b_shape)
    m = int(shape[-1] if left else shape[-2])
    batch = 1
    for size in shape[:-2]:
        batch *= int(size)
    return batch * m * (n * (n - 1) if unitriangular else n * n)


def sdpa_cpu_mapping() -> dict[Any, Any]:
    """The custom_mapping FlopCounterMode needs on CPU (torch 2.13 counts this op as 0)."""
    return {compat.sdpa_cpu_op(): _sdpa_cpu_flops}


def counted_mapping(sdpa_formula: bool = True) -> dict[Any, Any]:
    """Every formula the traced count adds to FlopCounterMode's: CPU SDPA (``sdpa_formula``) and the
    triangular solves of Qwen3.5's delta rule."""
    return {**(sdpa_cpu_mapping() if sdpa_formula else {}), compat.solve_triangular_op(): _solve_triangular_flops}


def fake_model(target: ProfileTarget) -> Any:
    """The target's full-size model on FakeTensor weights, built once per target."""
    model = target._fake_model
    if model is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = target.family.build_fake(target.config)
        target._fake_model = model
    return model


@contextlib.contextmanager
def _one_layer_of_each_kind(model: Any, enabled: bool) -> Iterator[list[tuple[Any, int]]]:
    """While active, the LLM runs only its first layers, up to one of each kind: yields (a traced
    layer, how many more of its kind the model has).

    Layers of one kind -- the same class, attention type (full or sliding window) and parameter
    shapes -- do the same work on the same inputs, so their count is one traced layer's times how
    many there are. The layers kept are a prefix, so a forward that reads per-layer settings by
    position (Gemma 3's ``layer_types[i]``) sees each at its own index. A 94-layer MoE then traces
    one layer; Gemma 3 six. Off (every layer runs) when ``enabled`` is false: in-LLM compressors
    prune at a given layer.
    """
    if not enabled:
        yield []
        return
    layers = list(compat.decoder_layers(model))
    kinds = [compat.layer_kind(layer) for layer in layers]
    prefix = max(kinds.index(kind) for kind in set(kinds)) + 1
    first = {kind: layers[kinds.index(kind)] for kind in set(kinds)}
    more = [(first[kind], kinds.count(kind) - kinds[:prefix].count(kind)) for kind in set(kinds)]
    with compat.replaced_decoder_layers(model, layers[:prefix]):
        yield [(layer, count) for layer, count in more if count]


def _repeated(totals: Mapping[str, float], paths: Mapping[int, str], kinds: list[tuple[Any, int]]) -> float:
    """The FLOPs of the layers not traced: a traced layer's count for each other layer of its kind."""
    return float(sum(count * totals.get(paths[id(layer)], 0.0) for layer, count in kinds))


def _traced(target: ProfileTarget, visual_tokens: int | None, compressor: str | Any, text_tokens: int,
            image_size: tuple[int, int] | None, sdpa_formula: bool, how: dict[str, Any],
            every_layer: bool = False) -> FlopCount:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from vlmplanner.families import fake_mode_of

    from .runner import runner_for

    start = time.perf_counter()
    model = fake_model(target)
    mapping = counted_mapping(sdpa_formula)
    query_flops = 0.0
    with runner_for(target, model, compressor, visual_tokens, image_size=image_size, **how) as runner, \
            target.family.fake_traceable(), warnings.catch_warnings(), \
            _one_layer_of_each_kind(model, not every_layer and not runner.plan.in_llm) as kinds:
        warnings.simplefilter("ignore")
        root = type(runner).__name__
        by_id = {id(module): f"{root}.{name}" for name, module in runner.named_modules()}
        request = runner.request(target, text_tokens=text_tokens, image_size=image_size,
                                 fake_mode=fake_mode_of(model))
        query = None
        if runner.needs_query:  # the query pass is the compressor's work, counted on its own
            with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=mapping) as passed:
                query = runner.query_vectors(request)
            passed_total, passed_totals = compat.module_flops(passed)
            llm = compat.vlm_part(model, "language_model")    # the pass's root: its own class name
            in_llm = {id(module): f"{type(llm).__name__}.{name}" for name, module in llm.named_modules()}
            query_flops = passed_total + _repeated(passed_totals, in_llm, kinds)
        with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=mapping) as counter:
            out = runner.prefill(request, use_cache=True, query=query)
        total, totals = compat.module_flops(counter)
        with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=mapping) as step:
            runner.decode(request, out.past_key_values)
        step_total, step_totals = compat.module_flops(step)
        more_prefill, more_step = _repeated(totals, by_id, kinds), _repeated(step_totals, by_id, kinds)
    paths = _component_paths(target, runner, model, runner.compressor, root)
    flops = attribute(totals, paths, total)
    flops["llm_blocks"] = flops.get("llm_blocks", 0.0) + more_prefill
    flops["compressor"] = flops.get("compressor", 0.0) + query_flops
    flops["decode_step"] = step_total + more_step
    notes = [f"model built on FakeTensor weights from {target.config_source}", *run_notes(runner, request)]
    if kinds:
        notes.append(f"{sum(c for _, c in kinds)} of the LLM's {target.spec.llm.num_layers} decoder layers were"
                     " not run: each is counted as the traced layer of its kind (class, attention type, parameter"
                     " shapes), whose work on the same inputs is the same")
    _fold_context(flops, runner, notes)
    return FlopCount(method="traced", flops=_ordered(flops), visual_tokens=runner.visual_tokens(request),
                     native_tokens=request.native_tokens, text_tokens=request.text_tokens, compressor=runner.plan.compressor,
                     image_size=image_size, convention=CONVENTIONS["traced"],
                     seconds=time.perf_counter() - start, notes=tuple(notes))


#: Context a seam computes from the vision tower for a compressor (its [CLS] row and keys).
_TOWER_CONTEXT = frozenset({"cls_attention", "keys"})


def _fold_context(flops: dict[str, float], runner: Any, notes: list[str]) -> None:
    """The seam's recompute of the [CLS] attention row (and keys) runs outside every component's
    module scope; it is work done for the compressor, so it is counted there, not as ``other``."""
    if runner.seam.compresses_features and set(runner.compressor.required_inputs) & _TOWER_CONTEXT \
            and flops.get("other"):
        flops["compressor"] = flops.get("compressor", 0.0) + flops.pop("other")
        notes.append("compressor includes the [CLS]-attention row and keys the seam recomputes for it from the"
                     " vision tower's q/k projections (what a traced run sees outside the tower's modules)")


def run_notes(runner: Any, request: Request) -> list[str]:
    """What reached the LLM, said the same way by every method that runs the model."""
    plan = runner.plan
    notes = list(runner.seam.notes)
    if plan.in_llm:
        notes.append(f"{plan.compressor} prunes inside the LLM: all {request.native_tokens} visual tokens per image"
                     f" enter layers 0-{plan.compressor_options.get('prune_layer', 1) - 1}, {plan.visual_tokens} the"
                     " later ones; its scoring runs in the LLM's layers (llm_blocks)")
    elif _resizes_input(plan.compressor):
        size = "" if request.image_size is None else f" ({request.image_size[0]}x{request.image_size[1]})"
        notes.append(f"{request.native_tokens} visual tokens per image reach the LLM: {plan.compressor} feeds the"
                     f" model a smaller image{size}, so the vision tower runs on fewer patches too")
    elif request.features_path:
        how = ("kept by index selection (compressor none below the native count: no FLOPs)"
               if plan.compressor == "none" else f"from compressor {plan.compressor}")
        notes.append(f"{request.visual_tokens} of {request.native_tokens} visual tokens per image reach the LLM, {how};"
                     " the vision tower runs on the full image")
    return notes


def _convolution_mode_macs(inputs: list[Any], outputs: list[Any]) -> int:
    """A convolution with string padding (SigLIP's ``padding="valid"``), which fvcore has no handle
    for: every output element sums in_channels / groups x kernel products."""
    weight = _shape(inputs[1])                       # [out, in / groups, *kernel]
    return _prod(_shape(outputs[0])) * _prod(weight[1:])


def _solve_triangular_macs(inputs: list[Any], outputs: list[Any]) -> int:
    """``linalg_solve_triangular(A, B, upper, left, unitriangular)``: the traced count's formula
    (``_solve_triangular_flops``) in multiply-adds."""
    unitriangular = bool(inputs[4].toIValue()) if len(inputs) > 4 else False
    left = bool(inputs[3].toIValue()) if len(inputs) > 3 else True
    return _solve_triangular_flops(_shape(inputs[0]), _shape(inputs[1]), out_shape=_shape(outputs[0]), left=left,
                                   unitriangular=unitriangular) // 2


def _ordered(flops: dict[str, float]) -> dict[str, float]:
    keys = [c for c in COMPONENTS if c in flops] + [k for k in flops if k not in COMPONENTS]
    return {k: flops[k] for k in keys}


# --- fvcore: FlopCountAnalysis on materialized weights ------------------------------------------------

#: Ops fvcore reports as unsupported that hold no multiply-adds (or only elementwise work, which
#: none of the three methods counts): explicitly ignored.
FVCORE_ZERO_OPS = (
    "aten::add", "aten::add_", "aten::sub", "aten::rsub", "aten::mul", "aten::mul_", "aten::div", "aten::neg",
    "aten::pow", "aten::mean", "aten::sum", "aten::rsqrt", "aten::sqrt", "aten::exp", "aten::cos", "aten::sin",
    "aten::silu", "aten::gelu", "aten::sigmoid", "aten::tanh", "aten::softmax", "aten::embedding",
    "aten::masked_scatter", "aten::masked_fill_", "aten::new_ones", "aten::le", "aten::lt", "aten::ne",
    "aten::where", "aten::repeat", "aten::repeat_interleave", "aten::meshgrid", "aten::resolve_conj",
    "aten::resolve_neg", "aten::cumsum", "aten::any", "aten::all", "aten::abs", "aten::argmax", "aten::fill_",
    "aten::index_select", "aten::bitwise_or", "aten::bitwise_and", "aten::logical_and", "aten::logical_or",
    "aten::div_", "aten::scatter", "aten::prod", "aten::max_pool2d", "aten::avg_pool2d", "aten::clone",
    "aten::expand_as", "aten::diff", "aten::unflatten", "aten::einsum_", "aten::erf", "aten::tril", "aten::triu",
    "aten::sort", "aten::topk", "aten::min", "aten::argsort", "aten::linspace", "aten::lift_fresh",
    "aten::alias", "aten::log", "aten::sub_", "aten::reciprocal", "aten::item", "aten::is_nonzero",
    "aten::floor_divide_", "aten::__or__", "aten::__not__", "aten::pad",
    "aten::linalg_vector_norm", "aten::amax", "aten::amin", "aten::minimum", "aten::maximum", "aten::randperm",
    "aten::clamp", "aten::clamp_min", "aten::gather", "aten::scatter_add", "aten::abs_",
    "aten::softplus", "aten::tensor_split",
)
#: Ops fvcore counts by default that the other two methods count as 0: norms (about 5 per
#: element) and interpolation (LLaVA-OneVision's pooling of large tile grids, Qwen's position
#: tables: 4 per output element).
FVCORE_ZERO_HANDLES = ("aten::layer_norm", "aten::group_norm", "aten::batch_norm", "aten::instance_norm",
                   "aten::upsample_bicubic2d", "aten::upsample_bilinear2d")


def _shape(value: Any) -> list[int]:
    from fvcore.nn.jit_handles import get_shape  # type: ignore[import-untyped]

    return list(get_shape(value))


def _prod(values: list[int]) -> int:
    out = 1
    for v in values:
        out *= int(v)
    return out


def _sdpa_macs(inputs: list[Any], outputs: list[Any]) -> int:
    """scaled_dot_product_attention: Sq·Sk·(d + dv) multiply-adds per query head and batch."""
    q, k, v = (_shape(inputs[i]) for i in range(3))
    return _prod(q[:-1]) * k[-2] * (q[-1] + v[-1])


def _zero_macs(inputs: list[Any], outputs: list[Any]) -> int:
    return 0


def _baddbmm_macs(inputs: list[Any], outputs: list[Any]) -> int:
    b1, b2 = _shape(inputs[1]), _shape(inputs[2])
    return b1[0] * b1[1] * b1[2] * b2[-1]


def _tensors(value: Any) -> list[Any]:
    import torch

    if isinstance(value, torch.Tensor):
        return [value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):  # a CompressionOutput
        return [t for f in dataclasses.fields(value) for t in _tensors(getattr(value, f.name))]
    if isinstance(value, Mapping):
        return [t for v in value.values() for t in _tensors(v)]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in _tensors(v)]
    return []


def _traced_input(key: str, value: Any) -> bool:
    """Inputs the jit trace takes as arguments: pixels, input_ids and attention_mask. Other integer
    inputs (image_sizes, image_grid_thw, mm_token_type_ids) stay Python-side constants, because
    transformers turns them into Python numbers (round(), .tolist()), which a trace cannot follow."""
    return hasattr(value, "is_floating_point") and (value.is_floating_point() or key in ("input_ids",
                                                                                         "attention_mask"))


def _fvcore_wrappers() -> tuple[type, type, type]:
    import torch
    from torch import nn

    class FvcorePrefill(nn.Module):
        """Positional tensors in, logits (and kept-alive component outputs) out, as jit wants."""

        def __init__(self, runner: Any, request: Request, keep_alive: list[Any], query: Any) -> None:
            super().__init__()
            self.runner = runner
            self.request = request
            self.keys = [k for k, v in request.kwargs.items() if _traced_input(k, v)]
            self.kept = keep_alive
            self.query = query

        def inputs(self) -> tuple[Any, ...]:
            return tuple(self.request.kwargs[k] for k in self.keys)

        def forward(self, *args: Any) -> Any:
            self.kept.clear()
            kwargs = {**self.request.kwargs, **dict(zip(self.keys, args))}
            request = dataclasses.replace(self.request, kwargs=kwargs)
            logits = self.runner.prefill(request, use_cache=False, query=self.query).logits
            self.runner.end()
            return (logits, *self.kept)

    class FvcoreDecode(nn.Module):
        def __init__(self, runner: Any, request: Request, cache: Any) -> None:
            super().__init__()
            self.runner = runner
            self.request = request
            self.cache = cache

        def forward(self, ids: torch.Tensor) -> Any:  # ids: an (unused) input for the jit trace
            return self.runner.decode(self.request, copy.deepcopy(self.cache)).logits

    class FvcoreQuery(nn.Module):
        """The text-query pass of a query-conditioned compressor, as one traceable module."""

        def __init__(self, runner: Any, request: Request) -> None:
            super().__init__()
            self.runner = runner
            self.request = request

        def forward(self, ids: torch.Tensor) -> Any:  # ids: an (unused) input for the jit trace
            return self.runner.query_vectors(self.request)

    return FvcorePrefill, FvcoreDecode, FvcoreQuery


def _analysis(module: Any, inputs: tuple[Any, ...]) -> Any:
    from fvcore.nn import FlopCountAnalysis  # type: ignore[import-untyped]

    analysis = FlopCountAnalysis(module, inputs)
    analysis.set_op_handle("aten::scaled_dot_product_attention", _sdpa_macs, "aten::baddbmm", _baddbmm_macs,
                           "aten::_convolution_mode", _convolution_mode_macs,
                           "aten::linalg_solve_triangular", _solve_triangular_macs)
    for op in FVCORE_ZERO_HANDLES:  # a handle, not None: fvcore's own handles win over its ignore list
        analysis.set_op_handle(op, _zero_macs)
    for op in FVCORE_ZERO_OPS:
        analysis.set_op_handle(op, None)
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    analysis.tracer_warnings("none")
    return analysis


def _fvcore(target: ProfileTarget, visual_tokens: int | None, compressor: str | Any, text_tokens: int,
            image_size: tuple[int, int] | None, keep_alive: bool, how: dict[str, Any]) -> FlopCount:
    import torch

    from .runner import runner_for

    if target.model is None:
        raise ValidationError(
            f"fvcore counts a materialized model; {target.name!r} has no weights loaded (use a tiny bundle, or"
            " target.materialize(device, dtype) first; a full-size 7B model takes ~15 GB and minutes)",
            field="method", value="fvcore",
        )
    start = time.perf_counter()
    model = target.model
    parameter = next(iter(model.parameters()))
    FvcorePrefill, FvcoreDecode, FvcoreQuery = _fvcore_wrappers()
    kept: list[Any] = []
    query_flops = 0.0
    with runner_for(target, model, compressor, visual_tokens, image_size=image_size, **how) as runner, \
            target.family.counting(model), warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        request = runner.request(target, text_tokens=text_tokens, image_size=image_size)
        request = request.to(str(parameter.device), parameter.dtype)
        query = None
        if runner.needs_query:  # the query pass is the compressor's work, counted on its own
            query = runner.query_vectors(request)
            query_flops = 2.0 * float(_analysis(FvcoreQuery(runner, request), (request.kwargs["input_ids"],)).total())
        wrapper = FvcorePrefill(runner, request, kept, query)
        hooks = []
        if keep_alive:
            components = dict(target.family.components(model))
            components["compressor"] = runner.compressor
            for component in components.values():
                hooks.append(component.register_forward_hook(lambda _m, _i, out: kept.extend(_tensors(out))))
        try:
            analysis = _analysis(wrapper, wrapper.inputs())
            with target.family.jit_traceable():
                total = float(analysis.total())
            by_module = {k: float(v) for k, v in analysis.by_module().items()}
            unsupported = dict(analysis.unsupported_ops())
            uncalled = sorted(analysis.uncalled_modules())
        except (RuntimeError, AssertionError, TypeError) as exc:  # torch.jit cannot follow every op a compressor uses
            raise ValidationError(
                f"fvcore's torch.jit trace cannot follow compressor {runner.plan.compressor!r}"
                f" ({str(exc).splitlines()[0][:160]}); count it with method 'traced'", field="method",
                value="fvcore") from exc
        finally:
            for hook in hooks:
                hook.remove()
            kept.clear()
        out = runner.prefill(request, use_cache=True, query=query)
        step = _analysis(FvcoreDecode(runner, request, out.past_key_values), (request.kwargs["input_ids"][:, :1],))
        step_total = float(step.total())
        for op, n in step.unsupported_ops().items():
            unsupported[op] = unsupported.get(op, 0) + n
    paths = _component_paths(target, wrapper, model, runner.compressor, "")
    flops = {k: 2.0 * v for k, v in attribute(by_module, paths, total).items()}
    flops["compressor"] = flops.get("compressor", 0.0) + query_flops
    flops["decode_step"] = 2.0 * step_total
    notes = [f"fvcore {_fvcore_version()}: multiply-adds x 2"]
    if not keep_alive and uncalled:
        notes.append("dead code: the jit trace dropped modules whose outputs are unused: " + ", ".join(uncalled))
    if unsupported:
        notes.append("ops fvcore could not count, taken as 0: " + ", ".join(f"{k} x{v}" for k, v in
                                                                            sorted(unsupported.items())))
    notes.extend(run_notes(runner, request))
    _fold_context(flops, runner, notes)
    return FlopCount(method="fvcore", flops=_ordered(flops), visual_tokens=runner.visual_tokens(request),
                     native_tokens=request.native_tokens, text_tokens=request.text_tokens,
                     compressor=runner.plan.compressor, image_size=image_size, convention=CONVENTIONS["fvcore"],
                     seconds=time.perf_counter() - start, notes=tuple(notes), unsupported_ops=unsupported)


def _fvcore_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("fvcore")
    except metadata.PackageNotFoundError:  # pragma: no cover
        return "?"
