"""LLaVA (``model_type: llava``): a CLIP tower, a 2-layer MLP projector and a Llama-style LLM.

Every image is resized and centre-cropped to the tower's square input, so one image always gives
the same number of visual tokens: (side / patch)², after dropping CLS with the ``default``
feature-select strategy (576 for LLaVA-1.5's 336 px CLIP-L/14).
"""

from __future__ import annotations

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
    llm_parameter_count,
    round_billions,
    sub_config,
    text_config_numbers,
)
from ._hf import HFFamily, _check_counts, filler_ids
from .base import TokenFit
from .vision import VisionProfile, check_image_size, clip_single_crop

if TYPE_CHECKING:
    import torch
    from transformers import PretrainedConfig

__all__ = ["LlavaFamily"]

#: The vision tower LlavaConfig builds when config.json has no vision_config (CLIP ViT-L/14 at 336 px).
LLAVA_DEFAULT_VISION: dict[str, Any] = {
    "model_type": "clip_vision_model", "hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 24,
    "num_attention_heads": 16, "image_size": 336, "patch_size": 14,
}
#: Vision towers the LLaVA adapters know, with how many extra (CLS) tokens each prepends.
CLS_TOKENS = {"clip_vision_model": 1, "siglip_vision_model": 0}
STRATEGIES = ("default", "full")

#: Sizes of the tiny models (tests and examples): CLIP-like 56 px / patch 14, Llama-like LLM.
TINY_SIDE = 56
TINY_PATCH = 14


