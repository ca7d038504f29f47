"""InternVL (``model_type: internvl``, the transformers-format ``-hf`` checkpoints of InternVL3 and
later): InternViT on dynamic 448 px tiles, pixel shuffle, an MLP projector, a Qwen LLM.

An image is cut into a grid of 448x448 tiles whose aspect ratio is nearest the image's (1 to
``max_patches`` = 12 tiles, GotOcr2's ``crop_to_patches``, which InternVLProcessor turns on), plus a
thumbnail of the whole image when there is more than one tile. Each view goes through InternViT
((448/14)² = 1024 patches and a CLS token); the CLS is dropped and pixel shuffle stacks 2x2
neighbours on channels (``downsample_ratio`` 0.5): 256 tokens per view, ``image_seq_length``. The
projector is LayerNorm, Linear, GELU, Linear. The prompt wraps an image's tokens in ``<img>`` and
``</img>``.

A compressor runs on each view's 256 projected tokens, on their 16x16 grid (the seam,
``InternVLSeam``): k per view, as LLaVA-NeXT's crops. In-LLM pruning is offered (the LLM is a
plain Qwen2 / Qwen3 decoder).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from vlmplanner import compat
from vlmplanner.errors import InvalidTokenCountError, ValidationError
from vlmplanner.extras import require
from vlmplanner.schemas import ModelSpec, build

from ._config import TEXT_DEFAULTS, Section, counted_llm_params, round_billions, sub_config
from ._hf import HFFamily, _check_counts, filler_ids
from .base import TokenFit
from .geometry import tile_grid, tiled_views
from .llava import _check_heads
from .vision import VisionProfile, check_image_size, intern_vit

if TYPE_CHECKING:
    import torch
    from transformers import PretrainedConfig

__all__ = ["InternVLFamily"]

#: InternVisionConfig's defaults (transformers' InternVLVisionConfig): InternViT-300M at 448 px.
VISION_DEFAULTS: dict[str, Any] = {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16,
                                   "intermediate_size": 4096, "image_size": 448, "patch_size": 14}
#: The LLMs InternVL-hf checkpoints carry, by text model_type.
TEXT_TYPES = ("qwen2", "qwen3", "llama")
#: The released preprocessor_config.json's tile bounds (min_patches, max_patches).
TILE_BOUNDS = (1, 12)
STRATEGIES = ("default", "full")


def _square(section: Section, key: str) -> int:
    """``image_size`` / ``patch_size``: an int, or [height, width] with the two equal."""
    value = section.raw(key)
    if isinstance(value, (list, tuple)):
        if len(value) != 2 or value[0] != value[1]:
            raise ValidationError(f"config.json {section.name(key)} must be square, got {value!r}",
                                  field=section.name(key), value=value)
        return Section({key: value[0]}, section.where).positive_int(key)
    return section.positive_int(key)


class InternVLFamily(HFFamily):
    """``internvl``: InternVLForConditionalGeneration with InternVLProcessor (images only)."""

    model_type: ClassVar[str] = "internvl"
    config_class: ClassVar[str] = "InternVLConfig"
    model_class: ClassVar[str] = "InternVLForConditionalGeneration"
    processor_class: ClassVar[str] = "InternVLProcessor"
    image_processor_class: ClassVar[str] = "GotOcr2ImageProcessorPil"
    tiny_prompt: ClassVar[str] = "USER : <IMG_CONTEXT> what is in the picture ? ASSISTANT :"
    seam: ClassVar[str | None] = "vlmplanner.pipeline.seams:InternVLSeam"
    seam_inputs: ClassVar[frozenset[str]] = frozenset({"query"})
    #: the seam compresses the projected tokens (pixel shuffle needs the whole patch grid)
    seam_stages: ClassVar[frozenset[str]] = frozenset({"post-projector"})
    llm_hooks: ClassVar[bool] = True
    input_resize: ClassVar[bool] = False
    images_only: ClassVar[bool] = True
    tile_bounds: ClassVar[tuple[int, int]] = TILE_BOUNDS
    special_tokens: ClassVar[dict[str, str]] = {"start_image_token": "<img>", "end_image_token": "</img>",
                                                "context_image_token": "<IMG_CONTEXT>", "video_token": "<video>"}

    # -- the cost model and the token rules ------------------------------------------------------
    def _shuffle(self, spec: ModelSpec) -> int:
        return spec.vision.spatial_merge_size

    def reference_image(self, spec: ModelSpec) -> tuple[int, int]:
        """The image a spec's ``native_visual_tokens`` describes: 3x4 tiles (1344x1792 at 448 px),
        the most the released processor cuts, so a compressor's k / views per view fits every image."""
        side = spec.vision.image_size
        return 3 * side, 4 * side

    def vision_profile(self, spec: ModelSpec, image_size: tuple[int, int] | None) -> VisionProfile:
        v = spec.vision
        check_image_size(image_size)
        height, width = image_size or self.reference_image(spec)
        low, high = self.tile_bounds
        tiles = tile_grid(height, width, tile=v.image_size, min_tiles=low, max_tiles=high)
        views = tiled_views(height, width, tile=v.image_size, min_tiles=low, max_tiles=high)
        return intern_vit(self.model_type, v.image_size, v.patch_size, v.num_layers, v.hidden_size,
                          v.intermediate_size, self._shuffle(spec), views, (height, width), tiles)

    def native_token_range(self, spec: ModelSpec) -> tuple[int, int]:
        """One view (a single tile) to the most tiles plus the thumbnail."""
        per_view = self.crop_grid(spec)[0] * self.crop_grid(spec)[1]
        return per_view, per_view * (self.tile_bounds[1] + 1)

    def max_crops(self, config: Mapping[str, Any] | None, side: int) -> int:
        return self.tile_bounds[1] + 1

    def crop_grid(self, spec: ModelSpec) -> tuple[int, int]:
        """A view's token grid after pixel shuffle (16x16 at 448 px, patch 14, ratio 0.5)."""
        side = spec.vision.image_size // spec.vision.patch_size // self._shuffle(spec)
        return side, side

    def llm_has_qkv_bias(self, spec: ModelSpec) -> bool:
        return spec.llm.name.endswith("qwen2)")

    def llm_has_qk_norm(self, spec: ModelSpec) -> bool:
        return spec.llm.name.endswith("qwen3)")

    def fit_tokens(self, slug: str, token_rule: str, kind: str, spec: ModelSpec, k: int, *,
                   check_tokens: Any, config: Mapping[str, Any] | None = None, local: bool = False) -> TokenFit:
        """A pre-LLM compressor keeps k / views tokens of each view (the most views an image can
        have: the tiles plus the thumbnail); an in-LLM one keeps k of the image's tokens."""
        grid = self.crop_grid(spec)
        per_view = grid[0] * grid[1]
        views = self.max_crops(config, spec.vision.image_size)
        if token_rule == "native":
            if k != per_view * views:
                raise InvalidTokenCountError(
                    f"{slug} does not compress: k must be {per_view * views}, the native count at the reference"
                    f" image ({views} views of {per_view}), not {k}", field="visual_tokens", value=k)
            return TokenFit(per_view, grid, views, {"grid": grid}, ())
        if kind == "in-llm":
            if k > per_view * views:
                raise InvalidTokenCountError(f"{slug} cannot keep {k} visual tokens: {spec.checkpoint} gives at most"
                                             f" {per_view * views} per image", field="visual_tokens", value=k)
            return TokenFit(k, grid, views, {}, ())
        if k % views or k == 0 or k // views > per_view:
            lower, upper = (k // views) * views, (k // views + 1) * views
            raise InvalidTokenCountError(
                f"{slug} on {self.model_type} runs per view: k must be a multiple of {views} (the most views an"
                f" image has: {views - 1} tiles and a thumbnail) up to {per_view * views}, e.g."
                f" {f'{lower} or ' if lower else ''}{upper}; got {k}", field="visual_tokens", value=k)
        per = k // views
        try:
            check_tokens(per, per_view, grid)
        except InvalidTokenCountError as exc:
            raise InvalidTokenCountError(f"{exc.message} (per view: k={k} / {views} views = {per})",
                                         field="visual_tokens", value=k) from exc
        return TokenFit(per, grid, views, {"grid": grid},
                        (f"{self.model_type}: {per} tokens per view x up to {views} views",))

    # -- config.json -> ModelSpec --------------------------------------------------------------
    def spec_from_config(self, config: Mapping[str, Any], *, checkpoint: str, source: str,
                         params_b: float | None = None) -> ModelSpec:
        self._check_model_type(config)
        top = Section(config, "")
        text_raw = sub_config(config, "text_config")
        text_type = text_raw.get("model_type") or "qwen2"
        if text_type not in TEXT_TYPES:
            raise ValidationError(f"the internvl adapter supports language models {', '.join(TEXT_TYPES)};"
                                  f" config.json has text_config.model_type {text_type!r}",
                                  field="text_config.model_type", value=text_type)
        text = Section(text_raw, "text_config", TEXT_DEFAULTS[text_type])
        vision_raw = sub_config(config, "vision_config")
        vision_type = vision_raw.get("model_type") or "internvl_vision"
        if vision_type != "internvl_vision":
            raise ValidationError(f"the internvl adapter supports an internvl_vision tower; config.json has"
                                  f" vision_config.model_type {vision_type!r}", field="vision_config.model_type",
                                  value=vision_type)
        vision = Section(vision_raw, "vision_config", VISION_DEFAULTS)
        layers = text.positive_int("num_hidden_layers")
        hidden = text.positive_int("hidden_size")
        heads = text.positive_int("num_attention_heads")
        kv_heads = text.positive_int("num_key_value_heads", heads)
        default_head = hidden // heads if hidden >= heads else 0
        head_dim = text.positive_int("head_dim", default_head)
        intermediate = text.positive_int("intermediate_size")
        vocab = text.positive_int("vocab_size")
        # transformers ties lm_head by the composite config's flag (InternVLConfig: true unless set)
        tied = top.boolean("tie_word_embeddings", True)
        _check_heads(text, hidden, heads, kv_heads, head_dim)

        side = _square(vision, "image_size")
        patch = _square(vision, "patch_size")
        if patch > side:
            raise ValidationError(f"config.json vision_config.patch_size {patch} exceeds image_size {side}",
                                  field="vision_config.patch_size", value=patch)
        shuffle = self._shuffle_factor(top, side // patch)
        strategy = top.string("vision_feature_select_strategy", "default")
        if strategy != "default":
            raise ValidationError("config.json vision_feature_select_strategy must be 'default' (the CLS token"
                                  f" dropped before the pixel shuffle), got {strategy!r}",
                                  field="vision_feature_select_strategy", value=strategy)
        per_view = (side // patch) ** 2 // (shuffle * shuffle)
        views = self.tile_bounds[1] + 1
        given = top.positive_int("image_seq_length", per_view)
        if given != per_view:
            raise ValidationError(
                f"config.json image_seq_length {given} must be ({side}/{patch})² x downsample_ratio², {per_view}:"
                " the tokens one view gives", field="image_seq_length", value=given)
        v_hidden = vision.positive_int("hidden_size")
        hv_projected = v_hidden * shuffle * shuffle
        notes = [f"native_visual_tokens {per_view * views} = {views} views x ({side}/{patch})² / {shuffle}² at the"
                 f" reference {3 * side}x{4 * side} image (3x4 tiles and a thumbnail, the most the processor cuts);"
                 f" a {side}x{side} image is one view, {per_view} tokens; the projector maps {hv_projected} -> {hidden}"]
        llm = {"name": f"{text_raw.get('_name_or_path') or checkpoint} (language model, {text_type})",
               "num_layers": layers, "hidden_size": hidden, "num_heads": heads, "num_kv_heads": kv_heads,
               "head_dim": head_dim, "intermediate_size": intermediate, "vocab_size": vocab,
               "tie_word_embeddings": tied}
        if params_b is None:
            params_b = round_billions(counted_llm_params(llm, qkv_bias=text_type == "qwen2", qk_norm=text_type == "qwen3"))
            notes.append(f"llm params_b {params_b:g} counted from the config (language model with lm_head)")
        return build(ModelSpec, {
            "checkpoint": checkpoint,
            "model_type": self.model_type,
            "display_name": checkpoint.rstrip("/").rsplit("/", 1)[-1] or checkpoint,
            "llm": {**llm, "params_b": params_b},
            "vision": {
                "name": f"InternViT {vision.positive_int('num_hidden_layers')}x{v_hidden}, patch {patch}, {side}px",
                "image_size": side, "patch_size": patch, "num_layers": vision.positive_int("num_hidden_layers"),
                "hidden_size": v_hidden, "num_heads": vision.positive_int("num_attention_heads"),
                "intermediate_size": vision.positive_int("intermediate_size"), "spatial_merge_size": shuffle,
            },
            "projector": "pixel_shuffle_mlp",
            "native_visual_tokens": per_view * views,
            "public_checkpoint": True,
            "source": source,
            "note": "; ".join(notes),
        })

    @staticmethod
    def _shuffle_factor(top: Section, grid: int) -> int:
        """1 / ``downsample_ratio``: a whole number dividing the patch grid (2 for 0.5)."""
        ratio = top.positive_number("downsample_ratio", 0.5)
        factor = round(1 / ratio) if ratio <= 1 else 0
        if factor < 1 or abs(factor * ratio - 1) > 1e-9 or grid % factor:
            raise ValidationError(
                f"config.json downsample_ratio {ratio:g} must be 1/n for a whole n dividing the {grid}x{grid} patch"
                " grid (pixel shuffle stacks n x n neighbours)", field="downsample_ratio", value=ratio)
        return factor

    def config_from_spec(self, spec: ModelSpec) -> dict[str, Any]:
        llm, vision = spec.llm, spec.vision
        text_type = llm.name.rsplit(", ", 1)[-1].rstrip(")") if llm.name.endswith(")") else "qwen2"
        text = {"model_type": text_type if text_type in TEXT_TYPES else "qwen2", "hidden_size": llm.hidden_size,
                "num_hidden_layers": llm.num_layers, "num_attention_heads": llm.num_heads,
                "num_key_value_heads": llm.num_kv_heads, "intermediate_size": llm.intermediate_size,
                "vocab_size": llm.vocab_size, "tie_word_embeddings": llm.tie_word_embeddings,
                "head_dim": llm.head_dim}
        image_token = 151667 if llm.vocab_size > 151667 else llm.vocab_size - 1
        return {
            "model_type": self.model_type, "downsample_ratio": 1 / vision.spatial_merge_size,
            "image_seq_length": self.crop_grid(spec)[0] * self.crop_grid(spec)[1], "image_token_id": image_token,
            "vision_feature_layer": -1, "vision_feature_select_strategy": "default",
            "projector_hidden_act": "gelu", "tie_word_embeddings": llm.tie_word_embeddings, "text_config": text,
            "vision_config": {"model_type": "internvl_vision", "hidden_size": vision.hidden_size,
                              "num_hidden_layers": vision.num_layers, "num_attention_heads": vision.num_heads,
                              "intermediate_size": vision.intermediate_size, "image_size": vision.image_size,
                              "patch_size": vision.patch_size, "attention_bias": True, "use_mean_pooling": True},
        }

    # -- tiny, offline ----------------------------------------------------------------------
    def _tiny_dict(self, tokenizer: Any) -> dict[str, Any]:
        return {
            "vision_config": {"model_type": "internvl_vision", "hidden_size": 32, "intermediate_size": 64,
                              "num_hidden_layers": 2, "num_attention_heads": 2, "image_size": 112, "patch_size": 14,
                              "attention_bias": True},
            "text_config": {"model_type": "qwen2", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                            "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": len(tokenizer),
                            "max_position_embeddings": 1024, "bos_token_id": tokenizer.bos_token_id,
                            "eos_token_id": tokenizer.eos_token_id, "pad_token_id": tokenizer.pad_token_id},
            "image_seq_length": 16, "downsample_ratio": 0.5,
            "image_token_id": tokenizer.convert_tokens_to_ids(self.special_tokens["context_image_token"]),
        }

    def _processor(self, config: PretrainedConfig, tokenizer: Any) -> Any:
        side = config.vision_config.image_size[0]
        image_processor = compat.transformers_class(self.image_processor_class)(
            size={"height": side, "width": side}, crop_to_patches=True, min_patches=self.tile_bounds[0],
            max_patches=self.tile_bounds[1])
        return self._processor_cls()(image_processor=image_processor, tokenizer=tokenizer,
                                     image_seq_length=config.image_seq_length)

    # -- inputs and components ----------------------------------------------------------------
    def dummy_inputs(self, config: PretrainedConfig, *, image_size: tuple[int, int] | None = None,
                     text_tokens: int = 50, batch_size: int = 1,
                     pixel_values_fake_mode: Any = None) -> dict[str, torch.Tensor]:
        """One image as the processor lays it out: ``<img>``, 256 tokens per view, ``</img>``; the
        views (tiles and thumbnail) stacked in ``pixel_values``."""
        require("torch", feature="building model inputs")
        import torch

        _check_counts(text_tokens, batch_size)
        check_image_size(image_size)
        side = config.vision_config.image_size[0]
        height, width = image_size or (3 * side, 4 * side)     # the reference image (reference_image)
        low, high = self.tile_bounds
        views = tiled_views(height, width, tile=side, min_tiles=low, max_tiles=high)
        image = compat.image_token_id(config)
        tokens = config.image_seq_length * views
        vocab = config.text_config.vocab_size
        start, end = filler_ids(2, vocab, [image, config.text_config.pad_token_id or 0])
        text = filler_ids(text_tokens, vocab, [image, start, end, config.text_config.pad_token_id or 0])
        row = text[:1] + [start] + [image] * tokens + [end] + text[1:]
        input_ids = torch.tensor([row] * batch_size, dtype=torch.long)
        return {
            "input_ids": input_ids,
            "attention_mask": torch.ones_like(input_ids),
            "pixel_values": self._pixels((batch_size * views, 3, side, side), pixel_values_fake_mode),
        }

