"""Register a model in the catalog from its Hugging Face config.json.

The config comes from a local checkpoint directory, a config.json file, or the Hub (``org/name``,
fetched over HTTPS with httpx). The family adapter of its ``model_type`` turns it into a
:class:`~vlmplanner.schemas.ModelSpec`; everything is validated before anything is written, so a
rejected model leaves the catalog as it was. No torch or transformers is needed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vlmplanner.errors import HubUnreachableError, UnknownModelError, ValidationError
from vlmplanner.schemas import ModelSpec

if TYPE_CHECKING:
    import httpx

    from vlmplanner.store import Catalog

__all__ = ["DEFAULT_HUB_URL", "fetch_hub_config", "read_config", "read_model_spec", "register_model"]

DEFAULT_HUB_URL = "https://huggingface.co"
#: A Hub model id: ``org/name`` (letters, digits, '-', '_', '.').
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")
#: config.json files are a few kB; anything beyond this is not one.
MAX_CONFIG_BYTES = 5 * 1024 * 1024


def _from_file_hint(model_id: str) -> str:
    return (f"register from a file instead: download its config.json and run `vlmplanner register"
            f" path/to/config.json --checkpoint {model_id}` (Python: register_model('path/to/config.json',"
            f" checkpoint='{model_id}'))")


def _parse(text: str | bytes, where: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationError(f"{where} is not valid JSON: {exc}", field="config.json", value=where) from exc
    if not isinstance(data, dict):
        raise ValidationError(f"{where} must hold a JSON object, not {type(data).__name__}", field="config.json",
                              value=where)
    return data


def read_config(path: str | Path) -> tuple[dict[str, Any], Path]:
    """The config.json at ``path`` (a checkpoint directory or the file itself) and the file's path."""
    given = Path(path).expanduser()
    file = given / "config.json" if given.is_dir() else given
    if given.is_dir() and not file.is_file():
        raise ValidationError(f"{given} is a directory without a config.json; point at a checkpoint directory or"
                              " at the config.json file", field="source", value=str(path))
    try:
        size = file.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ValidationError(f"{file} is {size} bytes: too large for a config.json", field="source",
                                  value=str(path))
        text = file.read_bytes()
    except FileNotFoundError as exc:
        raise ValidationError(f"no such file or directory: {given}", field="source", value=str(path)) from exc
    except OSError as exc:  # permissions, a FIFO, an I/O error ...
        raise ValidationError(f"cannot read {file}: {exc.strerror or exc}", field="source", value=str(path)) from exc
    return _parse(text, str(file)), file


def fetch_hub_config(model_id: str, *, timeout: float = 10.0, hub_url: str = DEFAULT_HUB_URL,
                     transport: httpx.BaseTransport | None = None) -> tuple[dict[str, Any], str]:
    """``{hub_url}/{model_id}/resolve/main/config.json`` as a dict, and the URL it came from.

    HubUnreachableError when the Hub does not answer (offline, DNS, TLS, a timeout); UnknownModelError
    for a 404; ValidationError for a gated model, another HTTP status or a body that is not a config.
    """
    import httpx

    url = f"{hub_url.rstrip('/')}/{model_id}/resolve/main/config.json"
    try:
        with httpx.Client(transport=transport, timeout=httpx.Timeout(timeout), follow_redirects=True,
                          headers={"User-Agent": "vlmplanner"}) as client, client.stream("GET", url) as response:
            if response.status_code == 404:
                raise UnknownModelError(model_id, hint=f"{url} answered 404: no such model on the Hub, or it has"
                                        f" no config.json; check the id, or {_from_file_hint(model_id)}")
            if response.status_code in (401, 403):
                raise ValidationError(
                    f"{url} answered {response.status_code}: the model is gated or private and vlmplanner"
                    f" sends no token; {_from_file_hint(model_id)}", field="source", value=model_id,
                )
            if response.status_code != 200:
                raise ValidationError(f"{url} answered HTTP {response.status_code}; {_from_file_hint(model_id)}",
                                      field="source", value=model_id)
            body = b""
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_CONFIG_BYTES:
                    raise ValidationError(f"{url} sent more than {MAX_CONFIG_BYTES} bytes: not a config.json",
                                          field="source", value=model_id)
    except httpx.TimeoutException as exc:
        raise HubUnreachableError(f"the Hub at {hub_url} did not answer within {timeout:g} s ({type(exc).__name__});"
                                  f" if you are offline, {_from_file_hint(model_id)}",
                                  field="source", value=model_id) from exc
    except httpx.HTTPError as exc:  # connection refused, DNS failure, TLS, protocol errors
        detail = " ".join(str(exc).split())
        raise HubUnreachableError(f"cannot reach the Hub at {hub_url} ({type(exc).__name__}: {detail}); if you are"
                                  f" offline, {_from_file_hint(model_id)}", field="source", value=model_id) from exc
    return _parse(body, f"config.json of {model_id} from {url}"), url


