"""The profiler runs every implemented compressor on every family it supports, through the seam
``load()`` builds (pre-LLM before or after the projector, FastV inside the LLM, QueCC with its query
pass), counts its FLOPs in the ``compressor`` component, and refuses what load() refuses before
anything runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _extras import TORCH_STACK, need

need(*TORCH_STACK)  # the profiler runs the model

from vlmplanner.cli.app import main
from vlmplanner.compressors import compressor_card, list_compressors
from vlmplanner.errors import InvalidTokenCountError, UnknownCompressorError, ValidationError
from vlmplanner.families import list_families
from vlmplanner.profiling import ProfileTarget, count_flops


def _k(family: str, name: str) -> int:
    """A token count every compressor allows on the tiny model of ``family`` (k per crop x 5 crops
    on LLaVA-NeXT; a pool / conv grid of the 4x4 tiny LLaVA and Gemma 3 grids; a share of Qwen's 16x16, of
    Qwen3's 14x14)."""
    if name == "none":
        return {"llava_next": 5, "internvl": 13, "llava_onevision": 37}.get(family, 4)
    if name == "downsample":   # LLaVA-NeXT's smallest input still has a base view and two tiles
        return {"llava_next": 60, "llava_onevision": 60, "qwen3_vl": 64, "qwen3_vl_moe": 64,
                "qwen3_5": 64, "qwen3_5_moe": 64}.get(family, 16)   # Qwen3-VL: min 65,536 px
    # Qwen3-VL's reference image is 14x14 merged tokens: 49 tiles it with 2x2 windows
    return {"llava": 4, "llava_next": 20, "qwen2_vl": 16, "qwen2_5_vl": 16, "qwen3_vl": 49, "qwen3_vl_moe": 49, "qwen3_5": 49,
            "qwen3_5_moe": 49,
            "gemma3": 4, "internvl": 52, "llava_onevision": 148}[family]


def _cases() -> list[tuple[str, str]]:
    return [(family, name) for family in list_families() for name in list_compressors()
            if compressor_card(name).supports(family)]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny model of each family with a 3-layer LLM (so FastV's K = 2 leaves a pruned layer),
    saved like a Hub checkpoint."""
    from vlmplanner.families import get_family

    out = {}
    for family in list_families():
        tiny = get_family(family).build_tiny(seed=1, **_three_layers(family))
        directory = tmp_path_factory.mktemp(f"tiny-{family}")
        tiny.model.save_pretrained(directory)
        tiny.processor.save_pretrained(directory)
        out[family] = directory
    return out


def _three_layers(family: str) -> dict[str, Any]:
    return {"text_config": {"num_hidden_layers": 3}}


def _deep(family: str, tmp_path: Path) -> dict[str, Path]:
    """A tiny model of ``family`` whose LLM has 12 layers (in-LLM methods with K = 8), saved."""
    from vlmplanner.families import get_family

    tiny = get_family(family).build_tiny(seed=1, text_config={"num_hidden_layers": 12})
    tiny.model.save_pretrained(tmp_path / "deep")
    tiny.processor.save_pretrained(tmp_path / "deep")
    return {family: tmp_path / "deep"}


@pytest.mark.parametrize(("family", "name"), _cases())
def test_profile_every_compressor_on_every_family(family: str, name: str, checkpoints: dict[str, Path],
                                                  tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``vlmplanner profile`` of each (family, compressor) pair: analytic, traced and measured rows
    stored, and the measured one says how many visual tokens reached the LLM."""
    url = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    k = _k(family, name)
    if (compressor_card(name).prune_layer or 0) >= 3:   # group "inllm": PyramidDrop's K = 8 needs a deeper LLM
        checkpoints = _deep(family, tmp_path)
    args = ["profile", str(checkpoints[family]), "--compressor", name, "--tokens", str(k), "--device", "cpu",
            "--dtype", "fp32", "--repeats", "1", "--warmup", "0", "--decode-steps", "1", "--text-tokens", "8",
            "--name", f"tiny/{family}", "--catalog", url, "--json"]
    code = main(args)
    out, err = capsys.readouterr()
    assert code == 0, err
    rows = json.loads(out)["measurements"]
    assert [r["method"] for r in rows] == ["analytic", "traced", "measured"]
    assert {r["status"] for r in rows} == {"ok"}, [r["note"] for r in rows]
    assert {r["candidate_key"] for r in rows} == {f"tiny/{family}+{name}@{k}"}
    measured = rows[2]
    assert measured["prefill_ms"] > 0 and measured["decode_ms_per_token"] > 0
    if compressor_card(name).kind == "in-llm":
        assert "prunes inside the LLM" in measured["note"]
    else:
        assert "reach the LLM" in measured["note"]


@pytest.fixture(scope="module")
def llava() -> ProfileTarget:
    from vlmplanner.families import get_family

    return ProfileTarget.from_bundle(get_family("llava").build_tiny(seed=0))


@pytest.mark.parametrize("name", ["pool", "divprune"])
def test_traced_and_fvcore_count_the_compressor(llava: ProfileTarget, name: str) -> None:
    native = llava.native_tokens()
    k = 4
    traced = count_flops(llava, k, method="traced", compressor=name)
    fvcore = count_flops(llava, k, method="fvcore", compressor=name)
    none = count_flops(llava, k, method="traced", compressor="none")
    assert traced.visual_tokens == k and traced.compressor == name
    assert traced.flops["llm_blocks"] == none.flops["llm_blocks"]    # the LLM sees k tokens either way
    if name == "divprune":                                            # post-projector: all N² distances
        width = int(llava.config.text_config.hidden_size)
        assert traced.flops["compressor"] == 2 * native * native * width
        assert compressor_card(name).flops(native, k, width) - traced.flops["compressor"] == (
            3 * native * width + 2 * k * native)
        assert traced.flops["projector"] == none.flops["projector"]   # the projector runs on all N
    else:                                                             # pooling is elementwise: no matmul
        assert traced.flops["compressor"] == 0
        assert traced.flops["projector"] == none.flops["projector"] * k / native  # pools before the projector
    assert fvcore.flops["compressor"] == pytest.approx(traced.flops["compressor"], rel=0.01)


def test_the_query_pass_is_the_compressors_work(llava: ProfileTarget) -> None:
    """QueCC's text-query pass through the LLM is counted once, in ``compressor``, not in llm_blocks."""
    quecc = count_flops(llava, 4, method="traced", compressor="quecc")
    pool = count_flops(llava, 4, method="traced", compressor="pool")
    assert quecc.flops["llm_blocks"] == pool.flops["llm_blocks"]
    fvcore = count_flops(llava, 4, method="fvcore", compressor="quecc")
    assert fvcore.flops["compressor"] == pytest.approx(quecc.flops["compressor"], rel=0.01)
    assert quecc.flops["compressor"] > 0


def test_fastv_prunes_inside_the_llm(llava: ProfileTarget) -> None:
    """FastV at K = 1 on the tiny 2-layer LLM: layer 1 sees k image tokens, so the LLM costs more
    than with k tokens throughout and less than with all of them."""
    fastv = count_flops(llava, 4, method="traced", compressor="fastv", compressor_options={"prune_layer": 1})
    fewer = count_flops(llava, 4, method="traced", compressor="none")
    full = count_flops(llava, None, method="traced", compressor="none")
    assert fewer.flops["llm_blocks"] < fastv.flops["llm_blocks"] < full.flops["llm_blocks"]
    assert fastv.visual_tokens == 4 and any("prunes inside the LLM" in n for n in fastv.notes)
    analytic = {layer: count_flops(llava, 4, method="analytic", compressor="fastv",
                                   compressor_options={"prune_layer": layer}).flops["llm_blocks"] for layer in (1, 2)}
    assert analytic[1] < analytic[2]                                  # the analytic count charges the same K
    with pytest.raises(ValidationError) as caught:                    # K = 2 of 2 layers prunes nothing
        count_flops(llava, 4, method="traced", compressor="fastv")
    assert caught.value.field == "prune_layer"


def test_what_load_refuses_the_profiler_refuses_before_running(llava: ProfileTarget) -> None:
    from vlmplanner.profiling import profile_sweep

    with pytest.raises(InvalidTokenCountError):                       # pool needs a square that tiles
        profile_sweep(llava, [3], compressor="pool", flops_only=True)
    with pytest.raises(ValidationError) as caught:                    # no [CLS] attention on Qwen
        from vlmplanner.families import get_family

        qwen = ProfileTarget.from_bundle(get_family("qwen2_vl").build_tiny(seed=0))
        profile_sweep(qwen, [4], compressor="cls-topk", flops_only=True)
    assert caught.value.field == "model_type"
    with pytest.raises(UnknownCompressorError):
        count_flops(llava, 4, compressor="no-such-compressor")
