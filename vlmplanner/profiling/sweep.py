"""Profile sweeps: every method over token counts and batch sizes, each result committed at once.

A sweep is a list of *units*, one stored CostMeasurement each: for every visual-token count, the
analytic, traced (and, asked for, fvcore) FLOP counts at batch 1, then a measured latency/memory
run per batch size. Before anything runs the sweep checks its inputs (a token count above the
model's native count is an error). Each unit is written to the catalog as soon as it completes, so
Ctrl-C or a crash loses nothing done; a re-run skips units the catalog already holds (status ok,
oom or infeasible; failed ones run again), unless ``force``. A configuration that runs out of
memory is stored with status ``oom``, one the analytic memory model says cannot fit with status
``infeasible`` (not run), and the sweep goes on.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vlmplanner.errors import InvalidTokenCountError, ValidationError, VlmPlannerError
from vlmplanner.extras import require

from .conventions import CONVENTIONS, FLOP_DEVICE, METHODS
from .provenance import device_name, now, resolve_device, versions

if TYPE_CHECKING:
    from vlmplanner.schemas import CompressorSpec, CostMeasurement
    from vlmplanner.store import Catalog

    from .target import ProfileTarget

__all__ = ["SweepInterrupted", "SweepReport", "SweepUnit", "is_out_of_memory", "profile_sweep"]

FLOP_METHODS = ("analytic", "traced", "fvcore")


@dataclass(frozen=True)
class SweepUnit:
    """One measurement of a sweep, identified by the catalog's natural key."""

    method: str
    visual_tokens: int
    batch_size: int
    candidate_key: str
    device: str
    dtype: str
    text_tokens: int
    output_tokens: int

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.candidate_key, self.method, self.device, self.dtype, self.batch_size, self.text_tokens,
                self.output_tokens)

    def __str__(self) -> str:
        batch = f" batch {self.batch_size}" if self.method == "measured" else ""
        return f"{self.candidate_key} {self.method}{batch}"


@dataclass
class SweepReport:
    """What a sweep did: the measurements it stored, what it skipped, what failed."""

    target: str
    units: list[SweepUnit] = field(default_factory=list)
    measurements: list[CostMeasurement] = field(default_factory=list)
    skipped: list[SweepUnit] = field(default_factory=list)
    failed: list[tuple[SweepUnit, str]] = field(default_factory=list)
    interrupted: bool = False

    @property
    def done(self) -> int:
        return len(self.measurements)


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C during a sweep. Everything in ``report.measurements`` is already committed."""

    def __init__(self, report: SweepReport) -> None:
        super().__init__(f"sweep interrupted after {report.done} stored measurement(s)")
        self.report = report


#: progress(event, unit, index, total): event is "start", "done" or "skip".
Progress = Callable[[str, SweepUnit, int, int], None]


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether an exception is an out-of-memory error (CUDA or host)."""
    if isinstance(exc, MemoryError):
        return True
    torch = sys.modules.get("torch")  # not imported: the error cannot be torch's
    if torch is not None and isinstance(exc, torch.OutOfMemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text
                                              or "not enough memory" in text)


def _methods(methods: Sequence[str] | None, flops_only: bool) -> tuple[str, ...]:
    if methods is None:
        return ("analytic", "traced") if flops_only else ("analytic", "traced", "measured")
    chosen = tuple(dict.fromkeys(m.strip().lower() for m in methods))
    unknown = [m for m in chosen if m not in METHODS]
    if unknown or not chosen:
        raise ValidationError(f"unknown method(s) {', '.join(unknown) or '(none)'}; known: {', '.join(METHODS)}",
                              field="methods", value=list(methods))
    if flops_only and "measured" in chosen:
        raise ValidationError("--flops-only counts FLOPs without running the model: drop 'measured' from the"
                              " methods", field="methods", value=list(methods))
    return chosen


def _positive_ints(values: Sequence[Any], field_name: str, error: type[ValidationError]) -> list[int]:
    out = []
    if not values:
        raise error(f"{field_name}: give at least one value", field=field_name, value=list(values))
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise error(f"{field_name} must be positive integers, got {value!r}", field=field_name, value=value)
        out.append(value)
    return list(dict.fromkeys(out))


