"""The registry: names and aliases, filters, third parties (classes, paths, entry points), no torch."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from importlib.metadata import EntryPoint, EntryPoints
from pathlib import Path
from typing import ClassVar

import pytest
from _extras import requires_torch

from vlmplanner.compressors import (
    BUILTIN_COMPRESSORS,
    CompressionContext,
    CompressionOutput,
    Compressor,
    CompressorCard,
    compressor_card,
    get_compressor,
    list_compressors,
    register_compressor,
    reset_registry,
    resolve_name,
    unregister_compressor,
)
from vlmplanner.errors import UnknownCompressorError, ValidationError, VlmPlannerWarning
from vlmplanner.testing.compressors import CompressorConformance

ROOT = Path(__file__).resolve().parents[2]

THIRD_PARTY = '''
from typing import ClassVar
import torch
from vlmplanner.compressors import Compressor, CompressorCard, CompressionOutput

class FirstK(Compressor):
    """Keeps the first k tokens in raster order (a content-blind baseline)."""
    card: ClassVar[CompressorCard] = CompressorCard(
        name="first-k", display_name="First k tokens", kind="pre-llm", training="training-free",
        families=("llava", "qwen2_vl"), aliases=("sequential-first",))

    def reduce(self, features, context):
        h, w = context.grid
        k = self.visual_tokens
        idx = torch.arange(k, device=features.device)
        pos = torch.stack([(idx // w).float(), (idx % w).float()], -1).expand(features.shape[0], -1, -1)
        return CompressionOutput(features[:, :k], pos.clone())
'''


@pytest.fixture(autouse=True)
def fresh_registry() -> Iterator[None]:
    reset_registry()
    yield
    reset_registry()


@pytest.fixture
def third_party(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A third-party module on sys.path; returns its name (not imported yet)."""
    name = f"vlmp_thirdparty_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(THIRD_PARTY)
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def loaded_after(code: str) -> set[str]:
    script = f"import sys, json\n{textwrap.dedent(code)}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True,
                         cwd=ROOT).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


def test_cards_lists_and_checks_import_no_torch() -> None:
    modules = loaded_after("""
        from vlmplanner.compressors import compressor_card, list_compressors, get_compressor
        from vlmplanner.errors import InvalidTokenCountError, ValidationError
        assert "cls-topk" in list_compressors(family="llava")
        card = compressor_card("FasterVLM")
        card.check_tokens(64, 576); card.check_family("llava")
        compressor_card("quecc").allowed_tokens(576)
        compressor_card("pool").flops(576, 144, 1024)
        for call in (lambda: get_compressor("pool", 25, grid=(24, 24)),
                     lambda: get_compressor("visionzip", 577, native_tokens=576),
                     lambda: get_compressor("quecc", 4),
                     lambda: get_compressor("quecc", 4, weights="missing.safetensors"),
                     lambda: get_compressor("cls-topk", 4, model_type="qwen2_vl")):
            try:
                call()
            except ValidationError:
                pass
            else:
                raise SystemExit("expected an error")
    """)
    assert "vlmplanner.compressors" in modules
    assert not {"torch", "transformers", "safetensors"} & modules


#: group "simple": the content-blind samplers and the merging compressors
SIMPLE_GROUP = ("random", "spatial-sampling", "sequential-sampling", "prumerge", "tome")
#: group "textcond": text-conditioned selection on the projected tokens (every family)
TEXTCOND_GROUP = ("cdpruner", "mmtok", "trim")
#: group "inllm": in-LLM pruning in stages (PyramidDrop) and attention-free (DART); every family
INLLM_GROUP = ("pdrop", "dart")
#: group "sparsevlm": text raters inside the LLM, three stages, recycling; every family
SPARSEVLM_GROUP = ("sparsevlm",)
#: group "resize": the input image scaled down; families whose count follows the image
RESIZE_GROUP = ("downsample",)


