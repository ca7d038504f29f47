"""The model-family interface: one adapter per Hugging Face ``model_type``.

THIS FILE IS THE INTERFACE (the profiling package codes against these exact names). An adapter
knows how its family's config.json maps to a ModelSpec, how many visual tokens an image produces,
how to build a tiny random-weight version offline, how to build the full-size model on fake tensors
(no weights allocated), which inputs a forward pass takes, which submodules are which cost component,
and how to load a real checkpoint.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from vlmplanner.errors import ValidationError
from vlmplanner.schemas import ModelSpec

if TYPE_CHECKING:
    import torch
    from transformers import PretrainedConfig

    from .vision import VisionProfile

__all__ = ["ModelFamily", "TinyVLM", "TokenFit"]


@dataclass(frozen=True)
class TokenFit:
    """How a compressor keeps k tokens of one model (the family's token rules): k per crop, on which
    patch grid, over how many crops, with which options, and what to know about it."""

    compressor_tokens: int
    grid: tuple[int, int] | None
    crops: int
    options: dict[str, Any]
    notes: tuple[str, ...]


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
    #: ``"module:Class"`` of the pipeline seam that puts a compressor between this family's vision
    #: side and its LLM (``vlmplanner.pipeline.seams``); None: the pipeline cannot run this family.
    seam: ClassVar[str | None] = None
    #: the context inputs the seam can supply to a pre-LLM compressor (CONTEXT_INPUTS keys)
    seam_inputs: ClassVar[frozenset[str]] = frozenset()
    #: where a pre-LLM compressor can run: before the projector (on vision features), after it
    seam_stages: ClassVar[frozenset[str]] = frozenset()
    #: whether the in-LLM hooks (FastV-style pruning inside the decoder) work on this family's LLM
    llm_hooks: ClassVar[bool] = False
    #: whether a compressor setting may be a share of each image's native tokens (``@25%``): for
    #: families whose token count follows the image
    token_shares: ClassVar[bool] = False
    #: whether a smaller input image gives fewer visual tokens (the ``downsample`` compressor, which
    #: scales the image before the processor): native resolution or a grid chosen per image
    input_resize: ClassVar[bool] = False
    #: whether the processor takes a prompt's images as one list per prompt (Gemma 3) rather than
    #: one flat list for the batch
    images_by_prompt: ClassVar[bool] = False

    def serves(self, kind: str, stage: str, requires: tuple[str, ...], in_llm_inputs: tuple[str, ...]) -> bool:
        """Whether this family's seam can run a compressor of ``kind`` at ``stage`` that needs
        ``requires`` (``in_llm_inputs``: what the in-LLM hooks compute)."""
        if self.seam is None:
            return False
        if kind == "in-llm":
            return self.llm_hooks and set(requires) <= set(in_llm_inputs)
        if stage == "input":
            return self.input_resize and not requires
        stages = {"either": self.seam_stages, "llm-layer": frozenset()}.get(stage, frozenset({stage}))
        return bool(stages & self.seam_stages) and set(requires) <= self.seam_inputs

    def missing_inputs(self, requires: tuple[str, ...]) -> list[str]:
        """The context inputs in ``requires`` this family's seam cannot supply."""
        return sorted(set(requires) - self.seam_inputs)

    def vision_profile(self, spec: ModelSpec, image_size: tuple[int, int] | None) -> VisionProfile:
        """What the vision side does for one image (``None``: the default image), for the cost model."""
        raise ValidationError(f"family {self.model_type!r} has no vision profile for the cost model",
                              field="model_type", value=self.model_type)

    def native_token_range(self, spec: ModelSpec) -> tuple[int, int]:
        """The fewest and the most visual tokens one uncompressed image gives the LLM, over every
        image the processor accepts (a fixed-resolution family: always the same)."""
        return spec.native_visual_tokens, spec.native_visual_tokens

    def reference_image(self, spec: ModelSpec) -> tuple[int, int]:
        """The (height, width) of the image a spec's ``native_visual_tokens`` counts (the default
        image of the cost model): the tower's square unless the family says otherwise."""
        return spec.vision.image_size, spec.vision.image_size

    def crop_grid(self, spec: ModelSpec) -> tuple[int, int]:
        """The grid of visual tokens one crop gives the LLM, which a pre-LLM compressor keeps k of
        (a fixed-resolution family: the tower's patch grid)."""
        side = spec.vision.image_size // spec.vision.patch_size
        return side, side

    def max_crops(self, config: Mapping[str, Any] | None, side: int) -> int:
        """The most crops (views through the vision tower) one image can have; a pre-LLM compressor
        runs on each, k / crops tokens apiece."""
        return 1

    def jit_traceable(self) -> contextlib.AbstractContextManager[Any]:
        """Work-arounds for modelling code a torch.jit trace (fvcore) cannot follow, for the trace's
        duration; none by default."""
        return contextlib.nullcontext()

    def counting(self, model: Any) -> contextlib.AbstractContextManager[Any]:
        """Settings of a real model under which a FLOP counter sees all its work (fvcore's count),
        for the count's duration; none by default."""
        return contextlib.nullcontext()

    def fake_traceable(self) -> contextlib.AbstractContextManager[Any]:
        """Work-arounds for modelling code that cannot run on FakeTensor weights (the traced FLOP
        count), for the count's duration; none by default."""
        return contextlib.nullcontext()

    def image_marker(self, processor: Any) -> str:
        """What a prompt holds where an image goes (the pipeline puts it in front of a prompt
        without one)."""
        return f"{processor.image_token}\n"

    def config_from_spec(self, spec: ModelSpec) -> dict[str, Any]:
        """A config.json dict in this family's format with ``spec``'s architecture numbers (for a
        checkpoint whose config.json is not at hand: traced FLOPs need only the shapes)."""
        raise ValidationError(f"no config.json can be built for model_type {spec.model_type!r}",
                              field="model_type", value=spec.model_type)

    def llm_has_qkv_bias(self, spec: ModelSpec) -> bool:
        """Qwen decoders (Qwen1.5, Qwen2) have q/k/v biases; Llama / Mistral do not."""
        return "qwen" in spec.llm.name.lower()

    def llm_has_qk_norm(self, spec: ModelSpec) -> bool:
        """Qwen3 / Gemma 3 decoders normalise each head's queries and keys (RMSNorm of head_dim)."""
        return False

    def llm_block_norms(self, spec: ModelSpec) -> int:
        """RMSNorms of the hidden width in each decoder block: two (before attention and MLP);
        Gemma 3 also normalises each sub-layer's output."""
        return 2

    def fit_tokens(self, slug: str, token_rule: str, kind: str, spec: ModelSpec, k: int, *,
                   check_tokens: Any, config: Mapping[str, Any] | None = None, local: bool = False) -> TokenFit:
        """Whether a compressor (``slug``, its ``token_rule`` and ``kind``; ``check_tokens(k, native,
        grid)`` its grid rule) can give the LLM ``k`` visual tokens of ``spec``'s images, and how:
        the family's token rules. InvalidTokenCountError when it cannot."""
        raise ValidationError(f"family {self.model_type!r} has no token rules for compressors",
                              field="model_type", value=self.model_type)

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
        from .vision import check_image_size

        check_image_size(image_size)
        return self.vision_profile(spec, image_size).native

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
