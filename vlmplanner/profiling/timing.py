"""Latency and peak memory of a real model: prefill (time to first token) and decode per token.

CPU: ``time.perf_counter`` around each call; peak memory is the process's peak RSS (VmHWM), reset
by writing 5 to /proc/self/clear_refs just before the timed runs, so it covers the weights, the
runtime and the largest transient of these runs (not the import-time peak). CUDA: CUDA events around
each call (synchronized once per repeat); peak memory is ``torch.cuda.max_memory_allocated`` after
``reset_peak_memory_stats`` (tensors only: no CUDA context, no allocator cache).

Each repeat runs one prefill (``use_cache=True``, ``logits_to_keep=1``, as ``generate()``'s first
step) and then ``decode_steps`` single-token steps over the KV cache it returned. Prefill and decode
are timed separately; reported: the median and the interquartile range over the timed samples,
after ``warmup`` untimed repeats.
"""

from __future__ import annotations

import statistics
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vlmplanner import compat
from vlmplanner.errors import ValidationError
from vlmplanner.extras import require

from .provenance import device_name, peak_rss_bytes, reset_peak_rss, resolve_device

if TYPE_CHECKING:
    from .target import ProfileTarget

__all__ = ["Timing", "measure_latency", "resolve_torch_dtype", "spread"]

_TORCH_DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}


@dataclass(frozen=True)
class Timing:
    """What one measured configuration took. Times in milliseconds."""

    device: str  # cpu / cuda:N
    device_name: str
    dtype: str
    batch_size: int
    visual_tokens: int
    native_tokens: int
    text_tokens: int
    compressor: str
    prefill_ms: float
    prefill_ms_spread: float
    decode_ms_per_token: float | None
    decode_ms_spread: float | None
    peak_memory_bytes: int | None
    memory_method: str
    warmup: int
    repeats: int
    decode_steps: int
    prefill_samples_ms: tuple[float, ...] = ()
    decode_samples_ms: tuple[float, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)


def resolve_torch_dtype(dtype: str | Any) -> tuple[str, Any]:
    """(name, torch dtype) for bf16 / fp16 / fp32 (or a torch dtype)."""
    require("torch", feature="measuring latency")
    import torch

    if isinstance(dtype, torch.dtype):
        names = {getattr(torch, v): k for k, v in _TORCH_DTYPES.items()}
        if dtype not in names:
            raise ValidationError(f"dtype {dtype} cannot be measured; use bf16, fp16 or fp32", field="dtype",
                                  value=str(dtype))
        return names[dtype], dtype
    from vlmplanner.cost.dtypes import resolve_dtype

    name = resolve_dtype(dtype).name
    if name not in _TORCH_DTYPES:
        raise ValidationError(f"dtype {dtype!r} cannot be measured on a real model (weight-only quantization is"
                              " not implemented here); use bf16, fp16 or fp32", field="dtype", value=dtype)
    return name, getattr(torch, _TORCH_DTYPES[name])


def spread(samples: list[float]) -> float:
    """The interquartile range (p75 - p25); 0 for fewer than two samples."""
    if len(samples) < 2:
        return 0.0
    q = statistics.quantiles(samples, n=4, method="inclusive")
    return float(q[2] - q[0])