class LlavaFamily(HFFamily):
    """``llava``: LlavaForConditionalGeneration with LlavaProcessor."""

    model_type: ClassVar[str] = "llava"
    config_class: ClassVar[str] = "LlavaConfig"
    model_class: ClassVar[str] = "LlavaForConditionalGeneration"
    processor_class: ClassVar[str] = "LlavaProcessor"
    image_processor_class: ClassVar[str] = "LlavaImageProcessorPil"
    tiny_prompt: ClassVar[str] = "USER: <image> what is in the picture ? ASSISTANT:"
    seam: ClassVar[str | None] = "vlmplanner.pipeline.seams:LlavaSeam"
    seam_inputs: ClassVar[frozenset[str]] = frozenset({"cls_attention", "keys", "query", "multi_layer_features"})
    seam_stages: ClassVar[frozenset[str]] = frozenset({"pre-projector", "post-projector"})
    llm_hooks: ClassVar[bool] = True
    special_tokens: ClassVar[dict[str, str]] = {"image_token": "<image>"}

    # -- the cost model and the token rules ------------------------------------------------------
    def vision_profile(self, spec: ModelSpec, image_size: tuple[int, int] | None) -> VisionProfile:
        v = spec.vision
        return clip_single_crop(self.model_type, v.image_size, v.patch_size, v.num_layers, v.hidden_size,
                                v.intermediate_size, spec.native_visual_tokens)

    def fit_tokens(self, slug: str, token_rule: str, kind: str, spec: ModelSpec, k: int, *,
                   check_tokens: Any, config: Mapping[str, Any] | None = None, local: bool = False) -> TokenFit:
        """A pre-LLM compressor runs on each crop's patch grid (k / crops tokens per crop); an in-LLM
        one keeps k of the native tokens; ``none`` keeps them all."""
        vision = spec.vision
        side = vision.image_size // vision.patch_size
        grid, per_crop = (side, side), side * side
        notes: list[str] = []
        crops = self.max_crops(config, vision.image_size)
        if crops > 1 and config is None and not local:
            notes.append(f"{self.model_type}: crops per image from the default image_grid_pinpoints (no local config)")
        largest = crops * per_crop
        options: dict[str, Any] = {}
        compressor_tokens = k
        if token_rule == "native":
            allowed = {spec.native_visual_tokens, largest}
            if k not in allowed:
                raise InvalidTokenCountError(
                    f"{slug} does not compress: {spec.checkpoint} gives {spec.native_visual_tokens} visual tokens"
                    f" per image, so k must be {' or '.join(str(a) for a in sorted(allowed))}, not {k}",
                    field="visual_tokens", value=k,
                )
            return TokenFit(per_crop, grid, crops, {"grid": grid}, tuple(notes))
        if kind == "in-llm":
            if k > spec.native_visual_tokens:
                raise InvalidTokenCountError(
                    f"{slug} cannot keep {k} visual tokens: {spec.checkpoint} produces"
                    f" {spec.native_visual_tokens} per image", field="visual_tokens", value=k,
                )
            return TokenFit(k, grid, crops, {"grid": grid} if crops == 1 else {}, tuple(notes))
        if crops == 1 and spec.native_visual_tokens != per_crop:
            raise ValidationError(
                f"{spec.checkpoint} gives {spec.native_visual_tokens} tokens per image, not its {side}x{side} patch"
                " grid: pre-LLM compressors need the 'default' feature-select strategy (CLS dropped)",
                field="vision_feature_select_strategy", value=spec.native_visual_tokens,
            )
        if k > largest:
            raise InvalidTokenCountError(
                f"{slug} cannot keep {k} visual tokens: {spec.checkpoint} produces {largest}"
                + (f" ({crops} crops x {per_crop})" if crops > 1 else "") + " per image",
                field="visual_tokens", value=k,
            )
        if crops > 1:
            if k % crops:
                lower, upper = (k // crops) * crops, (k // crops + 1) * crops
                nearest = f"{lower} or {upper}" if lower else f"{upper}"
                raise InvalidTokenCountError(
                    f"{slug} on {self.model_type} runs per crop: k must be a multiple of {crops} (the most crops"
                    f" an image has), e.g. {nearest}; got {k}", field="visual_tokens", value=k,
                )
            compressor_tokens = k // crops
            notes.append(f"{self.model_type}: {compressor_tokens} tokens per crop x up to {crops} crops, plus one"
                         " newline token per feature row of the tile grid")
        try:
            check_tokens(compressor_tokens, per_crop, grid)
        except InvalidTokenCountError as exc:
            if crops > 1:
                raise InvalidTokenCountError(f"{exc.message} (per crop: k={k} / {crops} crops = {compressor_tokens})",
                                             field="visual_tokens", value=k) from exc
            raise
        options["grid"] = grid
        return TokenFit(compressor_tokens, grid, crops, options, tuple(notes))

    #: LLaVA's image token id in llava-hf configs (32000 = the first id after Llama's vocabulary).
    image_token_index: ClassVar[int] = 32000

    def config_from_spec(self, spec: ModelSpec) -> dict[str, Any]:
        """llava-hf's config.json layout; the LLM's text model type read from its name (Mistral, Qwen,
        else Llama). Only the mlp2x_gelu projector exists in transformers' model."""
        if spec.projector != "mlp2x_gelu":
            raise ValidationError(
                f"{spec.checkpoint!r} has projector {spec.projector!r}, which transformers'"
                f" {spec.model_type} model does not implement (only mlp2x_gelu); it cannot be traced",
                field="projector", value=spec.projector,
            )
        llm, vision = spec.llm, spec.vision
        name = llm.name.lower()
        text_type = "mistral" if "mistral" in name else "qwen2" if "qwen" in name else "llama"
        image_token = self.image_token_index if llm.vocab_size > self.image_token_index else llm.vocab_size - 1
        return {
            "model_type": spec.model_type,
            "text_config": {"model_type": text_type, **text_config_numbers(spec)},
            "vision_config": {
                "model_type": "clip_vision_model", "hidden_size": vision.hidden_size,
                "intermediate_size": vision.intermediate_size, "num_hidden_layers": vision.num_layers,
                "num_attention_heads": vision.num_heads, "image_size": vision.image_size,
                "patch_size": vision.patch_size,
            },
            "image_token_index": image_token, "vision_feature_layer": -2, "vision_feature_select_strategy": "default",
            "projector_hidden_act": "gelu", "tie_word_embeddings": llm.tie_word_embeddings,
        }

    # -- config.json -> ModelSpec --------------------------------------------------------------
    def _sections(self, config: Mapping[str, Any]) -> tuple[Section, Section, Section, str, str]:
        self._check_model_type(config)
        top = Section(config, "")
        text_raw = sub_config(config, "text_config")
        text_type = text_raw.get("model_type") or "llama"
        # an absent text vocab_size falls back to the top-level one (older llava-hf files carry both)
        text = Section(text_raw, "text_config", TEXT_DEFAULTS.get(text_type),
                       fallback={k: config[k] for k in ("vocab_size",) if k in config})
        vision_raw = sub_config(config, "vision_config") or LLAVA_DEFAULT_VISION
        vision_type = vision_raw.get("model_type") or "clip_vision_model"
        if vision_type not in CLS_TOKENS:
            raise ValidationError(
                f"the {self.model_type} adapter supports vision towers {', '.join(sorted(CLS_TOKENS))};"
                f" config.json has vision_config.model_type {vision_type!r}",
                field="vision_config.model_type", value=vision_type,
            )
        vision = Section(vision_raw, "vision_config", VISION_DEFAULTS[vision_type])
        return top, text, vision, text_type, vision_type

    def _strategy(self, top: Section) -> str:
        strategy = top.string("vision_feature_select_strategy", "default")
        if strategy not in STRATEGIES:
            raise ValidationError(
                f"config.json vision_feature_select_strategy must be one of {', '.join(STRATEGIES)},"
                f" got {strategy!r}", field="vision_feature_select_strategy", value=strategy,
            )
        return strategy

    def _native_tokens(self, config: Mapping[str, Any], top: Section, side: int, patch: int, cls: int,
                       strategy: str) -> tuple[int, str]:
        grid = side // patch
        tokens = grid * grid + cls - (1 if strategy == "default" else 0)
        return tokens, f"native_visual_tokens {tokens} = ({side}/{patch})² patches with the {strategy!r} strategy"

    def spec_from_config(self, config: Mapping[str, Any], *, checkpoint: str, source: str,
                         params_b: float | None = None) -> ModelSpec:
        top, text, vision, text_type, vision_type = self._sections(config)
        layers = text.positive_int("num_hidden_layers")
        hidden = text.positive_int("hidden_size")
        heads = text.positive_int("num_attention_heads")
        kv_heads = text.positive_int("num_key_value_heads", heads)
        intermediate = text.positive_int("intermediate_size")
        vocab = text.positive_int("vocab_size")
        tied = top.boolean("tie_word_embeddings", text.boolean("tie_word_embeddings", False))
        head_dim = text.positive_int("head_dim", hidden // heads) if hidden >= heads else 0
        _check_heads(text, hidden, heads, kv_heads, head_dim)

        side = vision.positive_int("image_size")
        patch = vision.positive_int("patch_size")
        if patch > side:
            raise ValidationError(f"config.json vision_config.patch_size {patch} exceeds image_size {side}",
                                  field="vision_config.patch_size", value=patch)
        strategy = self._strategy(top)
        native, native_note = self._native_tokens(config, top, side, patch, CLS_TOKENS[vision_type], strategy)
        v_layers = vision.positive_int("num_hidden_layers")
        v_hidden = vision.positive_int("hidden_size")
        notes = [native_note]
        if head_dim != hidden // heads:
            notes.append(f"text_config.head_dim {head_dim} differs from hidden_size/num_attention_heads"
                         f" ({hidden // heads}); the cost model uses the latter")
        if params_b is None:
            params_b = round_billions(llm_parameter_count(
                model_type=text_type, layers=layers, hidden=hidden, heads=heads, kv_heads=kv_heads,
                intermediate=intermediate, vocab=vocab, tied=tied, head_dim=head_dim,
                attention_bias=bool(text.raw("attention_bias", False)), mlp_bias=bool(text.raw("mlp_bias", False)),
            ))
            notes.append(f"llm params_b {params_b:g} counted from the config (language model with lm_head)")
        act = top.string("projector_hidden_act", "gelu")
        return build(ModelSpec, {
            "checkpoint": checkpoint,
            "model_type": self.model_type,
            "display_name": checkpoint.rstrip("/").rsplit("/", 1)[-1] or checkpoint,
            "llm": {
                "name": text.data.get("_name_or_path") or f"{checkpoint} (language model, {text_type})",
                "params_b": params_b, "num_layers": layers, "hidden_size": hidden, "num_heads": heads,
                "num_kv_heads": kv_heads, "intermediate_size": intermediate, "vocab_size": vocab,
                "tie_word_embeddings": tied,
            },
            "vision": {
                "name": vision.data.get("_name_or_path") or f"{vision_type} {v_layers}x{v_hidden}, patch {patch}, {side}px",
                "image_size": side, "patch_size": patch, "num_layers": v_layers, "hidden_size": v_hidden,
                "num_heads": vision.positive_int("num_attention_heads"),
                "intermediate_size": vision.positive_int("intermediate_size"), "spatial_merge_size": 1,
            },
            "projector": f"mlp2x_{act}",
            "native_visual_tokens": native,
            "public_checkpoint": True,
            "source": source,
            "note": "; ".join(notes),
        })

    # -- tiny, offline ----------------------------------------------------------------------
    def _tiny_dict(self, tokenizer: Any) -> dict[str, Any]:
        return {
            "vision_config": {
                "model_type": "clip_vision_model", "hidden_size": 32, "intermediate_size": 64,
                "num_hidden_layers": 2, "num_attention_heads": 2, "image_size": TINY_SIDE, "patch_size": TINY_PATCH,
            },
            "text_config": {
                "model_type": "llama", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": len(tokenizer),
                "max_position_embeddings": 1024, "bos_token_id": tokenizer.bos_token_id,
                "eos_token_id": tokenizer.eos_token_id, "pad_token_id": tokenizer.pad_token_id,
            },
            "image_token_index": tokenizer.convert_tokens_to_ids("<image>"),
            "vision_feature_layer": -2,
            "vision_feature_select_strategy": "default",
        }

    def _image_processor(self, config: PretrainedConfig) -> Any:
        side = config.vision_config.image_size
        cls = compat.transformers_class(self.image_processor_class)
        return cls(size={"shortest_edge": side}, crop_size={"height": side, "width": side})

    def _processor(self, config: PretrainedConfig, tokenizer: Any) -> Any:
        cls = compat.transformers_class(self.processor_class)
        return cls(
            image_processor=self._image_processor(config), tokenizer=tokenizer,
            patch_size=config.vision_config.patch_size,
            vision_feature_select_strategy=config.vision_feature_select_strategy,
            num_additional_image_tokens=CLS_TOKENS.get(config.vision_config.model_type, 0),
        )

    # -- inputs and components ----------------------------------------------------------------
    def _image_layout(self, config: PretrainedConfig,
                      image_size: tuple[int, int] | None) -> tuple[int, tuple[int, ...], dict[str, Any]]:
        """(placeholder tokens, pixel_values shape per image, extra integer inputs per image)."""
        vision = config.vision_config
        side, patch = vision.image_size, vision.patch_size
        grid = side // patch
        strategy = config.vision_feature_select_strategy
        tokens = grid * grid + CLS_TOKENS.get(vision.model_type, 0) - (1 if strategy == "default" else 0)
        return tokens, (3, side, side), {}

    def dummy_inputs(self, config: PretrainedConfig, *, image_size: tuple[int, int] | None = None,
                     text_tokens: int = 50, batch_size: int = 1,
                     pixel_values_fake_mode: Any = None) -> dict[str, torch.Tensor]:
        require("torch", feature="building model inputs")
        import torch

        _check_counts(text_tokens, batch_size)
        check_image_size(image_size)
        image_token = compat.image_token_id(config)
        tokens, pixel_shape, extra = self._image_layout(config, image_size)
        text = filler_ids(text_tokens, config.text_config.vocab_size,
                          [image_token, config.text_config.pad_token_id or 0])
        row = text[:1] + [image_token] * tokens + text[1:]
        input_ids = torch.tensor([row] * batch_size, dtype=torch.long)
        inputs: dict[str, torch.Tensor] = {
            "input_ids": input_ids,
            "attention_mask": torch.ones_like(input_ids),
            "pixel_values": self._pixels((batch_size, *pixel_shape), pixel_values_fake_mode),
        }
        for key, value in extra.items():
            inputs[key] = torch.tensor([value] * batch_size, dtype=torch.long)
        return inputs



def _check_heads(text: Section, hidden: int, heads: int, kv_heads: int, head_dim: int) -> None:
    if heads > hidden:
        raise ValidationError(f"config.json {text.name('num_attention_heads')} {heads} exceeds hidden_size {hidden}",
                              field=text.name("num_attention_heads"), value=heads)
    if not text.has("head_dim") and hidden % heads:
        raise ValidationError(
            f"config.json {text.name('hidden_size')} {hidden} is not a multiple of num_attention_heads {heads}",
            field=text.name("hidden_size"), value=hidden,
        )
    if kv_heads > heads or heads % kv_heads:
        raise ValidationError(
            f"config.json {text.name('num_key_value_heads')} {kv_heads} must divide num_attention_heads {heads}",
            field=text.name("num_key_value_heads"), value=kv_heads,
        )
