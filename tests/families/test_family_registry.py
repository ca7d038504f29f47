"""The family registry: built-ins by name, plug-ins through entry points, and a light import."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vlmplanner import families
from vlmplanner.errors import ValidationError, VlmPlannerWarning
from vlmplanner.families import (
    ENTRY_POINT_GROUP,
    ModelFamily,
    get_family,
    list_families,
    register_family,
)

PLUGIN = '''
from vlmplanner.families import get_family
from vlmplanner.families.llava import LlavaFamily


class ToyFamily(LlavaFamily):
    """A third-party adapter: LLaVA's config layout under another model_type."""

    model_type = "toy_vl"

    def _check_model_type(self, config):
        if config.get("model_type") != "toy_vl":
            raise ValueError(config.get("model_type"))

    def spec_from_config(self, config, *, checkpoint, source, params_b=None):
        spec = super().spec_from_config(config, checkpoint=checkpoint, source=source, params_b=params_b)
        return spec.model_copy(update={"model_type": "toy_vl"})
'''


@pytest.fixture
def registry() -> Iterator[None]:
    """Restore the module's registry after a test changes it."""
    saved, instances = families.REGISTRY.save(), dict(families._instances)
    yield
    families.REGISTRY.restore(saved)  # the next test reads the real installed packages again
    families._instances.clear()
    families._instances.update(instances)


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, registry: None) -> str:
    """An installed-looking plug-in: a module on sys.path and an entry point naming it."""
    (tmp_path / "toy_vl_plugin.py").write_text(textwrap.dedent(PLUGIN))
    monkeypatch.syspath_prepend(str(tmp_path))
    points = importlib.metadata.EntryPoints([
        importlib.metadata.EntryPoint(name="toy_vl", value="toy_vl_plugin:ToyFamily", group=ENTRY_POINT_GROUP),
    ])

    def entry_points(**selection: Any) -> Any:
        return points.select(**selection)

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    families.REGISTRY.reread()
    return "toy_vl"


def test_built_ins_are_listed_and_created_once() -> None:
    assert {"llava", "llava_next", "qwen2_vl", "qwen2_5_vl"} <= set(list_families())
    family = get_family("qwen2_5_vl")
    assert isinstance(family, ModelFamily) and family.model_type == "qwen2_5_vl"
    assert get_family("qwen2_5_vl") is family


def test_an_unknown_model_type_lists_the_supported_ones() -> None:
    with pytest.raises(ValidationError) as info:
        get_family("llava-next")
    message = str(info.value)
    assert info.value.field == "model_type" and info.value.value == "llava-next"
    assert f"supported: {', '.join(sorted(list_families()))}" in message
    assert "did you mean 'llava_next'" in message and ENTRY_POINT_GROUP in message


def test_an_entry_point_plugs_a_family_in(plugin: str) -> None:
    assert "toy_vl_plugin" not in sys.modules
    assert plugin in list_families()
    assert "toy_vl_plugin" not in sys.modules  # listed without importing it
    family = get_family(plugin)
    assert type(family).__name__ == "ToyFamily"
    config = {**_llava_config(), "model_type": "toy_vl"}
    assert families.spec_from_config(config, checkpoint="me/toy", source="t").model_type == "toy_vl"


def test_a_built_in_is_found_without_reading_entry_points(monkeypatch: pytest.MonkeyPatch,
                                                         registry: None) -> None:
    """Reading every installed package's entry points costs tens of milliseconds per CLI call."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(importlib.metadata, "entry_points",
                        lambda **selection: calls.append(selection) or importlib.metadata.EntryPoints([]))
    families.REGISTRY.reread()
    families._instances.clear()
    assert families.has_family("qwen2_vl") and get_family("llava").model_type == "llava"
    assert calls == []
    assert not families.has_family("toy_vl") and len(calls) == 1  # an unknown name does look


def test_an_entry_point_cannot_shadow_a_built_in(monkeypatch: pytest.MonkeyPatch, registry: None) -> None:
    points = importlib.metadata.EntryPoints([
        importlib.metadata.EntryPoint(name="llava", value="elsewhere:Fake", group=ENTRY_POINT_GROUP)])
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda **selection: points.select(**selection))
    families.REGISTRY.reread()
    with pytest.warns(VlmPlannerWarning, match="is ignored"):
        names = list_families()
    assert names.count("llava") == 1
    assert type(get_family("llava")).__name__ == "LlavaFamily"


def test_a_broken_entry_point_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, registry: None) -> None:
    points = importlib.metadata.EntryPoints([
        importlib.metadata.EntryPoint(name="ghost_vl", value="no_such_module_xyz:Ghost", group=ENTRY_POINT_GROUP)])
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda **selection: points.select(**selection))
    families.REGISTRY.reread()
    with pytest.raises(ValidationError, match="cannot be loaded") as info:
        get_family("ghost_vl")
    assert info.value.field == "model_type"


def test_register_family_by_class_and_by_name(registry: None) -> None:
    from vlmplanner.families.llava import LlavaFamily

    class Renamed(LlavaFamily):
        model_type = "renamed_llava"

    register_family("renamed_llava", Renamed)
    assert isinstance(get_family("renamed_llava"), Renamed)
    with pytest.raises(ValidationError, match="exist_ok"):
        register_family("renamed_llava", Renamed)
    register_family("renamed_llava", "vlmplanner.families.llava:LlavaFamily", exist_ok=True)
    with pytest.raises(ValidationError, match="declares model_type 'llava'"):
        get_family("renamed_llava")
    with pytest.raises(ValidationError, match="declares model_type"):
        register_family("other", Renamed)
    with pytest.raises(ValidationError, match="ModelFamily subclass"):
        register_family("other", dict)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="module:Class"):
        register_family("other", "vlmplanner.families.llava")


def test_families_and_specs_need_neither_torch_nor_transformers() -> None:
    script = textwrap.dedent(f"""
        import json, sys
        from vlmplanner.families import get_family, list_families, spec_from_config
        config = json.loads({json.dumps(json.dumps(_llava_config()))})
        for name in list_families():
            get_family(name)
        spec = spec_from_config(config, checkpoint="a/b", source="t")
        print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformers"))))
    """)
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True).stdout
    assert json.loads(out.strip().splitlines()[-1]) == []


def _llava_config() -> dict[str, Any]:
    root = Path(__file__).resolve().parents[2]
    return json.loads((root / "catalog/hf_configs/llava-hf/llava-1.5-7b-hf/config.json").read_text())