def _resolve_target(target: Any, catalog: Catalog | None) -> ProfileTarget:
    from .target import ProfileTarget

    if isinstance(target, ProfileTarget):
        return target
    if isinstance(target, str):
        return ProfileTarget.from_checkpoint(target, catalog=catalog)
    if hasattr(target, "model") and hasattr(target, "family") and hasattr(target, "config"):
        return ProfileTarget.from_bundle(target)
    raise ValidationError("the sweep's model must be a ProfileTarget, a checkpoint name or directory, or a model"
                          " bundle (model, config, family) such as family.build_tiny()", field="model",
                          value=type(target).__name__)


def _compressor_spec(name: str, catalog: Catalog | None, given: CompressorSpec | None) -> CompressorSpec:
    from .flops import placeholder_spec

    if given is not None:
        return given
    if catalog is not None:
        try:
            return catalog.compressor(name)
        except VlmPlannerError:
            pass
    return placeholder_spec(name)


def _available_memory(device: str) -> int | None:
    """Free bytes on the device: CUDA's free memory, or the host's MemAvailable."""
    if device.startswith("cuda"):
        import torch

        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def profile_sweep(
    target: ProfileTarget | str | Any,
    tokens: Sequence[int],
    *,
    compressor: str | Any = "none",
    device: str | None = None,
    dtype: str = "bf16",
    batch_sizes: Sequence[int] = (1,),
    methods: Sequence[str] | None = None,
    flops_only: bool = False,
    catalog: Catalog | None = None,
    text_tokens: int = 50,
    image_size: tuple[int, int] | None = None,
    warmup: int = 2,
    repeats: int = 10,
    decode_steps: int = 8,
    force: bool = False,
    progress: Progress | None = None,
    compressor_spec: CompressorSpec | None = None,
    check_memory: bool = True,
    cpu_threads: int | None = None,
    compressor_options: Mapping[str, Any] | None = None,
    compressor_weights: str | None = None,
) -> SweepReport:
    """Profile ``target`` at every visual-token count in ``tokens``; store each result in ``catalog``.

    ``device`` (cpu / cuda) is required unless ``flops_only``. ``methods`` defaults to analytic,
    traced and measured (analytic and traced with ``flops_only``); fvcore must be asked for and needs
    weights. Raises InvalidTokenCountError, before anything runs, for a token count above what the
    model produces, or one the compressor cannot keep on this model (the checks ``load()`` makes);
    raises SweepInterrupted (a KeyboardInterrupt carrying the report) on Ctrl-C.
    ``compressor_options`` / ``compressor_weights``: as for ``vlmplanner.load`` (FastV's
    ``prune_layer``; a trained compressor without weights runs untrained, at the same cost).
    """
    for module in ("torch", "transformers"):
        require(module, feature="a profile sweep")
    from .flops import count_flops
    from .requests import build_request
    from .runner import compressor_name as slug
    from .runner import profile_plan

    target = _resolve_target(target, catalog)
    chosen = _methods(methods, flops_only)
    counts = _positive_ints(list(tokens), "visual_tokens", InvalidTokenCountError)
    batches = _positive_ints(list(batch_sizes), "batch_size", ValidationError)
    compressor_name = slug(compressor)
    from vlmplanner.cost.dtypes import resolve_dtype

    dtype_name = resolve_dtype(dtype).name
    needs_device = "measured" in chosen or "fvcore" in chosen
    run_device = resolve_device(device) if (device is not None or "measured" in chosen) else "cpu"
    if "measured" in chosen:
        from .timing import resolve_torch_dtype

        resolve_torch_dtype(dtype_name)
    native = target.native_tokens(image_size)
    too_many = [k for k in counts if k > native]
    if too_many:
        image = "the default image" if image_size is None else f"a {image_size[0]}x{image_size[1]} image"
        raise InvalidTokenCountError(
            f"{too_many[0]} visual tokens is more than model {target.name!r} produces for {image}: at most"
            f" {native} per image (asked: {', '.join(map(str, counts))}); nothing was run",
            field="visual_tokens", value=too_many[0],
        )
    how: dict[str, Any] = {"compressor_options": dict(compressor_options or {}),
                           "compressor_weights": compressor_weights}
    for k in counts:  # the checks load() makes: family, compressor, its token rule, per crop
        profile_plan(target, compressor, k, image_size=image_size, options=how["compressor_options"],
                     weights=compressor_weights)
    q = build_request(target.family, target.config, visual_tokens=None, text_tokens=text_tokens,
                      image_size=image_size).text_tokens
    measured_device = device_name(run_device) if "measured" in chosen else ""
    spec = _compressor_spec(compressor_name, catalog, compressor_spec)

    report = SweepReport(target=target.name)
    for k in counts:
        key = f"{target.name}+{compressor_name}@{k}"
        for method in (m for m in ("analytic", "traced", "fvcore") if m in chosen):
            report.units.append(SweepUnit(method, k, 1, key, FLOP_DEVICE, dtype_name, q, 0))
        if "measured" in chosen:
            for batch in batches:
                report.units.append(SweepUnit("measured", k, batch, key, measured_device, dtype_name, q,
                                              decode_steps))
    stored: set[tuple[Any, ...]] = set()
    if catalog is not None and not force:
        for key in dict.fromkeys(u.candidate_key for u in report.units):
            for row in catalog.cost_measurements(candidate_key=key):
                if row.status != "failed":
                    stored.add((row.candidate_key, row.method, row.device, row.dtype, row.batch_size,
                                row.text_tokens, row.output_tokens))

    total = len(report.units)
    state: dict[str, Any] = {}
    try:
        for index, unit in enumerate(report.units):
            if unit.key in stored:
                report.skipped.append(unit)
                if progress:
                    progress("skip", unit, index, total)
                continue
            if progress:
                progress("start", unit, index, total)
            row = _run_unit(unit, target=target, compressor=compressor, spec=spec, text_tokens=text_tokens,
                            image_size=image_size, run_device=run_device if needs_device else "cpu",
                            dtype=dtype_name, warmup=warmup, repeats=repeats, decode_steps=decode_steps,
                            state=state, count_flops=count_flops, check_memory=check_memory,
                            cpu_threads=cpu_threads, how=how)
            if catalog is not None:
                row = catalog.add_cost_measurement(row)
            report.measurements.append(row)
            if row.status == "failed":
                report.failed.append((unit, row.note))
            if progress:
                progress("done", unit, index, total)
    except KeyboardInterrupt as exc:
        report.interrupted = True
        raise SweepInterrupted(report) from exc
    return report