def test_builtins_and_names() -> None:
    assert list_compressors() == sorted(BUILTIN_COMPRESSORS)
    assert set(BUILTIN_COMPRESSORS) == {"none", "pool", "cls-topk", "visionzip", "prumerge+", "divprune",
                                        "fastv", "quecc"} | set(SIMPLE_GROUP) | set(TEXTCOND_GROUP) | set(INLLM_GROUP) \
        | set(SPARSEVLM_GROUP) | set(RESIZE_GROUP)
    for alias, name in [("PyramidDrop", "pdrop"), ("pyramiddrop", "pdrop"), ("DART", "dart")]:  # group "inllm"
        assert resolve_name(alias) == name and compressor_card(alias).name == name
    for alias in ("SparseVLM", "sparsevlm"):  # group "sparsevlm"
        assert resolve_name(alias) == "sparsevlm" and compressor_card(alias).name == "sparsevlm"
    for alias, name in [("FasterVLM", "cls-topk"), ("fastervlm", "cls-topk"), ("pooling", "pool"),
                        ("PruMerge+", "prumerge+"), ("VISIONZIP", "visionzip"), ("QueCC", "quecc"),
                        ("vanilla", "none"), ("DivPrune", "divprune"), ("FastV", "fastv"),
                        ("ToMe", "tome"), ("LLaVA-PruMerge", "prumerge"), ("PruMerge", "prumerge"),
                        ("spatial uniform sampling", "spatial-sampling"), ("random pruning", "random"),
                        ("sequential (first-N) sampling", "sequential-sampling"),
                        ("CDPruner", "cdpruner"), ("MMTok", "mmtok"), ("TRIM", "trim"),
                        ("image downsampling", "downsample"), ("max_pixels", "downsample")]:
        assert resolve_name(alias) == name
        assert compressor_card(alias).name == name


@requires_torch
def test_an_alias_builds_the_builtin() -> None:
    assert type(get_compressor("FasterVLM", 4)).__name__ == "ClsTopK"


def test_unknown_name_suggests() -> None:
    with pytest.raises(UnknownCompressorError) as info:
        compressor_card("visonzip")
    assert info.value.field == "compressor" and info.value.value == "visonzip"
    assert "visionzip" in info.value.suggestions
    assert "did you mean" in str(info.value)
    with pytest.raises(UnknownCompressorError):
        get_compressor("tokenpacker", 4)


def test_filters() -> None:
    assert list_compressors(kind="in-llm") == sorted(["fastv", *INLLM_GROUP, *SPARSEVLM_GROUP])
    assert "fastv" not in list_compressors(kind="pre-llm")
    assert list_compressors(family="llava") == sorted(set(BUILTIN_COMPRESSORS) - set(RESIZE_GROUP))
    qwen = list_compressors(family="qwen2_vl")
    # no [CLS] in Qwen's ViT; QueCC is LLaVA-only
    assert qwen == sorted(["divprune", "fastv", "none", "pool"] + [n for n in SIMPLE_GROUP if n != "prumerge"]
                          + list(INLLM_GROUP) + list(TEXTCOND_GROUP) + list(SPARSEVLM_GROUP) + list(RESIZE_GROUP))
    assert list_compressors(family="llava_next", kind="pre-llm") == sorted([
        "cls-topk", "divprune", "none", "pool", "prumerge+", "visionzip", *SIMPLE_GROUP, *TEXTCOND_GROUP,
        *RESIZE_GROUP])
    with pytest.raises(ValidationError) as info:
        list_compressors(kind="in-vision")
    assert info.value.field == "kind"
    with pytest.raises(ValidationError) as info:
        list_compressors(family="gpt2")
    assert info.value.field == "family"


def test_cards_agree_with_the_catalog() -> None:
    with open(ROOT / "catalog" / "compressors.csv", newline="") as handle:
        rows = {row["name"]: row for row in csv.DictReader(handle)}
    for name in BUILTIN_COMPRESSORS:
        card, row = compressor_card(name), rows[name]
        assert (card.kind, card.training) == (row["kind"], row["training"]), name
        assert card.arxiv == row["arxiv"], name
        assert card.prune_layer == (int(row["prune_layer"]) if row["prune_layer"] else None), name
        spec = card.spec()
        assert spec.name == name and spec.kind == row["kind"]


@requires_torch  # the options are read from the implementation's signature
def test_unknown_option_is_named() -> None:
    with pytest.raises(ValidationError) as info:
        get_compressor("pool", 4, kernel=2)
    assert info.value.field == "kernel" and "kernel" in str(info.value)


