"""Where a checkpoint's files come from, decided before transformers is asked.

Asked for a Hub id it cannot fetch, transformers retries for about 30 s (five backoffs) before it
says so; offline, that is 30 s of silence per load. So a load first checks, in about a second:
``HF_HUB_OFFLINE`` or a quick probe of the Hub endpoint, and the local Hugging Face cache. A Hub
that cannot be reached with the checkpoint cached loads from the cache (``local_files_only``);
without it the load fails at once with one :class:`~vlmplanner.errors.HubUnreachableError` line.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from vlmplanner import compat
from vlmplanner.errors import HubUnreachableError, ModelLoadError

__all__ = ["PROBE_TIMEOUT", "hub_options", "probe"]

#: Seconds the endpoint probe waits. The Hub answers a HEAD in well under a second; a dead route
#: or a silent proxy would otherwise hold every load for the Hub client's own timeouts and retries.
PROBE_TIMEOUT = 1.5
#: A Hub repo id: ``name`` or ``org/name`` (letters, digits, '-', '_', '.').
_HUB_ID = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9_.-]*/)?[A-Za-z0-9][A-Za-z0-9_.-]*$")
_WHAT_TO_DO = "connect to the internet, set HF_ENDPOINT to a reachable mirror, or pass checkpoint=DIR with its files"


def probe(endpoint: str, timeout: float = PROBE_TIMEOUT) -> str | None:
    """None when ``endpoint`` answers HTTP at all (any status), else what went wrong, in a few words."""
    import httpx

    try:
        with httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=False) as client:
            client.head(endpoint)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        detail = " ".join(str(exc).split()) or "no answer"
        return f"{type(exc).__name__}: {detail}"[:200]
    return None


def hub_options(checkpoint: str) -> dict[str, Any]:
    """Extra ``from_pretrained`` options for loading ``checkpoint``: none for a local directory or a
    reachable Hub, ``local_files_only`` when the Hub is out of reach but the cache holds it;
    HubUnreachableError when neither, ModelLoadError when it is neither a directory nor a Hub id."""
    if Path(checkpoint).expanduser().is_dir():
        return {}
    if not _HUB_ID.match(checkpoint):
        raise ModelLoadError(f"{checkpoint!r} is neither a local directory nor a Hugging Face Hub id (org/name):"
                             " pass the folder that holds config.json and the weights", field="checkpoint",
                             value=checkpoint)
    cached = compat.hub_cached(checkpoint)
    if compat.hub_offline():
        if cached:
            return {"local_files_only": True}
        raise HubUnreachableError(f"{checkpoint!r} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set:"
                                  " download it once online (or unset HF_HUB_OFFLINE), or pass checkpoint=DIR with"
                                  " its files", field="checkpoint", value=checkpoint)
    endpoint = compat.hub_endpoint()
    problem = probe(endpoint)
    if problem is None:
        return {}
    if cached:
        return {"local_files_only": True}
    raise HubUnreachableError(f"cannot reach the Hugging Face Hub at {endpoint} ({problem}) and {checkpoint!r} is not"
                              f" in the local cache: {_WHAT_TO_DO}", field="checkpoint", value=checkpoint)