def measure_latency(target: ProfileTarget, visual_tokens: int | None = None, *, device: str, dtype: str | Any = "bf16",
                    batch_size: int = 1, compressor: str | Any = "none", text_tokens: int = 50,
                    image_size: tuple[int, int] | None = None, warmup: int = 2, repeats: int = 10,
                    decode_steps: int = 8, cpu_threads: int | None = None,
                    compressor_options: Mapping[str, Any] | None = None,
                    compressor_weights: str | None = None) -> Timing:
    """Time prefill and decode of ``target``'s real model (loaded on first use) on ``device``.

    ``device`` is required: ``cpu`` or ``cuda`` (``cuda:N``); CUDA without a CUDA device raises
    DeviceUnavailableError. Out of memory propagates as torch's error (the sweep records it).
    ``cpu_threads`` sets torch's intra-op threads for the run (restored afterwards); on a shared
    machine 1 thread avoids OpenMP barriers stalling on a descheduled thread.
    ``compressor_options`` / ``compressor_weights``: as for ``vlmplanner.load``.
    """
    require("torch", feature="measuring latency")
    import torch

    require("transformers", feature="measuring latency")

    from .runner import runner_for

    device = resolve_device(device)
    dtype_name, torch_dtype = resolve_torch_dtype(dtype)
    for name, value, low in (("warmup", warmup, 0), ("repeats", repeats, 1), ("decode_steps", decode_steps, 0),
                             ("batch_size", batch_size, 1), ("cpu_threads", cpu_threads or 1, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValidationError(f"{name} must be an integer >= {low}, got {value!r}", field=name, value=value)
    from .runner import profile_plan

    how: dict[str, Any] = {"options": dict(compressor_options or {}), "weights": compressor_weights}
    profile_plan(target, compressor, visual_tokens, image_size=image_size, **how)  # checked before weights load
    model = target.materialize(device, torch_dtype)
    cuda = device.startswith("cuda")
    timer = _CudaTimer(device) if cuda else _CpuTimer()
    prefill: list[float] = []
    decode: list[float] = []
    threads = torch.get_num_threads()
    with runner_for(target, model, compressor, visual_tokens, image_size=image_size, **how) as runner:
        runner.eval()
        request = runner.request(target, text_tokens=text_tokens, batch_size=batch_size,
                                 image_size=image_size).to(device, torch_dtype)
        if cpu_threads is not None and not cuda:
            torch.set_num_threads(cpu_threads)
        try:
            with compat.quiet_hf():  # set once, outside the timed calls
                peak, memory_method = _timed(runner, request, warmup, repeats, decode_steps, timer, device,
                                             prefill, decode)
            used_threads = torch.get_num_threads()
        finally:
            torch.set_num_threads(threads)
    notes = [(f"{repeats} timed repeats after {warmup} warm-up(s); each: one prefill, then {decode_steps}"
              " single-token decode steps over its KV cache"),
             f"peak memory: {memory_method}"]
    if not cuda:
        notes.append(f"torch CPU threads: {used_threads}")
    from .flops import run_notes

    notes.extend(run_notes(runner, request))
    return Timing(
        device=device, device_name=device_name(device), dtype=dtype_name, batch_size=batch_size,
        visual_tokens=runner.visual_tokens(request), native_tokens=request.native_tokens, text_tokens=request.text_tokens,
        compressor=runner.plan.compressor, prefill_ms=statistics.median(prefill), prefill_ms_spread=spread(prefill),
        decode_ms_per_token=statistics.median(decode) if decode else None,
        decode_ms_spread=spread(decode) if decode else None, peak_memory_bytes=peak, memory_method=memory_method,
        warmup=warmup, repeats=repeats, decode_steps=decode_steps, prefill_samples_ms=tuple(prefill),
        decode_samples_ms=tuple(decode), notes=tuple(notes),
    )


def _timed(runner: Any, request: Any, warmup: int, repeats: int, decode_steps: int, timer: Any, device: str,
           prefill: list[float], decode: list[float]) -> tuple[int | None, str]:
    import torch

    cuda = device.startswith("cuda")
    peak: int | None
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        for _ in range(warmup):
            _one_repeat(runner, request, decode_steps, timer, None, None)
        if cuda:
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
            memory_method = "torch.cuda.max_memory_allocated after reset_peak_memory_stats"
        else:
            reset = reset_peak_rss()
            memory_method = ("peak RSS (VmHWM) after writing 5 to /proc/self/clear_refs" if reset else
                             "process lifetime peak RSS (ru_maxrss; /proc/self/clear_refs unavailable)")
        for _ in range(repeats):
            _one_repeat(runner, request, decode_steps, timer, prefill, decode)
        if cuda:
            torch.cuda.synchronize(device)
            peak = int(torch.cuda.max_memory_allocated(device))
        else:
            peak = peak_rss_bytes()
    return peak, memory_method


def _one_repeat(runner: Any, request: Any, steps: int, timer: Any, prefill: list[float] | None,
                decode: list[float] | None) -> None:
    timer.start()
    out = runner.prefill(request, use_cache=True)  # the seam's vision tower, compressor and query pass too
    marks = [timer.mark()]
    past = out.past_key_values
    for _ in range(steps):
        past = runner.decode(request, past).past_key_values
        marks.append(timer.mark())
    runner.end()
    times = timer.elapsed(marks)
    if prefill is not None and decode is not None:
        prefill.append(times[0])
        decode.extend(times[1:])


class _CpuTimer:
    def start(self) -> None:
        self._last = time.perf_counter()
        self._start = self._last

    def mark(self) -> float:
        return time.perf_counter()

    def elapsed(self, marks: list[float]) -> list[float]:
        out, last = [], self._start
        for mark in marks:
            out.append((mark - last) * 1e3)
            last = mark
        return out


class _CudaTimer:
    """CUDA events: recorded on the stream, read after one synchronize per repeat."""

    def __init__(self, device: str) -> None:
        import torch

        self.torch = torch
        self.device = device

    def _event(self) -> Any:
        event = self.torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
        event.record(self.torch.cuda.current_stream(self.device))
        return event

    def start(self) -> None:
        self._start = self._event()

    def mark(self) -> Any:
        return self._event()

    def elapsed(self, marks: list[Any]) -> list[float]:
        self.torch.cuda.synchronize(self.device)
        out, last = [], self._start
        for mark in marks:
            out.append(float(last.elapsed_time(mark)))
            last = mark
        return out
