"""The profiler runs registered compressors that work on the projected features alone (pool,
divprune), counts their FLOPs in the ``compressor`` component, and refuses the ones that need the
pipeline's hooks before anything is built."""

from __future__ import annotations

import pytest
from _extras import TORCH_STACK, need

need(*TORCH_STACK)  # the profiler's seam runs compressors as torch modules

from vlmplanner.compressors import compressor_card
from vlmplanner.errors import InvalidTokenCountError, ValidationError
from vlmplanner.profiling import ProfileTarget, count_flops
from vlmplanner.profiling.seam import check_profilable, resolve_compressor


@pytest.fixture(scope="module")
def llava() -> ProfileTarget:
    from vlmplanner.families import get_family

    return ProfileTarget.from_bundle(get_family("llava").build_tiny(seed=0))


def test_profilable_compressors() -> None:
    assert check_profilable("DivPrune") == "divprune"
    assert check_profilable("pool") == "pool"
    for name in ("cls-topk", "visionzip", "prumerge+", "fastv", "quecc"):
        with pytest.raises(ValidationError, match="vlmplanner.pipeline") as caught:
            check_profilable(name)
        assert caught.value.field == "compressor"
    with pytest.raises(ValidationError):
        resolve_compressor("divprune", "not_a_family")


@pytest.mark.parametrize("name", ["pool", "divprune"])
def test_traced_and_fvcore_count_the_compressor(llava: ProfileTarget, name: str) -> None:
    native = llava.native_tokens()
    k = 4
    traced = count_flops(llava, k, method="traced", compressor=name)
    fvcore = count_flops(llava, k, method="fvcore", compressor=name)
    none = count_flops(llava, k, method="traced", compressor="none")
    assert traced.visual_tokens == k and traced.compressor == name
    assert traced.flops["llm_blocks"] == none.flops["llm_blocks"]    # the LLM sees k tokens either way
    width = int(llava.config.text_config.hidden_size)
    if name == "divprune":                                            # its matmul: all N² distances
        assert traced.flops["compressor"] == 2 * native * native * width
        assert compressor_card(name).flops(native, k, width) - traced.flops["compressor"] == (
            3 * native * width + 2 * k * native)
    else:                                                             # pooling is elementwise: no matmul
        assert traced.flops["compressor"] == 0
    assert fvcore.flops["compressor"] == pytest.approx(traced.flops["compressor"], rel=0.01)


def test_measured_prefill_with_divprune(llava: ProfileTarget) -> None:
    from vlmplanner.profiling import measure_latency

    timing = measure_latency(llava, 4, device="cpu", dtype="fp32", compressor="divprune", warmup=0, repeats=1,
                             decode_steps=1)
    assert timing.compressor == "divprune" and timing.visual_tokens == 4 and timing.prefill_ms > 0


def test_bad_token_count_for_the_compressor_is_refused_before_running(llava: ProfileTarget) -> None:
    from vlmplanner.profiling import profile_sweep

    with pytest.raises(InvalidTokenCountError):                       # pool needs a square that tiles
        profile_sweep(llava, [3], compressor="pool", flops_only=True)
