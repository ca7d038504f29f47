"""One registry mechanism for every plug-in kind: the generic registry, and a third-party benchmark
and importer plugged in through entry points exactly as a package would declare them."""

from __future__ import annotations

import importlib.metadata
import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vlmplanner._registry import Registry
from vlmplanner.errors import (
    NotFoundError,
    UnknownBenchmarkError,
    ValidationError,
    VlmPlannerWarning,
)

PLUGINS = '''
from vlmplanner.evaluation.benchmarks import BenchmarkDefinition, HarnessMetric, Prompt
from vlmplanner.imports.records import ImportedScore, ImportReport

TOY_BENCH = BenchmarkDefinition(
    name="ToyVQA", task_family="visual-reasoning", metric="exact_match", prompt=Prompt("\\nAnswer briefly."),
    lmms_eval={"toyvqa_val": (HarnessMetric("exact_match,none", "GQA", 100.0),)}, stores=("GQA",))

WRONG_NAME = TOY_BENCH


def read_toy(paths):
    report = ImportReport()
    for path in paths:
        with open(path) as handle:
            model, score = handle.read().split()
        report.scores.append(ImportedScore(
            harness="toy", benchmark="GQA", score=float(score), raw=float(score), factor=1.0, task="toy",
            metric_key="score", model=model, path=str(path), run=str(path)))
    return report


class Thing:
    pass
'''


class Installed:
    """The entry points the installed packages declare (``points``), and each time they were read."""

    def __init__(self) -> None:
        self.points: list[importlib.metadata.EntryPoint] = []
        self.reads = 0

    def add(self, name: str, value: str, group: str) -> None:
        self.points.append(importlib.metadata.EntryPoint(name, value, group))

    def __call__(self, **selection: Any) -> Any:
        self.reads += 1
        return importlib.metadata.EntryPoints(self.points).select(**selection)


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Installed]:
    """A module on sys.path and the entry points an installed package would declare for it."""
    (tmp_path / "toy_plugins.py").write_text(textwrap.dedent(PLUGINS))
    monkeypatch.syspath_prepend(str(tmp_path))
    installed = Installed()

    monkeypatch.setattr(importlib.metadata, "entry_points", installed)
    from vlmplanner.evaluation.benchmarks import REGISTRY as BENCHMARKS
    from vlmplanner.imports.registry import REGISTRY as IMPORTERS

    saved = BENCHMARKS.save(), IMPORTERS.save()
    BENCHMARKS.reread()
    IMPORTERS.reread()
    installed.reads = 0
    yield installed
    BENCHMARKS.restore(saved[0])
    IMPORTERS.restore(saved[1])
    sys.modules.pop("toy_plugins", None)


def _registry(builtins: dict[str, Any] | None = None) -> Registry[Any]:
    return Registry(kind="widget", group="vlmplanner.test_widgets", builtins=builtins or {}, field="widget",
                    check=lambda name, value, origin: value if isinstance(value, type) else _bad(name, origin),
                    unknown=lambda name, known: NotFoundError(name, known),
                    aliases=lambda entry: entry.meta or ())


def _bad(name: str, origin: str) -> Any:
    raise ValidationError(f"widget {name!r} ({origin}) is not a class", field="widget", value=name)


def test_built_ins_load_lazily_and_once(plugins: Installed) -> None:
    registry = _registry({"thing": "toy_plugins:Thing"})
    assert "thing" in registry and "toy_plugins" not in sys.modules
    first = registry.load("thing")
    assert first.__name__ == "Thing" and registry.load("thing") is first