def _run_unit(unit: SweepUnit, *, target: ProfileTarget, compressor: Any, spec: CompressorSpec, text_tokens: int,
              image_size: tuple[int, int] | None, run_device: str, dtype: str, warmup: int, repeats: int,
              decode_steps: int, state: dict[str, Any], count_flops: Any, check_memory: bool,
              cpu_threads: int | None, how: dict[str, Any]) -> CostMeasurement:
    from vlmplanner.schemas import CostMeasurement, build

    base: dict[str, Any] = {
        "candidate_key": unit.candidate_key, "method": unit.method, "device": unit.device, "dtype": unit.dtype,
        "batch_size": unit.batch_size, "text_tokens": unit.text_tokens, "output_tokens": unit.output_tokens,
        "versions": versions(fvcore=unit.method == "fvcore"),
    }
    where = f"image {image_size[0]}x{image_size[1]}" if image_size else "the family's default image"
    try:
        if unit.method in FLOP_METHODS:
            if unit.method == "fvcore":
                _materialize(target, run_device, dtype, state)
            count = count_flops(target, unit.visual_tokens, method=unit.method, compressor=compressor,
                                text_tokens=text_tokens, image_size=image_size, compressor_spec=spec, **how)
            flops = {k: v for k, v in count.flops.items() if v >= 0}
            notes = [count.convention, f"{count.visual_tokens} of {count.native_tokens} visual tokens, {where}",
                     *count.notes, f"counted in {count.seconds:.2f} s"]
            if any(v < 0 for v in count.flops.values()):  # pragma: no cover - attribution double counted
                notes.append(f"negative 'other' dropped: {count.flops}")
            return build(CostMeasurement, base, status="ok", flops=flops, note=" | ".join(notes),
                         recorded_at=now())
        return _measured(unit, base, target=target, compressor=compressor, spec=spec, text_tokens=text_tokens,
                         image_size=image_size, run_device=run_device, dtype=dtype, warmup=warmup, repeats=repeats,
                         decode_steps=decode_steps, state=state, where=where, check_memory=check_memory,
                         cpu_threads=cpu_threads, how=how)
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        if is_out_of_memory(exc):
            _free(run_device)
            return build(CostMeasurement, base, status="oom", note=f"out of memory: {_one_line(exc)}",
                         recorded_at=now())
        detail = _one_line(exc) if isinstance(exc, VlmPlannerError) else \
            f"{type(exc).__name__}: {_one_line(exc)} ({_last_frame(exc)})"
        return build(CostMeasurement, base, status="failed", note=f"failed: {detail}", recorded_at=now())


