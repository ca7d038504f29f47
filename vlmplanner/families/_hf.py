"""What the built-in adapters share: transformers configs, fake and tiny models, loading, inputs.

Nothing here imports torch or transformers at module level: the adapters are imported by
``get_family`` when a model is registered, which must work in the light install. What needs them
asks :func:`vlmplanner.extras.require` (a MissingExtraError naming the extra when they are missing),
and reaches transformers' classes through :mod:`vlmplanner.compat`.
"""

from __future__ import annotations

import abc
import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from vlmplanner import compat
from vlmplanner.errors import ValidationError
from vlmplanner.extras import require

from ._hub import hub_options
from ._load_errors import load_errors
from .base import ModelFamily, TinyVLM

if TYPE_CHECKING:
    import torch
    from transformers import PretrainedConfig

__all__ = ["HFFamily", "deep_merge", "fake_mode_of", "filler_ids"]


def deep_merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``overrides``; nested dicts are merged key by key, not replaced."""
    merged = copy.deepcopy(dict(base))
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def fake_mode_of(model: torch.nn.Module) -> Any:
    """The ``FakeTensorMode`` a model from ``build_fake`` was built in (pass it to ``dummy_inputs``)."""
    for parameter in model.parameters():
        mode = compat.fake_mode_of(parameter)
        if mode is not None:
            return mode
    raise ValidationError("this model has no FakeTensor parameters; build it with build_fake()",
                          field="model", value=type(model).__name__)


def filler_ids(count: int, vocab_size: int, avoid: Sequence[int]) -> list[int]:
    """``count`` ordinary token ids (never one of ``avoid``), cycling through the low ids."""
    banned = set(avoid)
    pool = [i for i in range(min(vocab_size, 4), min(vocab_size, 4 + 64 + len(banned))) if i not in banned]
    if not pool:
        pool = [i for i in range(vocab_size) if i not in banned]
    if not pool:
        raise ValidationError(f"vocab_size {vocab_size} leaves no ordinary token id", field="vocab_size",
                              value=vocab_size)
    return [pool[i % len(pool)] for i in range(count)]


def _check_counts(text_tokens: int, batch_size: int) -> None:
    if isinstance(text_tokens, bool) or not isinstance(text_tokens, int) or text_tokens < 0:
        raise ValidationError(f"text_tokens must be a non-negative integer, got {text_tokens!r}",
                              field="text_tokens", value=text_tokens)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValidationError(f"batch_size must be a positive integer, got {batch_size!r}",
                              field="batch_size", value=batch_size)


class HFFamily(ModelFamily):
    """A family whose model, config and processor are native transformers classes."""

    #: transformers class names (resolved on use, so importing the adapter stays light).
    config_class: ClassVar[str]
    model_class: ClassVar[str]
    processor_class: ClassVar[str]
    #: the tiny tokenizer's named special tokens (``{"image_token": "<image>"}``): each is a single
    #: token, and ``tokenizer.<name>`` / ``<name>_id`` resolve as the family's processor expects
    special_tokens: ClassVar[dict[str, str]] = {}
    #: build and load the processor without its video part (which needs torchvision)
    images_only: ClassVar[bool] = False
    #: A prompt with one image for the tiny model's processor.
    tiny_prompt: ClassVar[str]

    # -- configs -----------------------------------------------------------------------------
    def _check_model_type(self, config: Mapping[str, Any]) -> None:
        if not isinstance(config, Mapping):
            raise ValidationError(f"a config.json must be a JSON object, got {type(config).__name__}",
                                  field="config", value=None)
        found = config.get("model_type")
        if found != self.model_type:
            raise ValidationError(
                f"the {self.model_type} adapter got a config with model_type {found!r}; use"
                f" vlmplanner.families.get_family({found!r}) for it",
                field="model_type", value=found,
            )

    def hf_config(self, config: Mapping[str, Any]) -> PretrainedConfig:
        self._check_model_type(config)
        cls = compat.transformers_class(self.config_class)
        try:
            with compat.quiet_hf():
                built: PretrainedConfig = cls.from_dict(copy.deepcopy(dict(config)))
            return built
        except Exception as exc:  # transformers' strict dataclasses raise their own error types
            field = getattr(exc, "field", None)
            raise ValidationError(
                f"transformers rejects this {self.model_type} config.json: {' '.join(str(exc).split())}",
                field=field if isinstance(field, str) else "config", value=None,
            ) from exc

    @abc.abstractmethod
    def _tiny_dict(self, tokenizer: Any) -> dict[str, Any]:
        """The tiny config as a dict, sized to the tokenizer's vocabulary."""

    def _tokenizer(self) -> Any:
        """The in-process tokenizer with this family's ``special_tokens``."""
        from ._tiny import word_level_tokenizer

        return word_level_tokenizer(list(self.special_tokens.values()), self.special_tokens)

    @abc.abstractmethod
    def _processor(self, config: PretrainedConfig, tokenizer: Any) -> Any:
        """The family's processor built from classes (no hub)."""

    def tiny_config(self, **overrides: Any) -> PretrainedConfig:
        return self._tiny_config(self._tokenizer(), overrides, compat.transformers_class(self.config_class))

    def _tiny_config(self, tokenizer: Any, overrides: Mapping[str, Any], cls: Any) -> PretrainedConfig:
        data = deep_merge(self._tiny_dict(tokenizer), overrides)
        config: PretrainedConfig = cls(**data)
        return config

    def build_tiny(self, *, seed: int = 0, dtype: Any = None, **overrides: Any) -> TinyVLM:
        require("torch", feature="building a tiny model")
        import torch

        tokenizer = self._tokenizer()
        config = self._tiny_config(tokenizer, overrides, compat.transformers_class(self.config_class))
        torch.manual_seed(seed)
        model = compat.transformers_class(self.model_class)(config)
        if dtype is not None:
            model = model.to(dtype)
        model.eval()
        return TinyVLM(model=model, processor=self._processor(config, tokenizer), tokenizer=tokenizer,
                       config=config, family=self)

    # -- models ------------------------------------------------------------------------------
    def build_fake(self, config: PretrainedConfig) -> torch.nn.Module:
        """The full-size model on FakeTensors, in the current default dtype.

        The parameters carry shapes and dtypes only (no storage), so a 7B model builds in well under
        a second and a few MB. Build in bf16 with ``torch.set_default_dtype(torch.bfloat16)`` around
        the call (``.to(dtype)`` does not work on fake parameters). Get the mode back with
        ``fake_mode_of(model)`` and pass it to ``dummy_inputs(pixel_values_fake_mode=...)``; run the
        forward pass with that mode *not* active (real integer inputs, fake pixel values).
        """
        require("torch", feature="building a model on fake tensors")
        cls = compat.transformers_class(self.model_class)
        # no random initialization: the values are never read, initializing fake parameters still
        # dispatches every init op (72B: 2.7 s -> 0.5 s), and some initializers (SigLIP's truncated
        # normal) ask a fake tensor for a number
        with compat.fake_tensor_mode(), compat.quiet_hf(), compat.no_init_weights():
            model = cls(config)
        return model.eval()  # type: ignore[no-any-return]

    def load(self, checkpoint: str | Path, *, device: str = "cpu", dtype: Any = None,
             trust_remote_code: bool = False) -> tuple[Any, Any]:
        """(model, processor) through ``from_pretrained``, quietly (``compat.quiet_hf``).

        Checked first, in this order: torch and transformers are installed (MissingExtraError), the
        device is on this machine (DeviceUnavailableError), the files can be had -- a directory, the
        Hub, or the cache when the Hub is out of reach -- (HubUnreachableError within a second or
        two, not after the Hub client's retries). A load that fails is one ModelLoadError line.
        """
        from .devices import check_available

        path = str(checkpoint)
        require("torch", feature=f"loading {path}")
        require("transformers", feature=f"loading {path}")
        check_available(device)
        options = hub_options(path)                     # before the (slow) modelling import
        model_class = compat.transformers_class(self.model_class)
        local = Path(path).expanduser().is_dir()
        kwargs: dict[str, Any] = {"trust_remote_code": trust_remote_code, **options}
        if dtype is not None:
            kwargs["dtype"] = dtype
        with compat.quiet_hf():
            with load_errors(path, part="model weights", local=local):
                model = model_class.from_pretrained(path, **kwargs)
            with load_errors(path, part="processor", local=local):
                tokenizer = compat.generic_saved_tokenizer(path) if local else {}
                processor = self._load_processor(path, trust_remote_code=trust_remote_code, **options, **tokenizer)
        return model.to(device).eval(), processor     # out of memory here stays torch's error

    def components(self, model: torch.nn.Module) -> dict[str, torch.nn.Module]:
        """The transformers VLM's own parts (``compat.vlm_part``). In the Qwen families ``projector``
        (``model.visual.merger``, the patch merger) is a submodule of ``vision_tower``
        (``model.visual``): the tower's own share is vision_tower minus projector."""
        return {
            "vision_tower": compat.vlm_part(model, "vision_tower"),
            "projector": compat.vlm_part(model, "projector"),
            "llm_blocks": compat.vlm_part(model, "language_model"),
            "lm_head": compat.vlm_part(model, "lm_head"),
        }

    def _processor_cls(self) -> Any:
        """The family's processor class; with ``images_only``, without its video part: images and text."""
        cls = compat.transformers_class(self.processor_class)
        return compat.image_only_processor_class(cls) if self.images_only else cls

    def _load_processor(self, path: str, *, trust_remote_code: bool, **options: Any) -> Any:
        """The processor saved beside a checkpoint (``options``: more ``from_pretrained`` keywords,
        such as ``local_files_only``): the family's processor class reads it."""
        return self._processor_cls().from_pretrained(path, trust_remote_code=trust_remote_code, **options)

    @staticmethod
    def _pixels(shape: tuple[int, ...], mode: Any, seed: int = 0) -> torch.Tensor:
        require("torch", feature="building model inputs")
        import torch

        if mode is not None:
            with mode:  # a FakeTensor of this shape: no storage is allocated
                return torch.empty(shape, dtype=torch.get_default_dtype())
        generator = torch.Generator().manual_seed(seed)
        return torch.randn(shape, generator=generator, dtype=torch.get_default_dtype())
