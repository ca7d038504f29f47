"""The shared nouns validate their input and say which field was wrong."""

from __future__ import annotations

import math

import pytest

from vlmplanner.errors import InvalidBudgetError, InvalidTokenCountError, ValidationError
from vlmplanner.schemas import Budget, Candidate, ModelSpec, build


@pytest.mark.parametrize(
    "key",
    ["llava-hf/llava-1.5-7b-hf+pool@144", "Qwen/Qwen2-VL-7B-Instruct+prumerge+@64", "local-model+none@1"],
)
def test_candidate_key_round_trip(key: str) -> None:
    assert Candidate.parse(key).key == key


def test_candidate_key_keeps_a_plus_in_the_compressor() -> None:
    candidate = Candidate.parse("llava-hf/llava-1.5-7b-hf+prumerge+@32")
    assert (candidate.model, candidate.compressor, candidate.visual_tokens) == (
        "llava-hf/llava-1.5-7b-hf", "prumerge+", 32)


@pytest.mark.parametrize("key", ["llava-hf/llava-1.5-7b-hf", "m+pool", "m@4", "+pool@4", "m+@4"])
def test_malformed_candidate_keys(key: str) -> None:
    with pytest.raises(ValidationError, match="candidate key"):
        Candidate.parse(key)


@pytest.mark.parametrize("key", ["m+pool@0", "m+pool@-3", "m+pool@many"])
def test_candidate_token_counts(key: str) -> None:
    with pytest.raises(InvalidTokenCountError):
        Candidate.parse(key)


@pytest.mark.parametrize("bad", [0, -1, math.nan, math.inf])
def test_budget_rejects_non_positive_and_non_finite(bad: float) -> None:
    with pytest.raises(InvalidBudgetError) as caught:
        Budget(gflops=bad)
    assert caught.value.field == "gflops"


def test_budget_needs_a_limit() -> None:
    with pytest.raises(InvalidBudgetError, match="at least one limit"):
        Budget()


@pytest.mark.parametrize(
    ("text", "field", "value"),
    [("1000 GFLOPs", "gflops", 1000.0), ("2 TFLOPs", "gflops", 2000.0), ("250ms", "latency_ms", 250.0),
     ("1.5 s", "latency_ms", 1500.0), ("24GB", "memory_gb", 24.0), ("0.5 usd/1k", "usd_per_1k_requests", 0.5)],
)
def test_budget_parse_units(text: str, field: str, value: float) -> None:
    assert getattr(Budget.parse(text), field) == pytest.approx(value)


@pytest.mark.parametrize("text", ["1000", "", "fast", "10 parsecs", "NaN GFLOPs", "-5 ms"])
def test_budget_parse_errors(text: str) -> None:
    with pytest.raises(InvalidBudgetError):
        Budget.parse(text)


def model_data(**llm: object) -> dict[str, object]:
    base_llm = {"name": "x", "params_b": 7, "num_layers": 32, "hidden_size": 4096, "num_heads": 32, "num_kv_heads": 32,
                    "intermediate_size": 11008, "vocab_size": 32000}
    base_llm.update(llm)
    return {
        "checkpoint": "org/model", "model_type": "llava", "display_name": "M", "llm": base_llm,
        "vision": {"name": "clip", "image_size": 336, "patch_size": 14, "num_layers": 24, "hidden_size": 1024, "num_heads": 16,
                    "intermediate_size": 4096},
        "projector": "mlp2x_gelu", "native_visual_tokens": 576, "source": "test",
    }


@pytest.mark.parametrize("field", ["hidden_size", "num_layers", "num_heads"])
@pytest.mark.parametrize("value", [0, -8])
def test_model_spec_names_a_non_positive_dimension(field: str, value: int) -> None:
    with pytest.raises(ValidationError) as caught:
        build(ModelSpec, model_data(**{field: value}))
    assert caught.value.field == f"llm.{field}"
    assert str(value) in str(caught.value)


def test_model_spec_rejects_key_separators() -> None:
    data = model_data()
    data["checkpoint"] = "org/model+x"
    with pytest.raises(ValidationError, match="checkpoint"):
        build(ModelSpec, data)
