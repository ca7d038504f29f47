"""The model-family interface: one adapter per Hugging Face ``model_type``.

THIS FILE IS THE INTERFACE (the profiling package codes against these exact names). An adapter
knows how its family's config.json maps to a ModelSpec, how many visual tokens an image produces,
how to build a tiny random-weight version offline, how to build the full-size model on fake tensors
(no weights allocated), which inputs a forward pass takes, which submodules are which cost component,
and how to load a real checkpoint.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from vlmplanner.schemas import ModelSpec

if TYPE_CHECKING:
    import torch
    from transformers import PretrainedConfig

__all__ = ["ModelFamily", "TinyVLM"]


@dataclass(frozen=True)
class TinyVLM:
    """A tiny, random-weight model of a family with its offline tokenizer and processor."""

    model: Any  # torch.nn.Module, in eval mode
    processor: Any  # a transformers ProcessorMixin built from classes, no hub
    tokenizer: Any  # an in-process WordLevel PreTrainedTokenizerFast
    config: Any  # transformers.PretrainedConfig
    family: ModelFamily


class ModelFamily(abc.ABC):
    """One HF ``model_type``. Registered in ``vlmplanner.families`` (``get_family``)."""

    model_type: ClassVar[str]

    @abc.abstractmethod
    def spec_from_config(self, config: Mapping[str, Any], *, checkpoint: str, source: str,
                         params_b: float | None = None) -> ModelSpec:
        """A checkpoint's config.json (as a dict) as a ModelSpec.

        Missing or non-positive dimensions raise ValidationError naming the key (e.g.
        ``text_config.hidden_size``); keys transformers would default are defaulted the same way.
        ``params_b`` None: the LLM's exact parameter count / 1e9, to 3 significant digits.
        """

    def visual_tokens(self, spec: ModelSpec, image_size: tuple[int, int] | None = None) -> int:
        """Native (uncompressed) visual tokens of one image of ``image_size`` (height, width)."""
        from vlmplanner.cost import visual_tokens_per_image

        return visual_tokens_per_image(spec, image_size)

    @abc.abstractmethod
    def hf_config(self, config: Mapping[str, Any]) -> PretrainedConfig:
        """The transformers composite config for a config.json dict."""

    @abc.abstractmethod
    def tiny_config(self, **overrides: Any) -> PretrainedConfig:
        """A tiny random config: hidden 32-64, 2 layers, a tiny vision tower, the tokenizer's vocab."""

    @abc.abstractmethod
    def build_tiny(self, *, seed: int = 0, dtype: Any = None, **overrides: Any) -> TinyVLM:
        """A tiny random-weight model, offline: in-process tokenizer, processor from classes."""

    @abc.abstractmethod
    def build_fake(self, config: PretrainedConfig) -> torch.nn.Module:
        """The full-size model with FakeTensor parameters (built inside FakeTensorMode; no weights)."""

    @abc.abstractmethod
    def dummy_inputs(self, config: PretrainedConfig, *, image_size: tuple[int, int] | None = None,
                     text_tokens: int = 50, batch_size: int = 1,
                     pixel_values_fake_mode: Any = None) -> dict[str, torch.Tensor]:
        """Inputs of one forward pass: real CPU integer tensors (input_ids with exactly the right
        number of image placeholders, attention_mask, image_sizes / image_grid_thw /
        mm_token_type_ids as the family needs) and ``pixel_values`` (fake when a FakeTensorMode is
        given, else random)."""

    @abc.abstractmethod
    def components(self, model: torch.nn.Module) -> dict[str, torch.nn.Module]:
        """The submodules of each cost component: ``vision_tower``, ``projector``, ``llm_blocks``
        (the language model without lm_head), ``lm_head`` (names as in vlmplanner.cost)."""

    @abc.abstractmethod
    def load(self, checkpoint: str | Path, *, device: str = "cpu", dtype: Any = None,
             trust_remote_code: bool = False) -> tuple[Any, Any]:
        """(model, processor) of a real checkpoint through transformers' from_pretrained."""
