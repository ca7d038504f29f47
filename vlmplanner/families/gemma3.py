"""Gemma 3 (``model_type: gemma3``): a SigLIP tower pooled to 256 tokens, and a Gemma 3 LLM whose
layers mix sliding-window and full attention.

Every image (or pan-and-scan crop) is resized to the tower's 896x896 square: 64x64 patches of
14 px, average-pooled 4x4 to ``mm_tokens_per_image`` = 256 soft tokens, RMSNorm-ed and projected
by one bias-free matrix. The processor wraps them as ``\\n\\n<start_of_image>`` + 256 image tokens
+ ``<end_of_image>\\n\\n``; the LLM attends bidirectionally within an image.

The LLM: an explicit ``head_dim``, per-head q/k RMSNorm, four RMSNorms per block (before and after
attention and the MLP), a GELU-tanh gated MLP, tied embeddings. Five of every six layers
(``layer_types``; older files: ``sliding_window_pattern``) attend to the last ``sliding_window``
positions only and cache no more: the cost model's bounded KV cache.

Pan-and-scan (off in every released preprocessor_config.json, a processor call option) would add
crops of elongated images; :func:`~vlmplanner.families.geometry.pan_and_scan_crops` counts them,
and this adapter costs the released setting: one view, 256 tokens, whatever the image.

A compressor runs on the 256 projected tokens of each image, on their 16x16 grid (the seam,
``Gemma3Seam``). In-LLM pruning is not offered: the hooks do not rebuild Gemma 3's per-layer-type
masks (sliding window and the bidirectional image blocks).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from vlmplanner import compat
from vlmplanner.errors import InvalidTokenCountError, ValidationError
from vlmplanner.extras import require
from vlmplanner.schemas import ModelSpec, build

from ._config import (
    TEXT_DEFAULTS,
    VISION_DEFAULTS,
    Section,
    counted_llm_params,
    round_billions,
    sub_config,
)
from ._hf import HFFamily, _check_counts, filler_ids
from .base import TokenFit
from .llava import _check_heads
from .vision import VisionProfile, check_image_size, siglip_pooled

if TYPE_CHECKING:
    import torch
    from transformers import PretrainedConfig

__all__ = ["Gemma3Family"]

#: Gemma3TextConfig's layer pattern when config.json lists no ``layer_types``: every sixth layer full.
SLIDING_WINDOW_PATTERN = 6
LAYER_TYPES = ("sliding_attention", "full_attention")


class Gemma3Family(HFFamily):
    """``gemma3``: Gemma3ForConditionalGeneration with Gemma3Processor."""

    model_type: ClassVar[str] = "gemma3"
    config_class: ClassVar[str] = "Gemma3Config"
    model_class: ClassVar[str] = "Gemma3ForConditionalGeneration"
    processor_class: ClassVar[str] = "Gemma3Processor"
    image_processor_class: ClassVar[str] = "Gemma3ImageProcessorPil"
    tiny_prompt: ClassVar[str] = "USER : <start_of_image> what is in the picture ? ASSISTANT :"
    seam: ClassVar[str | None] = "vlmplanner.pipeline.seams:Gemma3Seam"
    seam_inputs: ClassVar[frozenset[str]] = frozenset({"query"})
    #: the seam compresses the pooled, projected tokens (the pooling needs the whole patch grid)
    seam_stages: ClassVar[frozenset[str]] = frozenset({"post-projector"})
    llm_hooks: ClassVar[bool] = False
    images_by_prompt: ClassVar[bool] = True
    #: the tiny model's special tokens: soft image token, begin / end of image
    special_tokens: ClassVar[dict[str, str]] = {"image_token": "<image_soft_token>", "boi_token": "<start_of_image>",
                                                "eoi_token": "<end_of_image>"}

    # -- the cost model and the token rules ------------------------------------------------------
    def vision_profile(self, spec: ModelSpec, image_size: tuple[int, int] | None) -> VisionProfile:
        v = spec.vision
        check_image_size(image_size)
        profile = siglip_pooled(self.model_type, v.image_size, v.patch_size, v.num_layers, v.hidden_size,
                                v.intermediate_size, spec.native_visual_tokens, 1, image_size or (v.image_size,) * 2)
        note = (f"{self.model_type}: every image is resized to {v.image_size}x{v.image_size} (pan-and-scan off, as in"
                " the released preprocessor_config.json)")
        return dataclasses.replace(profile, notes=(note, *profile.notes))

    def llm_has_qkv_bias(self, spec: ModelSpec) -> bool:
        return False

    def jit_traceable(self) -> contextlib.AbstractContextManager[Any]:
        """The image-block and sliding-window masks are built with torch.vmap, which a jit trace
        cannot follow; ``compat.traceable_masks`` builds them by broadcasting."""
        return compat.traceable_masks()

    def llm_has_qk_norm(self, spec: ModelSpec) -> bool:
        return True

    def llm_block_norms(self, spec: ModelSpec) -> int:
        return 4

    def crop_grid(self, spec: ModelSpec) -> tuple[int, int]:
        """The pooled token grid of one image (16x16 for 256 tokens)."""
        side = round(spec.native_visual_tokens ** 0.5)
        return side, side

    def fit_tokens(self, slug: str, token_rule: str, kind: str, spec: ModelSpec, k: int, *,
                   check_tokens: Any, config: Mapping[str, Any] | None = None, local: bool = False) -> TokenFit:
        """A compressor keeps k of each image's pooled tokens, on their square grid; ``none`` all."""
        native = spec.native_visual_tokens
        grid = self.crop_grid(spec)
        if token_rule == "native":
            if k != native:
                raise InvalidTokenCountError(
                    f"{slug} does not compress: {spec.checkpoint} gives {native} visual tokens per image, so k"
                    f" must be {native}, not {k}", field="visual_tokens", value=k)
            return TokenFit(native, grid, 1, {"grid": grid}, ())
        if k > native:
            raise InvalidTokenCountError(
                f"{slug} cannot keep {k} visual tokens: {spec.checkpoint} produces {native} per image",
                field="visual_tokens", value=k)
        check_tokens(k, native, grid)
        return TokenFit(k, grid, 1, {"grid": grid}, ())

    def config_from_spec(self, spec: ModelSpec) -> dict[str, Any]:
        """The released configs' layout: Gemma 3's special token ids, every sixth layer full (the
        spec's windowed layers the others, in the pattern's order)."""
        llm, vision = spec.llm, spec.vision
        full = llm.num_layers - llm.sliding_layers
        types = _layer_types(llm.num_layers, full)
        return {
            "model_type": self.model_type, "mm_tokens_per_image": spec.native_visual_tokens,
            "boi_token_index": 255999, "eoi_token_index": 256000, "image_token_index": 262144,
            "tie_word_embeddings": llm.tie_word_embeddings,
            "text_config": {
                "model_type": "gemma3_text", "hidden_size": llm.hidden_size, "num_hidden_layers": llm.num_layers,
                "num_attention_heads": llm.num_heads, "num_key_value_heads": llm.num_kv_heads,
                "head_dim": llm.head_dim, "intermediate_size": llm.intermediate_size, "vocab_size": llm.vocab_size,
                "sliding_window": llm.sliding_window or 4096, "layer_types": types,
                "tie_word_embeddings": llm.tie_word_embeddings,
            },
            "vision_config": {
                "model_type": "siglip_vision_model", "hidden_size": vision.hidden_size,
                "intermediate_size": vision.intermediate_size, "num_hidden_layers": vision.num_layers,
                "num_attention_heads": vision.num_heads, "image_size": vision.image_size,
                "patch_size": vision.patch_size, "vision_use_head": False,
            },
        }

    # -- config.json -> ModelSpec --------------------------------------------------------------
    def spec_from_config(self, config: Mapping[str, Any], *, checkpoint: str, source: str,
                         params_b: float | None = None) -> ModelSpec:
        self._check_model_type(config)
        top = Section(config, "")
        text_raw = sub_config(config, "text_config")
        text = Section(text_raw, "text_config", TEXT_DEFAULTS["gemma3_text"])
        vision_raw = sub_config(config, "vision_config")
        vision_type = vision_raw.get("model_type") or "siglip_vision_model"
        if vision_type != "siglip_vision_model":
            raise ValidationError(f"the gemma3 adapter supports a siglip_vision_model tower; config.json has"
                                  f" vision_config.model_type {vision_type!r}", field="vision_config.model_type",
                                  value=vision_type)
        vision = Section(vision_raw, "vision_config", VISION_DEFAULTS["siglip_vision_model"])
        layers = text.positive_int("num_hidden_layers")
        hidden = text.positive_int("hidden_size")
        heads = text.positive_int("num_attention_heads")
        kv_heads = text.positive_int("num_key_value_heads", heads)
        head_dim = text.positive_int("head_dim")
        intermediate = text.positive_int("intermediate_size")
        vocab = text.positive_int("vocab_size")
        tied = top.boolean("tie_word_embeddings", text.boolean("tie_word_embeddings", True))
        _check_heads(text, hidden, heads, kv_heads, head_dim)
        if hidden % heads:  # Gemma3TextConfig refuses it even with an explicit head_dim
            raise ValidationError(f"config.json text_config.hidden_size {hidden} is not a multiple of"
                                  f" num_attention_heads {heads}", field="text_config.hidden_size", value=hidden)
        for key in ("attention_bias", "use_bidirectional_attention"):
            if text.raw(key, False) is not False:
                raise ValidationError(f"config.json text_config.{key} must be false for a Gemma 3 VLM",
                                      field=f"text_config.{key}", value=text.raw(key))
        window = text.positive_int("sliding_window")
        sliding = self._sliding_layers(text, layers)

        side = vision.positive_int("image_size")
        patch = vision.positive_int("patch_size")
        if patch > side:
            raise ValidationError(f"config.json vision_config.patch_size {patch} exceeds image_size {side}",
                                  field="vision_config.patch_size", value=patch)
        if vision.raw("vision_use_head", False) is not False:
            raise ValidationError("config.json vision_config.vision_use_head must be false: Gemma 3 feeds the"
                                  " patch tokens, not a pooled head", field="vision_config.vision_use_head",
                                  value=vision.raw("vision_use_head"))
        tokens = self._tokens_per_image(top, side // patch)
        v_layers = vision.positive_int("num_hidden_layers")
        v_hidden = vision.positive_int("hidden_size")
        grid = side // patch
        notes = [f"native_visual_tokens {tokens} = ({side}/{patch})² = {grid * grid} patches average-pooled"
                 f" {grid // round(tokens ** 0.5)}x{grid // round(tokens ** 0.5)} (mm_tokens_per_image), per image",
                 f"{sliding} of {layers} decoder layers attend to a sliding window of {window} positions"]
        llm = {"name": text_raw.get("_name_or_path") or f"{checkpoint} (language model, gemma3_text)",
               "num_layers": layers, "hidden_size": hidden, "num_heads": heads, "num_kv_heads": kv_heads,
               "head_dim": head_dim, "intermediate_size": intermediate, "vocab_size": vocab,
               "tie_word_embeddings": tied, "sliding_window": window if sliding else None, "sliding_layers": sliding}
        if params_b is None:
            params_b = round_billions(counted_llm_params(llm, qk_norm=True, norms=4))
            notes.append(f"llm params_b {params_b:g} counted from the config (language model with lm_head)")
        return build(ModelSpec, {
            "checkpoint": checkpoint,
            "model_type": self.model_type,
            "display_name": checkpoint.rstrip("/").rsplit("/", 1)[-1] or checkpoint,
            "llm": {**llm, "params_b": params_b},
            "vision": {
                "name": vision_raw.get("_name_or_path") or f"siglip_vision_model {v_layers}x{v_hidden}, patch {patch},"
                                                            f" {side}px",
                "image_size": side, "patch_size": patch, "num_layers": v_layers, "hidden_size": v_hidden,
                "num_heads": vision.positive_int("num_attention_heads"),
                "intermediate_size": vision.positive_int("intermediate_size"), "spatial_merge_size": 1,
            },
            "projector": "pooled_rmsnorm_linear",
            "native_visual_tokens": tokens,
            "public_checkpoint": True,
            "source": source,
            "note": "; ".join(notes),
        })

    @staticmethod
    def _sliding_layers(text: Section, layers: int) -> int:
        """Windowed layers: from ``layer_types`` when given, else every layer but each
        ``sliding_window_pattern``-th (6), as Gemma3TextConfig fills it in."""
        types = text.raw("layer_types", None)
        if types is None:
            pattern = text.positive_int("sliding_window_pattern", SLIDING_WINDOW_PATTERN)
            return sum(1 for i in range(layers) if (i + 1) % pattern)
        if (not isinstance(types, (list, tuple)) or len(types) != layers
                or any(t not in LAYER_TYPES for t in types)):
            raise ValidationError(
                f"config.json text_config.layer_types must list {layers} entries (num_hidden_layers), each one of"
                f" {', '.join(LAYER_TYPES)}", field="text_config.layer_types", value=types)
        return sum(1 for t in types if t == "sliding_attention")

    @staticmethod
    def _tokens_per_image(top: Section, grid: int) -> int:
        """``mm_tokens_per_image``: a square whose side divides the patch grid (the pooling kernel)."""
        tokens = top.positive_int("mm_tokens_per_image", 256)
        side = round(tokens ** 0.5)
        if side * side != tokens or grid % side:
            raise ValidationError(
                f"config.json mm_tokens_per_image {tokens} must be a square whose side divides the"
                f" {grid}x{grid} patch grid (image_size / patch_size): the projector average-pools the grid to it",
                field="mm_tokens_per_image", value=tokens)
        return tokens

    # -- tiny, offline ----------------------------------------------------------------------
    def _tiny_dict(self, tokenizer: Any) -> dict[str, Any]:
        return {
            "vision_config": {
                "model_type": "siglip_vision_model", "hidden_size": 32, "intermediate_size": 64,
                "num_hidden_layers": 2, "num_attention_heads": 2, "image_size": 112, "patch_size": 14,
                "vision_use_head": False,
            },
            "text_config": {
                "model_type": "gemma3_text", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 3,
                "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8, "sliding_window": 8,
                "sliding_window_pattern": 2,  # every second layer full, at any depth
                "vocab_size": len(tokenizer), "max_position_embeddings": 1024,
                "bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
                "pad_token_id": tokenizer.pad_token_id,
            },
            "mm_tokens_per_image": 16,
            "image_token_index": tokenizer.convert_tokens_to_ids(self.special_tokens["image_token"]),
            "boi_token_index": tokenizer.convert_tokens_to_ids(self.special_tokens["boi_token"]),
            "eoi_token_index": tokenizer.convert_tokens_to_ids(self.special_tokens["eoi_token"]),
        }

    def _processor(self, config: PretrainedConfig, tokenizer: Any) -> Any:
        side = config.vision_config.image_size
        image_processor = compat.transformers_class(self.image_processor_class)(
            size={"height": side, "width": side}, image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])
        return compat.transformers_class(self.processor_class)(
            image_processor=image_processor, tokenizer=tokenizer, image_seq_length=config.mm_tokens_per_image)

    # -- inputs and components ----------------------------------------------------------------
    def dummy_inputs(self, config: PretrainedConfig, *, image_size: tuple[int, int] | None = None,
                     text_tokens: int = 50, batch_size: int = 1,
                     pixel_values_fake_mode: Any = None) -> dict[str, torch.Tensor]:
        """One image as the processor lays it out: ``<start_of_image>``, the image tokens,
        ``<end_of_image>``; ``token_type_ids`` 1 on the image tokens (the bidirectional block)."""
        require("torch", feature="building model inputs")
        import torch

        _check_counts(text_tokens, batch_size)
        check_image_size(image_size)
        image, boi, eoi = compat.image_token_id(config), config.boi_token_index, config.eoi_token_index
        tokens = config.mm_tokens_per_image
        text = filler_ids(text_tokens, config.text_config.vocab_size,
                          [image, boi, eoi, config.text_config.pad_token_id or 0])
        row = text[:1] + [boi] + [image] * tokens + [eoi] + text[1:]
        input_ids = torch.tensor([row] * batch_size, dtype=torch.long)
        side = config.vision_config.image_size
        return {
            "input_ids": input_ids,
            "attention_mask": torch.ones_like(input_ids),
            "token_type_ids": (input_ids == image).long(),
            "pixel_values": self._pixels((batch_size, 3, side, side), pixel_values_fake_mode),
        }



def _layer_types(layers: int, full: int) -> list[str]:
    """``full`` full-attention layers among ``layers``: every sixth from the sixth, then the last
    windowed ones, so a spec's count round-trips."""
    types = ["sliding_attention"] * layers
    placed = 0
    for i in [*range(SLIDING_WINDOW_PATTERN - 1, layers, SLIDING_WINDOW_PATTERN),
              *range(layers - 1, -1, -1)]:
        if placed == full:
            break
        if types[i] == "sliding_attention":
            types[i] = "full_attention"
            placed += 1
    return types
