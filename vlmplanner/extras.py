"""Optional dependencies: one place that imports them and says which pip extra brings them.

The core install (catalog, cost model, scaling laws, planner, CLI) needs none of torch,
transformers, fvcore, safetensors or Pillow. Everything that does calls :func:`require` first, so a
missing package is one :class:`~vlmplanner.errors.MissingExtraError` naming the command that
installs it, never a ``ModuleNotFoundError`` from deep inside a call.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from vlmplanner.errors import MissingExtraError

__all__ = ["EXTRA_OF", "available", "install_hint", "require"]

#: The pip extra that installs each optional top-level module.
EXTRA_OF: dict[str, str] = {
    "torch": "torch",
    "transformers": "torch",
    "fvcore": "torch",
    "safetensors": "torch",
    "PIL": "torch",
    "huggingface_hub": "torch",
    "tokenizers": "torch",
    "psycopg": "postgres",
    "datasets": "eval",
    "pyarrow": "eval",
    "matplotlib": "report",
}


def install_hint(extra: str) -> str:
    """The command that installs ``extra``."""
    return f"pip install 'vlmplanner[{extra}]'"


def available(*modules: str) -> bool:
    """True when every module can be imported (without importing it)."""
    return all(importlib.util.find_spec(name.split(".")[0]) is not None for name in modules)


def require(module: str, *, feature: str = "") -> ModuleType:
    """Import ``module``, or raise a MissingExtraError naming the extra that installs it.

    ``feature`` says what needed it ("profiling", "vlmplanner run"), so the message reads as an
    answer to what the user just tried.
    """
    top = module.split(".")[0]
    extra = EXTRA_OF.get(top, "torch")
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.split(".")[0] != top:
            raise  # the module is there but one of its own imports is broken: not a missing extra
        needs = f"{feature} needs" if feature else "this needs"
        raise MissingExtraError(
            f"{needs} {top}, which is not installed; install it with: {install_hint(extra)}",
            extra=extra,
            module=top,
        ) from None