def test_entry_points_are_read_once_and_only_for_unknown_names(plugins: Installed,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    registry = _registry({"thing": "toy_plugins:Thing"})
    plugins.add("other", "toy_plugins:Thing", "vlmplanner.test_widgets")
    plugins.add("thing", "elsewhere:Nope", "vlmplanner.test_widgets")
    plugins.add("Bad Name", "not a path", "vlmplanner.test_widgets")
    registry.load("thing")  # a built-in: nothing read
    assert plugins.reads == 0
    with pytest.warns(VlmPlannerWarning) as caught:
        assert registry.names() == ["other", "thing"]
    messages = " ".join(str(w.message) for w in caught)
    assert "already registered (built-in)" in messages and "is ignored" in messages
    assert registry.origin("other").startswith("entry point of")
    assert registry.load("other").__name__ == "Thing"
    registry.names()
    assert plugins.reads == 1


def test_aliases_unknown_names_and_broken_plugins(plugins: Installed) -> None:
    registry = _registry()
    registry.register("gizmo", "toy_plugins:Thing", meta=("Gadget",))
    assert registry.resolve("GADGET") == "gizmo" and registry.resolve("gizmo") == "gizmo"
    with pytest.raises(NotFoundError) as unknown:
        registry.resolve("gizm")
    assert unknown.value.suggestions == ["gizmo"] and unknown.value.field == "name"
    registry.register("ghost", "no_such_module_xyz:Ghost")
    with pytest.raises(ValidationError, match="cannot be loaded: it could not be imported") as broken:
        registry.load("ghost")
    assert broken.value.field == "widget"
    registry.register("number", "toy_plugins:TOY_BENCH")
    with pytest.raises(ValidationError, match="is not a class"):
        registry.load("number")


def test_register_unregister_and_restore(plugins: Installed) -> None:
    registry = _registry({"thing": "toy_plugins:Thing"})
    state = registry.save()
    with pytest.raises(ValidationError, match="already registered"):
        registry.register("thing", "toy_plugins:Thing")
    with pytest.raises(ValidationError, match="alias 'Thing' already means 'thing'"):
        registry.register("second", "toy_plugins:Thing", meta=("Thing",))  # an alias may not take a name
    with pytest.raises(ValidationError, match="already means 'thing'"):
        registry.register("third", "toy_plugins:Thing", aliases=("THING",))
    with pytest.raises(ValidationError, match="expected 'module:attr'"):
        registry.register("fourth", "toy_plugins.Thing")
    registry.register("thing", "toy_plugins:Thing", exist_ok=True)
    registry.unregister("thing")
    assert "thing" not in registry
    with pytest.raises(NotFoundError):
        registry.unregister("thing")
    registry.restore(state)
    assert registry.names() == ["thing"]


def test_a_benchmark_plugs_in_through_an_entry_point(plugins: Installed) -> None:
    from vlmplanner.evaluation.benchmarks import (
        ENTRY_POINT_GROUP,
        definition,
        definitions,
        lmms_eval_task,
    )

    plugins.add("ToyVQA", "toy_plugins:TOY_BENCH", ENTRY_POINT_GROUP)
    plugins.add("Misnamed", "toy_plugins:WRONG_NAME", ENTRY_POINT_GROUP)
    assert definition("GQA").name == "GQA"  # a built-in
    found = definition("toyvqa")  # any case
    assert definition("ToyVQA") is found
    assert found.name == "ToyVQA" and found.prompt.post == "\nAnswer briefly."
    with pytest.warns(VlmPlannerWarning, match="benchmark 'Misnamed' skipped: .* is registered as 'Misnamed'"):
        assert lmms_eval_task("toyvqa_val") is found
    with pytest.warns(VlmPlannerWarning, match="Misnamed"):
        assert found in definitions()
    with pytest.raises(UnknownBenchmarkError) as unknown, pytest.warns(VlmPlannerWarning, match="'Misnamed' could not"):
        definition("ToyVQB")  # not a name: every plug-in is loaded to read its aliases, the broken one warns
    assert "ToyVQA" in unknown.value.suggestions


def test_an_importer_plugs_in_through_an_entry_point(plugins: Installed, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from vlmplanner.cli.app import main
    from vlmplanner.imports.registry import ENTRY_POINT_GROUP, list_importers, reader

    plugins.add("toy", "toy_plugins:read_toy", ENTRY_POINT_GROUP)
    assert list_importers() == ["lmms-eval", "toy", "vlmevalkit"]
    assert reader("LMMS_EVAL").__name__ == "read_lmms_eval"
    scores = tmp_path / "scores.txt"
    scores.write_text("llava-hf/llava-1.5-7b-hf 61.5\n")
    url = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    code = main(["import", "results", "--format", "toy", str(scores), "--dry-run", "--json", "--catalog", url])
    out, err = capsys.readouterr()
    assert code == 0, err
    planned = json.loads(out)
    assert planned["dry_run"] is True and len(planned["results"]) == 1
    assert planned["results"][0]["model"] == "llava-hf/llava-1.5-7b-hf" and planned["results"][0]["score"] == 61.5
    code = main(["import", "results", "--format", "toyy", str(scores), "--catalog", url])
    _, err = capsys.readouterr()
    assert code == 3 and "unknown importer 'toyy'; did you mean 'toy'?" in err