def _locate(source: str | Path) -> tuple[str, str | Path]:
    """('local', path) or ('hub', id). An existing path wins over a Hub id of the same spelling."""
    if isinstance(source, Path):
        return "local", source
    if not isinstance(source, str) or not source.strip():
        raise ValidationError(f"source must be a path or a Hub id such as org/name, got {source!r}",
                              field="source", value=source)
    if Path(source).expanduser().exists():
        return "local", Path(source)
    if HUB_ID.match(source) and not source.endswith(".json"):
        return "hub", source
    raise ValidationError(f"no such file or directory: {source} (and it is not a Hub id of the form org/name)",
                          field="source", value=source)


def read_model_spec(
    source: str | Path,
    *,
    checkpoint: str | None = None,
    timeout: float = 10.0,
    hub_url: str = DEFAULT_HUB_URL,
    transport: httpx.BaseTransport | None = None,
) -> ModelSpec:
    """The validated ModelSpec :func:`register_model` would store, without storing it."""
    from vlmplanner.families import spec_from_config

    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValidationError(f"timeout must be a positive number of seconds, got {timeout!r}", field="timeout",
                              value=timeout)
    if checkpoint is not None and (not isinstance(checkpoint, str) or not checkpoint.strip()):
        raise ValidationError(f"checkpoint must be a non-empty id, got {checkpoint!r}", field="checkpoint",
                              value=checkpoint)
    kind, where = _locate(source)
    today = date.today().isoformat()
    config: Mapping[str, Any]
    if kind == "hub":
        model_id = str(where)
        config, url = fetch_hub_config(model_id, timeout=timeout, hub_url=hub_url, transport=transport)
        origin = f"config.json of {model_id} fetched from {url} on {today}"
        default_checkpoint = model_id
    else:
        config, file = read_config(where)
        origin = f"config.json at {file.resolve()} read on {today}"
        default_checkpoint = str(file.resolve().parent)
    return spec_from_config(config, checkpoint=checkpoint or default_checkpoint,
                            source=f"{origin} (vlmplanner register)")


def register_model(
    source: str | Path,
    *,
    catalog: Catalog | None = None,
    checkpoint: str | None = None,
    timeout: float = 10.0,
    hub_url: str = DEFAULT_HUB_URL,
    transport: httpx.BaseTransport | None = None,
) -> ModelSpec:
    """Read a model's config.json, validate it, and store it in the catalog; returns the stored spec.

    ``source`` is a checkpoint directory, a config.json file, or a Hub id ``org/name`` (fetched from
    ``{hub_url}/{id}/resolve/main/config.json`` within ``timeout`` seconds; ``transport`` replaces
    httpx's network transport, e.g. in tests). ``checkpoint`` is the id the catalog files it under:
    by default the Hub id, or the absolute path of the directory holding the config.json for local
    sources. ``catalog`` defaults to the one ``open_catalog()`` opens. An existing model with the
    same checkpoint is replaced. Every check runs before the catalog is touched, so an error leaves
    it unchanged.
    """
    spec = read_model_spec(source, checkpoint=checkpoint, timeout=timeout, hub_url=hub_url, transport=transport)
    if catalog is not None:
        return catalog.add_model(spec)
    from vlmplanner.store import open_catalog

    with open_catalog() as store:
        return store.add_model(spec)
