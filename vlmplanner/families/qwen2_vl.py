"""Qwen2-VL (``model_type: qwen2_vl``): a native-resolution ViT, a 2×2 patch merger and Qwen2.

Images are not resized to a fixed square: each side is rounded to a multiple of patch × merge
(28 px), within min/max pixel bounds, and every 2×2 group of 14 px patches becomes one LLM token.
A 448×448 image therefore gives (448/14)² / 4 = 256 tokens; that reference side is what
``spec_from_config`` records as ``vision.image_size`` and ``native_visual_tokens``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from vlmplanner import compat
from vlmplanner.errors import InvalidTokenCountError, ValidationError
from vlmplanner.extras import available, require
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
from ._tiny import word_level_tokenizer
from .base import TokenFit
from .geometry import QWEN_MAX_PIXELS, QWEN_MIN_PIXELS, smart_resize
from .llava import _check_heads
from .vision import (
    CHECKPOINT_MAX_PIXELS,
    CHECKPOINT_MIN_PIXELS,
    QWEN_TEMPORAL_PATCH,
    VisionProfile,
    check_image_size,
    qwen_vit,
)

if TYPE_CHECKING:
    import torch
    from transformers import PretrainedConfig

__all__ = ["QWEN_REFERENCE_SIDE", "Qwen2VLFamily", "smart_resize"]

#: The image side (px) a Qwen spec's ``vision.image_size`` and ``native_visual_tokens`` refer to.
QWEN_REFERENCE_SIDE = 448
#: Qwen2VLImageProcessor's default pixel bounds (the arithmetic lives in .geometry).
MIN_PIXELS = QWEN_MIN_PIXELS
MAX_PIXELS = QWEN_MAX_PIXELS

_SPECIALS = ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")


class Qwen2VLFamily(HFFamily):
    """``qwen2_vl``: Qwen2VLForConditionalGeneration with Qwen2VLProcessor (images only)."""

    model_type: ClassVar[str] = "qwen2_vl"
    config_class: ClassVar[str] = "Qwen2VLConfig"
    model_class: ClassVar[str] = "Qwen2VLForConditionalGeneration"
    processor_class: ClassVar[str] = "Qwen2VLProcessor"
    text_type: ClassVar[str] = "qwen2_vl_text"
    vision_type: ClassVar[str] = "qwen2_vl_vision"
    tiny_prompt: ClassVar[str] = "USER: <|vision_start|><|image_pad|><|vision_end|> what is in the picture ? ASSISTANT:"
    seam: ClassVar[str | None] = "vlmplanner.pipeline.seams:QwenSeam"
    seam_inputs: ClassVar[frozenset[str]] = frozenset({"query"})
    #: the seam compresses the merged tokens after the patch merger (the projector)
    seam_stages: ClassVar[frozenset[str]] = frozenset({"post-projector"})
    llm_hooks: ClassVar[bool] = True
    token_shares: ClassVar[bool] = True   # native resolution: each image's count follows its size
    input_resize: ClassVar[bool] = True
    images_only: ClassVar[bool] = True   # the video processor needs torchvision (loaded by AutoProcessor with it)
    #: Qwen2.5-VL's ViT: window attention, RMSNorm and a gated MLP (Qwen2-VL: full attention)
    gated_vit: ClassVar[bool] = False
    #: (min, max) pixels of the released checkpoints' preprocessor_config.json: the token range
    checkpoint_pixel_bounds: ClassVar[tuple[int, int]] = (CHECKPOINT_MIN_PIXELS, CHECKPOINT_MAX_PIXELS)
    #: (min, max) pixels the tiny processor and the profiler's inputs use (the class defaults here)
    input_pixel_bounds: ClassVar[tuple[int, int]] = (MIN_PIXELS, MAX_PIXELS)

    # -- the cost model and the token rules ------------------------------------------------------
    def full_attention_layers(self, layers: int) -> int:
        """Vision layers with full attention (Qwen2-VL: all)."""
        return layers

    def vision_profile(self, spec: ModelSpec, image_size: tuple[int, int] | None) -> VisionProfile:
        v = spec.vision
        return qwen_vit(self.model_type, v.image_size, v.patch_size, v.num_layers, v.hidden_size,
                        v.intermediate_size, v.spatial_merge_size, spec.native_visual_tokens, image_size,
                        gated=self.gated_vit, full_layers=self.full_attention_layers(v.num_layers))

    def native_token_range(self, spec: ModelSpec) -> tuple[int, int]:
        """Native resolution: from the released checkpoints' min_pixels to their max_pixels."""
        v = spec.vision
        per_token = (v.patch_size * v.spatial_merge_size) ** 2
        low, high = self.checkpoint_pixel_bounds
        return max(1, low // per_token), high // per_token

    def llm_has_qkv_bias(self, spec: ModelSpec) -> bool:
        return True  # the Qwen2 decoder

    def image_marker(self, processor: Any) -> str:
        return "<|vision_start|><|image_pad|><|vision_end|>"

    #: Qwen2-VL / Qwen2.5-VL special token ids (identical in every released config).
    special_token_ids: ClassVar[dict[str, int]] = {
        "bos_token_id": 151643, "eos_token_id": 151645, "vision_start_token_id": 151652,
        "vision_end_token_id": 151653, "vision_token_id": 151654, "image_token_id": 151655,
        "video_token_id": 151656}

    def config_from_spec(self, spec: ModelSpec) -> dict[str, Any]:
        """The released configs' layout: M-RoPE splits head_dim/2 rotary pairs 1/4 time, the rest
        height and width; the special token ids every release uses."""
        head_dim = spec.llm.hidden_size // spec.llm.num_heads
        half = head_dim // 2
        rest = half - half // 4
        return {
            "model_type": spec.model_type, **text_config_numbers(spec), **self.special_token_ids,
            "rope_scaling": {"type": "mrope", "mrope_section": [half // 4, rest // 2, rest - rest // 2]},
            "vision_config": self._vision_config_from_spec(spec),
        }

    def _vision_config_from_spec(self, spec: ModelSpec) -> dict[str, Any]:
        vision = spec.vision
        if vision.intermediate_size % vision.hidden_size:
            raise ValidationError(
                f"Qwen2-VL's vision MLP is mlp_ratio x embed_dim; intermediate {vision.intermediate_size}"
                f" is not a multiple of {vision.hidden_size}", field="vision.intermediate_size",
                value=vision.intermediate_size,
            )
        return {**self._common_vision(spec), "embed_dim": vision.hidden_size, "hidden_size": spec.llm.hidden_size,
                "mlp_ratio": vision.intermediate_size // vision.hidden_size}

    def _common_vision(self, spec: ModelSpec) -> dict[str, Any]:
        vision = spec.vision
        return {"depth": vision.num_layers, "num_heads": vision.num_heads, "patch_size": vision.patch_size,
                "spatial_merge_size": vision.spatial_merge_size, "temporal_patch_size": QWEN_TEMPORAL_PATCH,
                "in_chans": 3}

    def fit_tokens(self, slug: str, token_rule: str, kind: str, spec: ModelSpec, k: int, *,
                   check_tokens: Any, config: Mapping[str, Any] | None = None, local: bool = False) -> TokenFit:
        """The merged grid follows each image, so k is checked against the reference image here and
        a grid rule per image by the seam."""
        side = spec.vision.image_size
        notes: list[str] = []
        if token_rule == "native":
            if k != spec.native_visual_tokens:
                raise InvalidTokenCountError(
                    f"{slug} does not compress: k must be {spec.native_visual_tokens}, the native count at the"
                    f" reference {side}x{side} image, not {k}", field="visual_tokens", value=k,
                )
        elif k > spec.native_visual_tokens:
            raise InvalidTokenCountError(
                f"{slug} cannot keep {k} visual tokens: {spec.checkpoint} produces {spec.native_visual_tokens}"
                f" at its reference {side}x{side} image", field="visual_tokens", value=k,
            )
        elif token_rule != "any":
            notes.append(f"{slug}: the {token_rule} rule is checked per image (Qwen's grid follows the image)")
        return TokenFit(k, None, 1, {}, tuple(notes))

    # -- config.json -> ModelSpec ----------------------------------------------------------------
    def _reference_image(self, patch: int, merge: int) -> tuple[int, int, str]:
        """(side, native tokens, note) of the reference image a spec's ``vision.image_size`` and
        ``native_visual_tokens`` describe: 448 px rounded to the merge grid."""
        factor = patch * merge
        side = max(factor, round(QWEN_REFERENCE_SIDE / factor) * factor)
        native = (side // patch) ** 2 // (merge * merge)
        return side, native, (f"vision.image_size {side} is a reference side: {self.model_type} takes any image,"
                              f" rounded to multiples of {factor} px; native_visual_tokens {native} ="
                              f" ({side}/{patch})² / {merge}² at a {side}x{side} image")

    def _vision_numbers(self, vision: Section) -> dict[str, int]:
        embed = vision.positive_int("embed_dim")
        ratio = vision.positive_number("mlp_ratio")
        return {"hidden_size": embed, "intermediate_size": int(embed * ratio)}

    def spec_from_config(self, config: Mapping[str, Any], *, checkpoint: str, source: str,
                         params_b: float | None = None) -> ModelSpec:
        self._check_model_type(config)
        top = Section(config, "")
        text_raw = sub_config(config, "text_config")
        # the original release keeps the LLM keys at the top level; later re-saves nest them
        text = (Section(text_raw, "text_config", TEXT_DEFAULTS[self.text_type], fallback=config) if text_raw
                else Section(config, "", TEXT_DEFAULTS[self.text_type]))
        vision = Section(sub_config(config, "vision_config"), "vision_config", VISION_DEFAULTS[self.vision_type])
        layers = text.positive_int("num_hidden_layers")
        hidden = text.positive_int("hidden_size")
        heads = text.positive_int("num_attention_heads")
        kv_heads = text.positive_int("num_key_value_heads", heads)
        intermediate = text.positive_int("intermediate_size")
        vocab = text.positive_int("vocab_size")
        tied = top.boolean("tie_word_embeddings", False) or Section(text_raw, "text_config").boolean(
            "tie_word_embeddings", False)
        _check_heads(text, hidden, heads, kv_heads, hidden // heads if hidden >= heads else 0)

        patch = vision.positive_int("patch_size")
        merge = vision.positive_int("spatial_merge_size")
        v_layers = vision.positive_int("depth")
        v_heads = vision.positive_int("num_heads")
        numbers = self._vision_numbers(vision)
        side, native, note = self._reference_image(patch, merge)
        notes = [note]
        if params_b is None:
            params_b = round_billions(llm_parameter_count(
                model_type=self.text_type, layers=layers, hidden=hidden, heads=heads, kv_heads=kv_heads,
                intermediate=intermediate, vocab=vocab, tied=tied,
            ))
            notes.append(f"llm params_b {params_b:g} counted from the config (language model with lm_head)")
        return build(ModelSpec, {
            "checkpoint": checkpoint,
            "model_type": self.model_type,
            "display_name": checkpoint.rstrip("/").rsplit("/", 1)[-1] or checkpoint,
            "llm": {
                "name": (text_raw.get("_name_or_path") or f"{checkpoint} (language model)"),
                "params_b": params_b, "num_layers": layers, "hidden_size": hidden, "num_heads": heads,
                "num_kv_heads": kv_heads, "intermediate_size": intermediate, "vocab_size": vocab,
                "tie_word_embeddings": tied,
            },
            "vision": {
                "name": "(built-in ViT)", "image_size": side, "patch_size": patch, "num_layers": v_layers,
                "num_heads": v_heads, "spatial_merge_size": merge, **numbers,
            },
            "projector": "patch_merger",
            "native_visual_tokens": native,
            "public_checkpoint": True,
            "source": source,
            "note": "; ".join(notes),
        })

    # -- tiny, offline ----------------------------------------------------------------------------
    def _tokenizer(self) -> Any:
        return word_level_tokenizer(_SPECIALS, {"image_token": "<|image_pad|>", "video_token": "<|video_pad|>"})

    def _tiny_vision(self) -> dict[str, Any]:
        return {"depth": 2, "embed_dim": 32, "hidden_size": 32, "mlp_ratio": 2, "num_heads": 2, "patch_size": 14,
                "spatial_merge_size": 2, "temporal_patch_size": 2}

    def _tiny_dict(self, tokenizer: Any) -> dict[str, Any]:
        ids = {token: tokenizer.convert_tokens_to_ids(token) for token in _SPECIALS}
        return {
            "vision_config": self._tiny_vision(),
            "text_config": {
                "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                "num_key_value_heads": 2, "vocab_size": len(tokenizer), "max_position_embeddings": 1024,
                # mrope_section sums to head_dim / 2 (head_dim 8): temporal, height, width
                "rope_parameters": {"rope_type": "default", "mrope_section": [1, 1, 2], "rope_theta": 10000.0},
                "bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
                "pad_token_id": tokenizer.pad_token_id,
            },
            "image_token_id": ids["<|image_pad|>"],
            "video_token_id": ids["<|video_pad|>"],
            "vision_start_token_id": ids["<|vision_start|>"],
            "vision_end_token_id": ids["<|vision_end|>"],
        }

    def _processor(self, config: PretrainedConfig, tokenizer: Any) -> Any:
        vision = config.vision_config
        image_processor = compat.transformers_class("Qwen2VLImageProcessorPil")(
            patch_size=vision.patch_size, merge_size=vision.spatial_merge_size,
            temporal_patch_size=vision.temporal_patch_size)
        return self._processor_cls()(image_processor=image_processor, tokenizer=tokenizer)

    def _load_processor(self, path: str, *, trust_remote_code: bool, **options: Any) -> Any:
        if available("torchvision"):
            return compat.transformers_class("AutoProcessor").from_pretrained(
                path, trust_remote_code=trust_remote_code, **options)
        # without torchvision there is no video processor: load the image-and-text processor
        return super()._load_processor(path, trust_remote_code=trust_remote_code, **options)

    # -- inputs and components ------------------------------------------------------------------------
    def dummy_inputs(self, config: PretrainedConfig, *, image_size: tuple[int, int] | None = None,
                     text_tokens: int = 50, batch_size: int = 1,
                     pixel_values_fake_mode: Any = None) -> dict[str, torch.Tensor]:
        """Inputs for one image of ``image_size`` (default 448×448) per row.

        The sequence is one text token, <|vision_start|>, the image placeholders, <|vision_end|>,
        then the other ``text_tokens - 1`` text tokens: the two delimiters come on top of
        ``text_tokens``, as in the processor's output.
        """
        require("torch", feature="building model inputs")
        import torch

        _check_counts(text_tokens, batch_size)
        check_image_size(image_size)
        vision = config.vision_config
        patch, merge, temporal = vision.patch_size, vision.spatial_merge_size, vision.temporal_patch_size
        low, high = self.input_pixel_bounds
        height, width = smart_resize(*(image_size or (QWEN_REFERENCE_SIDE, QWEN_REFERENCE_SIDE)),
                                     factor=patch * merge, min_pixels=low, max_pixels=high)
        grid_h, grid_w = height // patch, width // patch
        tokens = grid_h * grid_w // (merge * merge)
        specials = [config.image_token_id, config.video_token_id, config.vision_start_token_id,
                    config.vision_end_token_id]
        text = filler_ids(text_tokens, config.text_config.vocab_size, specials)
        row = text[:1] + [config.vision_start_token_id] + [config.image_token_id] * tokens \
            + [config.vision_end_token_id] + text[1:]
        input_ids = torch.tensor([row] * batch_size, dtype=torch.long)
        channels = getattr(vision, "in_channels", 3)
        return {
            "input_ids": input_ids,
            "attention_mask": torch.ones_like(input_ids),
            "mm_token_type_ids": (input_ids == config.image_token_id).long(),
            "image_grid_thw": torch.tensor([[1, grid_h, grid_w]] * batch_size, dtype=torch.long),
            "pixel_values": self._pixels((batch_size * grid_h * grid_w, channels * temporal * patch * patch),
                                         pixel_values_fake_mode),
        }

