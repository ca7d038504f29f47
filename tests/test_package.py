"""Package-level promises: a light import, a pinned public surface, a fast CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import vlmplanner


def loaded_after(code: str) -> set[str]:
    script = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


def test_import_does_not_import_torch_or_the_database_layer() -> None:
    modules = loaded_after("import vlmplanner")
    assert not {"torch", "transformers", "fvcore", "sqlalchemy", "alembic"} & modules


def test_cli_help_imports_neither_torch_nor_the_store() -> None:
    modules = loaded_after(
        "from vlmplanner.cli.app import main\n"
        "import contextlib, io\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['--help'])"
    )
    assert not {"torch", "transformers", "sqlalchemy", "alembic"} & modules


def test_public_surface_is_pinned() -> None:
    assert vlmplanner.__all__ == sorted(vlmplanner.__all__, key=str.casefold)
    for name in vlmplanner.__all__:
        assert getattr(vlmplanner, name) is not None
    assert vlmplanner.open_catalog.__module__ == "vlmplanner.store.catalog"


def test_unknown_attribute_is_an_attribute_error() -> None:
    try:
        vlmplanner.not_a_thing  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "not_a_thing" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("expected AttributeError")


def test_errors_share_one_base() -> None:
    from vlmplanner import errors

    for name in errors.__all__:
        value = getattr(errors, name)
        if isinstance(value, type):
            assert issubclass(value, (errors.VlmPlannerError, errors.VlmPlannerWarning))


def test_every_error_code_is_documented() -> None:
    from pathlib import Path

    from vlmplanner import errors

    page = (Path(__file__).resolve().parents[1] / "docs" / "errors.md").read_text()
    for name in errors.__all__:
        value = getattr(errors, name)
        if isinstance(value, type) and issubclass(value, errors.VlmPlannerError) and value is not errors.VlmPlannerError:
            assert f"`{name}`" in page, f"{name} is missing from docs/errors.md"
            assert f"`{value.code}`" in page, f"{value.code} is missing from docs/errors.md"
