"""Bad input is a vlmplanner error that names the field and the value."""

from __future__ import annotations

import numpy as np
import pytest

from vlmplanner.cost import Efficiency, breakdown, evaluate, visual_tokens_per_image
from vlmplanner.errors import InvalidTokenCountError, ValidationError
from vlmplanner.schemas import CompressorSpec, ModelSpec, Workload


@pytest.mark.parametrize("tokens", [0, -4])
def test_non_positive_tokens(llava7b: ModelSpec, compressors: dict[str, CompressorSpec], tokens: int) -> None:
    with pytest.raises(InvalidTokenCountError) as info:
        breakdown(llava7b, compressors["none"], tokens, Workload())
    assert info.value.field == "visual_tokens" and info.value.value == tokens


def test_fractional_tokens(llava7b: ModelSpec, compressors: dict[str, CompressorSpec]) -> None:
    with pytest.raises(InvalidTokenCountError):
        evaluate([llava7b], np.array([0]), [compressors["none"]], np.array([0]), np.array([2.5]), Workload())


def test_more_tokens_than_the_model_produces(models: dict[str, ModelSpec],
                                             compressors: dict[str, CompressorSpec]) -> None:
    qwen = models["Qwen/Qwen2-VL-7B-Instruct"]
    with pytest.raises(InvalidTokenCountError) as info:
        evaluate([models["llava-hf/llava-1.5-7b-hf"], qwen], np.array([0, 1]), [compressors["none"]],
                 np.array([0, 0]), np.array([576, 300]), Workload())
    message = str(info.value)
    assert "Qwen/Qwen2-VL-7B-Instruct" in message and "300" in message and "256" in message
    assert info.value.value == 300
    # a bigger image allows more tokens
    breakdown(qwen, compressors["none"], 300, Workload(image_size=(672, 672)))


def test_unknown_dtype_lists_the_known_ones(llava7b: ModelSpec, compressors: dict[str, CompressorSpec]) -> None:
    with pytest.raises(ValidationError) as info:
        breakdown(llava7b, compressors["none"], 64, Workload(), dtype="fp8")
    assert info.value.field == "dtype" and info.value.value == "fp8"
    for known in ("bf16", "fp16", "fp32", "int8"):
        assert known in str(info.value)


def test_unknown_accounting(llava7b: ModelSpec, compressors: dict[str, CompressorSpec]) -> None:
    with pytest.raises(ValidationError) as info:
        breakdown(llava7b, compressors["none"], 64, Workload(), accounting="rough")  # type: ignore[arg-type]
    assert info.value.field == "accounting"


def test_index_arrays_are_checked(llava7b: ModelSpec, compressors: dict[str, CompressorSpec]) -> None:
    none = [compressors["none"]]
    with pytest.raises(ValidationError) as info:
        evaluate([llava7b], np.array([1]), none, np.array([0]), np.array([4]), Workload())
    assert info.value.field == "model_index"
    with pytest.raises(ValidationError) as info:
        evaluate([llava7b], np.array([0, 0]), none, np.array([0]), np.array([4, 4]), Workload())
    assert info.value.field == "compressor_index"
    with pytest.raises(ValidationError) as info:
        evaluate([llava7b], np.array([0]), none, np.array([0]), np.array([4, 4]), Workload())
    assert info.value.field == "visual_tokens"
    with pytest.raises(ValidationError):
        evaluate([llava7b], np.array([0.0]), none, np.array([0]), np.array([4]), Workload())  # type: ignore[arg-type]


def test_empty_sweep(llava7b: ModelSpec, compressors: dict[str, CompressorSpec]) -> None:
    empty = np.array([], dtype=int)
    c = evaluate([llava7b], empty, [compressors["none"]], empty, empty, Workload())
    assert len(c) == 0


def test_unknown_family(llava7b: ModelSpec, compressors: dict[str, CompressorSpec]) -> None:
    odd = llava7b.model_copy(update={"model_type": "idefics3", "checkpoint": "x/idefics"})
    with pytest.raises(ValidationError) as info:
        breakdown(odd, compressors["none"], 64, Workload())
    assert info.value.field == "model_type" and "llava_next" in str(info.value)
    with pytest.raises(ValidationError):
        visual_tokens_per_image(odd, None)


@pytest.mark.parametrize("kwargs", [{"compute": 0.0}, {"bandwidth": 1.5}, {"compute": float("nan")}])
def test_efficiency_must_be_a_fraction(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValidationError) as info:
        Efficiency(**kwargs)
    assert info.value.field in kwargs


def test_bad_image_size(llava7b: ModelSpec) -> None:
    with pytest.raises(ValidationError):
        visual_tokens_per_image(llava7b, (0, 336))
