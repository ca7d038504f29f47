"""What a failed ``from_pretrained`` becomes: one line naming the checkpoint, what failed and what to do.

transformers and huggingface_hub fail a load with OSError, ValueError, safetensors' and pickle's
own errors or an HTTP error, each with a paragraph of text. A load is one step for the user, so
every way it fails becomes a :class:`~vlmplanner.errors.ModelLoadError` (the files: missing,
unreadable, a format transformers does not read, remote code not allowed) or, when the Hub could
not be reached, a :class:`~vlmplanner.errors.HubUnreachableError`. The original stays chained
(``__cause__``) for ``--debug``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from vlmplanner.errors import HubUnreachableError, ModelLoadError, VlmPlannerError

__all__ = ["load_error", "load_errors"]

#: Words transformers and huggingface_hub use when the Hub could not be reached.
_UNREACHABLE = ("couldn't connect", "could not connect", "offline mode", "connection refused", "timed out",
                "name or service not known", "temporary failure in name resolution", "network is unreachable")


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _unreachable(exc: BaseException) -> bool:
    chain: BaseException | None = exc
    while chain is not None:
        name = type(chain).__name__
        if name in ("ConnectError", "ConnectTimeout", "ReadTimeout", "OfflineModeIsEnabled"):
            return True
        if any(words in str(chain).lower() for words in _UNREACHABLE):
            return True
        chain = chain.__cause__ or chain.__context__
    return False


def load_error(exc: Exception, *, checkpoint: str, part: str, local: bool) -> VlmPlannerError:
    """The vlmplanner error for ``exc``, raised while loading the ``part`` (weights, processor) of
    ``checkpoint`` (a local directory when ``local``, else a Hub id)."""
    where = f"the directory {checkpoint}" if local else f"{checkpoint!r} (the Hugging Face Hub or its cache)"
    detail = f"{type(exc).__name__}: {_first_line(exc)}"
    if not local and _unreachable(exc):
        return HubUnreachableError(f"cannot load the {part} of {checkpoint!r}: the Hugging Face Hub could not be"
                                   f" reached ({detail}); connect to the internet, set HF_ENDPOINT to a reachable"
                                   " mirror, or pass checkpoint=DIR with its files", field="checkpoint",
                                   value=checkpoint)
    if "trust_remote_code" in str(exc):
        return ModelLoadError(f"{where} needs its own Python code to load its {part} ({_first_line(exc)}): pass"
                              " trust_remote_code=True (vlmplanner run --trust-remote-code) if you trust it",
                              field="trust_remote_code", value=checkpoint)
    hint = ("check that the directory holds a complete checkpoint: config.json, the weights (model.safetensors)"
            " and the processor files, as save_pretrained writes them" if local else
            "check the id, or download the checkpoint and pass checkpoint=DIR")
    return ModelLoadError(f"cannot load the {part} of {where}: {detail}; {hint}", field="checkpoint",
                          value=checkpoint)


@contextmanager
def load_errors(checkpoint: str, *, part: str, local: bool) -> Iterator[None]:
    """Turn whatever loading ``part`` of ``checkpoint`` raises into a vlmplanner error (our own
    errors pass through unchanged)."""
    try:
        yield
    except VlmPlannerError:
        raise
    except Exception as exc:
        raise load_error(exc, checkpoint=checkpoint, part=part, local=local) from exc
