"""Skip what needs an optional extra, saying which extra and how to install it.

The suite runs in the core install too (no torch, transformers, fvcore, Pillow): a test that needs
one of them is skipped with the reason ``needs the torch extra (torch missing): pip install
'vlmplanner[torch]'``, and every other test in the same file still runs. Use the marks on tests
or classes, ``need(...)`` inside a fixture or test, or ``need(...)`` at the top of a module whose
every test needs the extra.
"""

from __future__ import annotations

import pytest

from vlmplanner.extras import EXTRA_OF, available, install_hint

__all__ = ["TORCH_STACK", "need", "reason", "requires", "requires_fvcore", "requires_torch"]

#: What the torch extra brings that the suite's model tests use.
TORCH_STACK = ("torch", "transformers", "PIL")


def reason(*modules: str) -> str:
    """The skip reason for ``modules``: the extra that brings them and its pip command."""
    missing = [m for m in modules if not available(m)] or list(modules)
    extra = EXTRA_OF.get(missing[0], "torch")
    return f"needs the {extra} extra ({', '.join(missing)} missing): {install_hint(extra)}"


def requires(*modules: str) -> pytest.MarkDecorator:
    """A mark that skips a test (or class) unless every module can be imported."""
    return pytest.mark.skipif(not available(*modules), reason=reason(*modules))


def need(*modules: str) -> None:
    """Skip the calling test, fixture or (at import) module unless every module can be imported."""
    if not available(*modules):
        pytest.skip(reason(*modules), allow_module_level=True)


requires_torch = requires(*TORCH_STACK)
requires_fvcore = requires(*TORCH_STACK, "fvcore")