class _Mine(Compressor):
    card: ClassVar[CompressorCard] = CompressorCard(
        name="mine", display_name="Mine", kind="pre-llm", training="training-free", families=("llava",),
        aliases=("MyMethod",))

    def reduce(self, features, context):  # type: ignore[no-untyped-def]
        import torch

        _, w = context.grid
        idx = torch.arange(self.visual_tokens)
        pos = torch.stack([(idx // w).float(), (idx % w).float()], -1).expand(features.shape[0], -1, -1)
        return CompressionOutput(features[:, : self.visual_tokens], pos.clone())


def test_register_a_class() -> None:
    register_compressor("mine", _Mine)
    assert "mine" in list_compressors(family="llava") and "mine" not in list_compressors(family="qwen2_vl")
    assert compressor_card("mymethod").name == "mine"
    assert isinstance(get_compressor("MyMethod", 3), _Mine)
    with pytest.raises(ValidationError) as info:
        register_compressor("mine", _Mine)
    assert "already registered" in str(info.value)
    register_compressor("mine", _Mine, exist_ok=True)
    unregister_compressor("mine")
    with pytest.raises(UnknownCompressorError):
        compressor_card("mine")


def test_register_rejects_bad_entries() -> None:
    with pytest.raises(ValidationError) as info:
        register_compressor("other", _Mine)            # card.name is "mine"
    assert "card.name" in str(info.value)
    with pytest.raises(ValidationError):
        register_compressor("mine", dict)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        register_compressor("Bad Name", _Mine)
    with pytest.raises(ValidationError):
        register_compressor("mine", "not a path")
    clash = CompressorCard(name="mine", display_name="x", kind="pre-llm", training="training-free",
                           families=("llava",), aliases=("FasterVLM",))
    with pytest.raises(ValidationError) as info:
        register_compressor("mine", type("Clash", (_Mine,), {"card": clash}))
    assert "FasterVLM" in str(info.value)


@requires_torch  # the third party's module imports torch
def test_register_a_path_imports_lazily(third_party: str) -> None:
    register_compressor("first-k", f"{third_party}:FirstK")
    assert third_party not in sys.modules
    assert "first-k" in list_compressors()
    assert third_party not in sys.modules              # listing without filters reads no card
    assert compressor_card("first-k").display_name == "First k tokens"
    assert third_party in sys.modules
    assert resolve_name("Sequential-First") == "first-k"


@requires_torch
def test_entry_points(third_party: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.metadata

    group = "vlmplanner.compressors"
    eps = [EntryPoint(name="first-k", value=f"{third_party}:FirstK", group=group),
           EntryPoint(name="pool", value=f"{third_party}:FirstK", group=group),
           EntryPoint(name="broken", value=f"{third_party}_missing:Nope", group=group)]
    calls = []

    def fake_entry_points(**selection: str) -> EntryPoints:
        calls.append(selection)
        return EntryPoints(eps).select(**selection)

    monkeypatch.setattr(importlib.metadata, "entry_points", fake_entry_points)
    reset_registry()
    assert calls == []                                  # nothing read before the first lookup
    assert resolve_name("pool") == "pool" and calls == []  # nor for a registered slug
    with pytest.warns(VlmPlannerWarning, match="already registered"):
        names = list_compressors()
    assert len(calls) == 1                              # one read of the installed packages
    assert {"first-k", "broken"} <= set(names)
    assert type(get_compressor("pool", 4)).__name__ == "PoolCompressor"   # built-ins win
    compressor = get_compressor("first-k", 2)
    assert type(compressor).__name__ == "FirstK"
    with pytest.raises(ValidationError) as info:
        compressor_card("broken")
    assert "could not be imported" in str(info.value)
    with pytest.warns(VlmPlannerWarning, match="broken"):
        assert "first-k" in list_compressors(family="qwen2_vl")
    list_compressors()
    assert len(calls) == 1                              # read once


@requires_torch
class TestThirdPartyConformance(CompressorConformance):
    """A third party's compressor runs the same suite as the built-ins."""

    def make_compressor(self, k: int, grid: tuple[int, int] | None = None) -> Compressor:
        return _Mine(k, grid=grid)

    def make_inputs(self, grid, **kw):  # type: ignore[no-untyped-def]
        features, _ = super().make_inputs(grid, **kw)
        return features, CompressionContext(grid)       # it needs nothing from the model
