"""Where a measurement came from: package versions, the device's name, the time, peak memory."""

from __future__ import annotations

import datetime as dt
import platform
import sys
from importlib import metadata
from pathlib import Path

from vlmplanner.errors import ValidationError
from vlmplanner.extras import require

__all__ = [
    "cpu_name",
    "device_name",
    "now",
    "peak_rss_bytes",
    "reset_peak_rss",
    "resolve_device",
    "versions",
]

_PACKAGES = ("torch", "transformers", "fvcore")


def versions(*, fvcore: bool = False) -> dict[str, str]:
    """Versions of vlmplanner, python, torch and transformers (and fvcore when it counted)."""
    from vlmplanner import __version__

    out = {"vlmplanner": __version__, "python": platform.python_version()}
    for name in _PACKAGES:
        if name == "fvcore" and not fvcore:
            continue
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def cpu_name() -> str:
    """``cpu: <model name>`` from /proc/cpuinfo (Linux), else platform.processor()."""
    name = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    name = name or platform.processor() or platform.machine()
    return f"cpu: {name}" if name else "cpu"


def resolve_device(device: str | None) -> str:
    """``cpu`` or ``cuda[:N]``, checked: a malformed name is a ValidationError, a CUDA device this
    machine does not have a DeviceUnavailableError (both with field "device")."""
    from vlmplanner.families.devices import check_available

    if device is None or not isinstance(device, str) or not device.strip():
        raise ValidationError("device is required: 'cpu' or 'cuda' (or 'cuda:N')", field="device", value=device)
    text = device.strip().lower()
    if text == "cpu":
        return "cpu"
    if text == "cuda" or (text.startswith("cuda:") and text[5:].isdigit()):
        check_available(text)
        return text if ":" in text else "cuda:0"
    raise ValidationError(f"unknown device {device!r}; use 'cpu' or 'cuda' (or 'cuda:N')", field="device",
                          value=device)


def device_name(device: str) -> str:
    """The name recorded with a measurement: the GPU's name, or ``cpu: <model>``."""
    if device.startswith("cuda"):
        torch = require("torch", feature="naming a CUDA device")
        return str(torch.cuda.get_device_name(torch.device(device)))
    return cpu_name()


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) by writing 5 to /proc/self/clear_refs (Linux)."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def peak_rss_bytes() -> int | None:
    """The process's peak resident set size (VmHWM) in bytes, or ru_maxrss where /proc is absent."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import resource

        scale = 1 if sys.platform == "darwin" else 1024
        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * scale
    except (ImportError, OSError):  # pragma: no cover - Windows
        return None