def _materialize(target: ProfileTarget, device: str, dtype: str, state: dict[str, Any]) -> None:
    from .timing import resolve_torch_dtype

    if "error" in state:  # loading failed before: every later unit fails the same way, at once
        raise state["error"]
    try:
        target.materialize(device, resolve_torch_dtype(dtype)[1])
    except Exception as exc:
        state["error"] = exc
        raise


def _measured(unit: SweepUnit, base: dict[str, Any], *, target: ProfileTarget, compressor: Any,
              spec: CompressorSpec, text_tokens: int, image_size: tuple[int, int] | None, run_device: str,
              dtype: str, warmup: int, repeats: int, decode_steps: int, state: dict[str, Any], where: str,
              check_memory: bool, cpu_threads: int | None, how: dict[str, Any]) -> CostMeasurement:
    from vlmplanner.schemas import CostMeasurement, build

    from .timing import measure_latency

    if check_memory:
        verdict = _fits(unit, target, spec, text_tokens, image_size, run_device, dtype, decode_steps)
        if verdict is not None:
            return build(CostMeasurement, base, status="infeasible", note=verdict, recorded_at=now())
    _materialize(target, run_device, dtype, state)
    timing = measure_latency(target, unit.visual_tokens, device=run_device, dtype=dtype,
                             batch_size=unit.batch_size, compressor=compressor, text_tokens=text_tokens,
                             image_size=image_size, warmup=warmup, repeats=repeats, decode_steps=decode_steps,
                             cpu_threads=cpu_threads, **how)
    notes = [CONVENTIONS["measured"], f"{timing.visual_tokens} of {timing.native_tokens} visual tokens, {where}",
             f"batch {timing.batch_size}: prefill median {timing.prefill_ms:.3f} ms (IQR"
             f" {timing.prefill_ms_spread:.3f}); decode median"
             + (f" {timing.decode_ms_per_token:.3f} ms/token (IQR {timing.decode_ms_spread:.3f})"
                if timing.decode_ms_per_token is not None else " not measured (decode_steps 0)"),
             *timing.notes]
    return build(CostMeasurement, base, status="ok", prefill_ms=timing.prefill_ms,
                 prefill_ms_spread=timing.prefill_ms_spread, decode_ms_per_token=timing.decode_ms_per_token,
                 peak_memory_bytes=timing.peak_memory_bytes, note=" | ".join(notes), recorded_at=now())


def _fits(unit: SweepUnit, target: ProfileTarget, spec: CompressorSpec, text_tokens: int,
          image_size: tuple[int, int] | None, device: str, dtype: str, decode_steps: int) -> str | None:
    """None when the analytic memory model says the run fits; else why it is infeasible."""
    from vlmplanner.cost import breakdown
    from vlmplanner.schemas import Workload, build

    free = _available_memory(device)
    if free is None:
        return None
    try:
        workload = build(Workload, text_tokens=unit.text_tokens, output_tokens=decode_steps,
                         batch_size=unit.batch_size, image_size=image_size)
        memory = breakdown(target.spec, spec, unit.visual_tokens, workload, dtype=dtype).memory_bytes
    except VlmPlannerError:
        return None
    loaded = target.model is not None and target._device == device
    need = memory["kv_cache_batch"] + memory["activations"] + (0.0 if loaded else memory["weights"])
    if need <= free:
        return None
    what = "KV cache and activations" if loaded else "weights, KV cache and activations"
    return (f"infeasible, not run: the analytic memory model needs {need / 2**30:.2f} GiB ({what}, {dtype},"
            f" batch {unit.batch_size}) and {device} has {free / 2**30:.2f} GiB free")


def _free(device: str) -> None:
    import gc

    gc.collect()
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:500]


def _last_frame(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "no traceback"
    last = frames[-1]
    return f"{last.filename.rsplit('/', 1)[-1]}:{last.lineno}"
