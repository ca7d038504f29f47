"""A third party's family, declared by entry point, works everywhere a built-in does: register,
the cost model, profile, the compressors and instantiate(), with nothing in vlmplanner changed."""

from __future__ import annotations

import importlib.metadata
import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _extras import TORCH_STACK, need

from vlmplanner import families
from vlmplanner.cli.app import main

PLUGIN = '''
from vlmplanner.families.llava import LlavaFamily


class ToyFamily(LlavaFamily):
    """LLaVA's architecture under a model_type of its own, as a fork of a family would ship."""

    model_type = "toy_llava"
'''


@pytest.fixture
def toy_family(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    (tmp_path / "toy_family_plugin.py").write_text(textwrap.dedent(PLUGIN))
    monkeypatch.syspath_prepend(str(tmp_path))
    points = importlib.metadata.EntryPoints([importlib.metadata.EntryPoint(
        "toy_llava", "toy_family_plugin:ToyFamily", families.ENTRY_POINT_GROUP)])
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda **selection: points.select(**selection))
    saved, instances = families.REGISTRY.save(), dict(families._instances)
    families.REGISTRY.reread()
    yield "toy_llava"
    families.REGISTRY.restore(saved)
    families._instances.clear()
    families._instances.update(instances)


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    code = main(list(args))
    out, err = capsys.readouterr()
    assert code == 0, f"vlmplanner {' '.join(args)}: {err}"
    return json.loads(out)


def test_an_entry_point_family_runs_the_whole_loop(toy_family: str, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    need(*TORCH_STACK)
    from PIL import Image

    from vlmplanner import Workload
    from vlmplanner.compressors import list_compressors
    from vlmplanner.cost import breakdown
    from vlmplanner.pipeline import load
    from vlmplanner.store import open_catalog

    bundle = families.get_family(toy_family).build_tiny(seed=0)
    weights = tmp_path / "model"
    bundle.model.save_pretrained(weights)
    bundle.processor.save_pretrained(weights)
    config = json.loads((weights / "config.json").read_text())
    (weights / "config.json").write_text(json.dumps({**config, "model_type": toy_family}))
    url = f"sqlite:///{tmp_path / 'catalog.sqlite3'}"

    spec = _run(capsys, "register", str(weights), "--checkpoint", "toy/llava", "--catalog", url, "--json")
    assert spec["model_type"] == toy_family and spec["native_visual_tokens"] == 16
    assert {"pool", "visionzip", "fastv"} <= set(list_compressors(family=toy_family))
    profiled = _run(capsys, "profile", str(weights), "--name", "toy/llava", "--compressor", "pool", "--tokens", "4",
                    "--device", "cpu", "--dtype", "fp32", "--repeats", "1", "--warmup", "0", "--decode-steps", "1",
                    "--text-tokens", "8", "--catalog", url, "--json")
    assert {r["method"] for r in profiled["measurements"]} == {"analytic", "traced", "measured"}
    with open_catalog(url) as catalog:
        cost = breakdown(catalog.model("toy/llava"), catalog.compressor("pool"), 4, Workload(text_tokens=8))
    assert cost.flops["vision_tower"] > 0 and cost.flops["compressor"] > 0

    with load("toy/llava+pool@4", checkpoint=weights, catalog=url) as pipeline:
        answers = pipeline.generate([Image.new("RGB", (56, 56), (10, 200, 30))], ["what is it?"], max_new_tokens=2)
        assert len(answers) == 1 and pipeline.last_counts[0][0] == 4  # k visual tokens reached the LLM
