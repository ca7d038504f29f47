"""Whether a device a model is asked to run on is on this machine.

``cuda`` without a CUDA build or GPU, ``cuda:3`` on a one-GPU machine and ``mps`` off Apple silicon
are checked before any weights are read, so the answer is one
:class:`~vlmplanner.errors.DeviceUnavailableError` line saying what this machine has, not a torch
error halfway through a load.
"""

from __future__ import annotations

from vlmplanner.errors import DeviceUnavailableError
from vlmplanner.extras import require

__all__ = ["check_available"]


def check_available(device: str) -> str:
    """``device`` (``cpu``, ``meta``, ``cuda``, ``cuda:N``, ``mps``, ``xpu[:N]``) when torch can use
    it here; DeviceUnavailableError otherwise. The spelling is assumed checked already."""
    text = device.strip().lower()
    if text in ("cpu", "meta"):
        return text
    torch = require("torch", feature=f"device {device!r}")
    kind, _, index_text = text.partition(":")
    if kind == "mps":
        backend = getattr(torch.backends, "mps", None)
        if backend is None or not backend.is_available():
            raise _unavailable(device, "this machine has no Apple MPS device (or torch was built without it);"
                                       " use 'cpu'")
        return text
    backend = getattr(torch, kind, None)
    if kind not in ("cuda", "xpu", "npu") or backend is None or not backend.is_available():
        raise _unavailable(device, f"torch {torch.__version__} sees no {kind.upper()} device here"
                                   f" ({_elsewhere(torch)}); use 'cpu', or a machine and torch build with {kind.upper()}")
    count = int(backend.device_count())
    if index_text and int(index_text) >= count:
        raise _unavailable(device, f"this machine has {count} {kind.upper()} device(s), {kind}:0 to"
                                   f" {kind}:{count - 1}")
    return text


def _unavailable(device: str, why: str) -> DeviceUnavailableError:
    return DeviceUnavailableError(f"device {device!r} is not available: {why}", field="device", value=device)


def _elsewhere(torch: object) -> str:
    """What torch does see, for the message."""
    cuda = getattr(torch, "cuda", None)
    count = int(cuda.device_count()) if cuda is not None and cuda.is_available() else 0
    return f"{count} CUDA device(s) visible" if count else "only the CPU"
