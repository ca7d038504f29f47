"""The family seams: where a compressor sits between a VLM's vision side and its LLM (imports torch).

A seam does two things for a pre-LLM compressor:

1. **Processor side** -- :meth:`Seam.placeholders` says how many image placeholders the processor
   must emit for an image (the pipeline's processor is the model's own, with ``replace_image_token``
   overridden to ask the seam), so the prompt holds exactly the tokens the LLM will receive.
2. **Model side** -- :meth:`Seam.prepare` runs the vision tower, collects what the compressor needs
   (its ``required_inputs``), compresses, and hands the LLM the result through the model's own
   ``mm_encoder_outputs`` argument, which ``forward`` and ``generate`` both accept; the model itself
   is not modified.

Per family:

* ``llava``: CLIP features of layer ``vision_feature_layer`` (-2, CLS dropped) are compressed before
  the projector (``stage`` pre-projector or either) or after it (post-projector), k tokens per image.
* ``llava_next``: the same, per crop (base view and every tile, each a 24x24 grid on LLaVA-1.6) with
  k / crops tokens each; the tile tokens are laid out in the un-padded tile grid's row order, each
  row followed by the model's ``image_newline`` token, as LLaVA-NeXT packs them.
* ``qwen2_vl`` / ``qwen2_5_vl``: the merged (2x2) tokens after the patch merger are compressed per
  image, and their ``positions`` become the M-RoPE ids (temporal = start, height/width = start +
  the rounded row/column in the merged grid); text after the image keeps its native positions.
  ``qwen3_vl``: the same, and each DeepStack level keeps the kept tokens' grid cells.
* ``internvl``: each view's (tile's or thumbnail's) 256 projected tokens are compressed to k / views
  on their 16x16 grid; the prompt wraps an image's kept tokens in ``<img>`` / ``</img>``.
* ``gemma3``: the 256 pooled, projected tokens of each image are compressed on their 16x16 grid,
  k placeholders wrapped in ``<start_of_image>`` / ``<end_of_image>``.

In-LLM compressors (``fastv``) leave the processor and the features alone and prune inside the LLM
(:mod:`vlmplanner.pipeline.inllm`). ``none`` runs the model's own path.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

from vlmplanner import compat
from vlmplanner.compressors import CompressionContext, Compressor, InLLMCompressor
from vlmplanner.errors import InvalidTokenCountError, ValidationError
from vlmplanner.extras import require
from vlmplanner.families.geometry import pooled_grid

from .inllm import InLLMHooks, image_runs
from .resolve import RunPlan
from .vision import multi_layer_indices, run_clip_tower

if TYPE_CHECKING:
    import torch
    from torch import Tensor
else:  # a missing torch is one MissingExtraError naming the extra
    torch = require("torch", feature="the pipeline's seams")
    Tensor = torch.Tensor

__all__ = ["Gemma3Seam", "InternVLSeam", "LlavaNextSeam", "LlavaSeam", "Qwen3Seam", "QwenSeam", "Seam", "anyres_unpadded_region",
           "make_seam", "pack_anyres"]

QueryFn = Callable[[list[int]], Tensor]


class Seam:
    """The seam of one model and compressor. This base class is the native path (``none``) and the
    in-LLM path; the subclasses add the pre-LLM compression of each family."""

    def __init__(self, model: Any, compressor: Compressor, plan: RunPlan) -> None:
        self.model = model
        self.compressor = compressor
        self.plan = plan
        self.config = model.config
        self.image_token_id = compat.image_token_id(self.config)
        self.stats: dict[str, float] = {}
        self.notes: list[str] = list(plan.notes)
        self.hooks: InLLMHooks | None = None
        self.grid: tuple[int, int] = plan.grid or (0, 0)     # the token grid a family's seam compresses on
        self.needs: set[str] = set(compressor.required_inputs) if self.compresses_features else set()
        if self.compresses_features:                 # fails here, at load, on a transformers without it
            compat.check_encoder_outputs(model)
        if isinstance(compressor, InLLMCompressor):
            compressor.share = plan.share          # a share: each image's own k, in the hooks' schedule
            self.hooks = InLLMHooks(compat.vlm_part(model, "language_model"), compressor, self.image_token_id)

    @property
    def compresses_features(self) -> bool:
        """True when the processor emits k placeholders and the seam supplies the features."""
        return not self.plan.native and not self.plan.in_llm

    def close(self) -> None:
        if self.hooks is not None:
            self.hooks.remove()
            self.hooks = None

    def reset_stats(self) -> None:
        self.stats = {}
        if self.hooks is not None:
            self.hooks.stats = {"compressor_s": 0.0}

    def _timed(self, name: str, start: float) -> None:
        self.stats[name] = self.stats.get(name, 0.0) + time.perf_counter() - start

    def _compressed(self, batch: dict[str, Any], tokens: Tensor, rows: list[int], query: QueryFn) -> dict[str, Any]:
        """The model's keyword arguments once ``tokens [views, N, D]`` (projected, on the seam's
        ``grid``; ``rows``: each view's prompt) are compressed: the batch without its pixels, and
        the kept tokens as one tensor (Gemma 3 and InternVL read it so)."""
        query_vectors = None
        if "query" in self.needs:
            start = time.perf_counter()
            query_vectors = query(rows)
            self._timed("query_s", start)
        start = time.perf_counter()
        out = self.compressor.compress(tokens, CompressionContext(self.grid, query=query_vectors))
        self._timed("compressor_s", start)
        kwargs = {key: value for key, value in batch.items() if key != "pixel_values"}
        kwargs.update(compat.encoder_outputs(self.model, list(out.features), joined=True))
        return kwargs

    # -- processor side ----------------------------------------------------------------------
    def placeholders(self, image_inputs: dict[str, Any], index: int) -> int | None:
        """Image placeholders for image ``index`` of a processor call; None: the processor's own count."""
        return None

    def placeholder_text(self, processor: Any, count: int) -> str:
        """What the prompt holds for an image of ``count`` placeholders (the processor's image token,
        repeated; a family that wraps its images says how)."""
        return str(processor.image_token) * count

    # -- model side ----------------------------------------------------------------------------
    def prepare(self, batch: dict[str, Any], images_per_row: list[int], query: QueryFn) -> dict[str, Any]:
        """The model's keyword arguments for this processed batch (``forward`` and ``generate``)."""
        if self.hooks is not None:
            ids = batch["input_ids"]
            counts = [end - start for row in (ids == self.image_token_id)
                      for start, end in image_runs(row)]
            self.hooks.check_tokens(counts)
        return dict(batch)

    @contextmanager
    def session(self, model_kwargs: dict[str, Any]) -> Iterator[None]:
        """Active while the model runs on ``model_kwargs`` (in-LLM hooks, M-RoPE positions)."""
        context = self.hooks.session(model_kwargs["input_ids"]) if self.hooks is not None else nullcontext()
        with context:
            yield
        if self.hooks is not None:
            self.stats["compressor_s"] = self.stats.get("compressor_s", 0.0) + self.hooks.stats["compressor_s"]
            self.hooks.stats["compressor_s"] = 0.0

    def llm_tokens_seen(self) -> list[tuple[int, int]]:
        """(layer, tokens) the in-LLM hooks saw at the last prefill (empty for other seams)."""
        return list(self.hooks.seen) if self.hooks is not None else []


class LlavaSeam(Seam):
    """``llava``: compress the CLIP features of each image before or after the projector."""

    def __init__(self, model: Any, compressor: Compressor, plan: RunPlan) -> None:
        super().__init__(model, compressor, plan)
        config = self.config
        vision = config.vision_config
        self.grid = plan.grid or (vision.image_size // vision.patch_size,) * 2
        self.feature_layer = config.vision_feature_layer
        self.drop_cls = config.vision_feature_select_strategy == "default"
        needs = set(compressor.required_inputs) if self.compresses_features else set()
        self.needs = needs
        self.before_projector = plan.card.stage in ("pre-projector", "either")
        self.cls_layer: int | None = None
        self.full_width = False
        if needs & {"cls_attention", "keys"}:
            if getattr(vision, "model_type", "clip_vision_model") != "clip_vision_model" or not self.drop_cls:
                raise ValidationError(
                    f"{plan.compressor} needs the [CLS] attention of a CLIP tower with the 'default' strategy;"
                    f" this model has {getattr(vision, 'model_type', '?')!r} with"
                    f" {config.vision_feature_select_strategy!r}", field="compressor", value=plan.compressor,
                )
            if plan.compressor in ("prumerge", "prumerge+"):  # their paper hooks the last layer's full q / k
                self.cls_layer, self.full_width = -1, True
            else:
                self.cls_layer = self.feature_layer if isinstance(self.feature_layer, int) else -2
        self.multi_layers: tuple[int, ...] | None = None
        if "multi_layer_features" in needs:
            self.multi_layers = multi_layer_indices(vision.num_hidden_layers)
            if vision.num_hidden_layers != 24:
                self.notes.append(
                    f"{plan.compressor}: the vision tower has {vision.num_hidden_layers} layers, so the multi-layer"
                    f" features are hidden states {list(self.multi_layers)} (the paper's 12, 16, 22, 23 of 24,"
                    " at the same fractions of the depth)")

    @property
    def crop_tokens(self) -> int:
        return self.plan.compressor_tokens

    def placeholders(self, image_inputs: dict[str, Any], index: int) -> int | None:
        return self.crop_tokens if self.compresses_features else None

    # -- shared by LLaVA and LLaVA-NeXT -------------------------------------------------------
    def _crops(self, batch: dict[str, Any]) -> tuple[Tensor, list[int]]:
        """All crops ``[C, 3, H, W]`` and how many belong to each image."""
        pixels = batch["pixel_values"]
        return pixels, [1] * pixels.shape[0]

    def _compress_crops(self, pixels: Tensor, crop_rows: list[int], query: QueryFn) -> Any:
        """Compressed, projected tokens ``[C, k, D]`` and their positions ``[C, k, 2]``."""
        tower = compat.vlm_part(self.model, "vision_tower")
        start = time.perf_counter()
        context_before = self.stats.get("context_s", 0.0)
        outputs = run_clip_tower(
            tower, pixels.to(device=tower.device, dtype=tower.dtype), feature_layer=self.feature_layer,
            drop_cls=self.drop_cls, cls_layer=self.cls_layer, full_width=self.full_width,
            want_keys="keys" in self.needs, multi_layers=self.multi_layers, timings=self.stats)
        self._timed("vision_s", start)
        self.stats["vision_s"] -= self.stats.get("context_s", 0.0) - context_before   # the tower alone
        query_vectors = None
        if "query" in self.needs:
            start = time.perf_counter()
            query_vectors = query(crop_rows)
            self._timed("query_s", start)
        features = outputs.features
        context = CompressionContext(self.grid, cls_attention=outputs.cls_attention, keys=outputs.keys,
                                     query=query_vectors, multi_layer_features=outputs.multi_layer_features)
        projector = compat.vlm_part(self.model, "projector")
        if not self.before_projector:
            start = time.perf_counter()
            features = projector(features)
            self._timed("projector_s", start)
        start = time.perf_counter()
        out = self.compressor.compress(features, context)
        self._timed("compressor_s", start)
        tokens = out.features
        if self.before_projector:
            start = time.perf_counter()
            tokens = projector(tokens.to(dtype=next(projector.parameters()).dtype))
            self._timed("projector_s", start)
        return tokens, out.positions

    def prepare(self, batch: dict[str, Any], images_per_row: list[int], query: QueryFn) -> dict[str, Any]:
        if not self.compresses_features:
            return super().prepare(batch, images_per_row, query)
        pixels, crops = self._crops(batch)
        image_rows = [row for row, n in enumerate(images_per_row) for _ in range(n)]
        crop_rows = [row for row, n in zip(image_rows, crops) for _ in range(n)]
        tokens, positions = self._compress_crops(pixels, crop_rows, query)
        features = self._pack(tokens, positions, crops, batch)
        kwargs = {key: value for key, value in batch.items()
                  if key not in ("pixel_values", "image_sizes")}
        kwargs.update(compat.encoder_outputs(self.model, features))
        return kwargs

    def _pack(self, tokens: Tensor, positions: Tensor, crops: list[int], batch: dict[str, Any]) -> list[Tensor]:
        return list(tokens)


def anyres_unpadded_region(image_size: Sequence[int], rows: int, cols: int) -> tuple[int, int, int, int]:
    """(row0, row1, col0, col1) of a ``rows`` x ``cols`` tile-feature grid that LLaVA-NeXT keeps for an
    image of ``(height, width)`` (transformers' ``unpad_image``)."""
    height, width = int(image_size[0]), int(image_size[1])
    if width / height > cols / rows:
        new_height = int(round(height * (cols / width), 7))
        padding = (rows - new_height) // 2
        return padding, rows - padding, 0, cols
    new_width = int(round(width * (rows / height), 7))
    padding = (cols - new_width) // 2
    return 0, rows, padding, cols - padding


def pack_anyres(tiles: Tensor, positions: Tensor, tile_grid: tuple[int, int], grid: tuple[int, int],
                image_size: Sequence[int], newline: Tensor, lines: int | None = None) -> Tensor:
    """Lay compressed tile tokens out as LLaVA-NeXT does: the rows of the un-padded tile-feature grid,
    each followed by ``newline``.

    ``tiles [n, k, D]`` and ``positions [n, k, 2]`` (row, col in each tile's ``grid``) for the
    ``tile_grid`` (rows, cols) of tiles in raster order. A token belongs to the feature row of its
    position (rounded down; tokens in the padding go to the nearest kept row), so every un-padded
    row gets its newline whatever was kept: ``n·k + rows`` tokens in all. ``lines``: fewer newline
    rows than the un-padded grid has (LLaVA-OneVision's pooled grid), the kept rows spread evenly
    over them.
    """
    tile_rows, tile_cols = tile_grid
    g_h, g_w = grid
    total_rows, total_cols = tile_rows * g_h, tile_cols * g_w
    r0, r1, _, _ = anyres_unpadded_region(image_size, total_rows, total_cols)
    n, k, dim = tiles.shape
    offsets = torch.tensor([[i * g_h, j * g_w] for i in range(tile_rows) for j in range(tile_cols)],
                           dtype=torch.float64, device=positions.device)
    where = positions.to(torch.float64) + offsets[:n, None, :]                   # [n, k, 2] in the full grid
    bucket = where[..., 0].floor().clamp(r0, r1 - 1) - r0
    rows = r1 - r0 if lines is None else lines
    if rows != r1 - r0:
        bucket = (bucket * rows / (r1 - r0)).floor()
    keys = (bucket * (total_cols + 1) + where[..., 1]).reshape(-1)
    ends = torch.arange(rows, dtype=torch.float64, device=positions.device) * (total_cols + 1) + total_cols
    order = torch.argsort(torch.cat([keys, ends]), stable=True)
    features = torch.cat([tiles.reshape(n * k, dim), newline.to(tiles)[None].expand(rows, dim)], dim=0)
    return features[order.to(features.device)]


class LlavaNextSeam(LlavaSeam):
    """``llava_next``: compress every crop (base view and tiles) to k / crops tokens; newlines kept."""

    def __init__(self, model: Any, compressor: Compressor, plan: RunPlan) -> None:
        super().__init__(model, compressor, plan)
        self.side = self.config.vision_config.image_size
        self.pinpoints = [list(p) for p in self.config.image_grid_pinpoints]

    def tile_grid(self, image_size: Sequence[int]) -> tuple[int, int]:
        return compat.anyres_grid_shape(image_size, self.pinpoints, self.side)

    def layout(self, image_size: Sequence[int]) -> tuple[int, int]:
        """(crops, newline tokens) of an image of ``(height, width)``."""
        rows, cols = self.tile_grid(image_size)
        r0, r1, _, _ = anyres_unpadded_region(image_size, rows * self.grid[0], cols * self.grid[1])
        return 1 + rows * cols, r1 - r0

    def placeholders(self, image_inputs: dict[str, Any], index: int) -> int | None:
        if not self.compresses_features:
            return None
        size = image_inputs["image_sizes"][index]
        size = size.tolist() if hasattr(size, "tolist") else list(size)
        crops, newlines = self.layout(size)
        if crops > self.plan.crops:
            raise InvalidTokenCountError(
                f"an image of {size[0]}x{size[1]} gives {crops} crops, more than the {self.plan.crops} k was"
                " divided by", field="visual_tokens", value=self.plan.visual_tokens,
            )
        return crops * self.crop_tokens + newlines

    def _layouts(self, batch: dict[str, Any]) -> list[tuple[int, int]]:
        """(crops, newline tokens) of each image of the batch."""
        return [self.layout(size) for size in batch["image_sizes"].tolist()]

    def _crops(self, batch: dict[str, Any]) -> tuple[Tensor, list[int]]:
        pixels = batch["pixel_values"]
        crops = [crops for crops, _ in self._layouts(batch)]
        if pixels.dim() == 5:
            pixels = torch.cat([p[:c] for p, c in zip(pixels, crops)], dim=0)
        return pixels, crops

    def _pack(self, tokens: Tensor, positions: Tensor, crops: list[int], batch: dict[str, Any]) -> list[Tensor]:
        newline = compat.vlm_part(self.model, "image_newline")
        out = []
        start = 0
        for size, (count, lines) in zip(batch["image_sizes"].tolist(), self._layouts(batch)):
            image_tokens, image_positions = tokens[start:start + count], positions[start:start + count]
            start += count
            if count == 1:                    # a base view alone: its tokens and one newline
                out.append(torch.cat([image_tokens[0], newline.to(image_tokens)[None]], dim=0))
                continue
            tiles = pack_anyres(image_tokens[1:], image_positions[1:], self.tile_grid(size), self.grid, size,
                                newline, lines)
            out.append(torch.cat([image_tokens[0], tiles], dim=0))
        return out


class LlavaOnevisionSeam(LlavaNextSeam):
    """``llava_onevision``: LLaVA-NeXT's per-crop compression; the compressor stands in for the
    model's own pooling of large tile grids, so the newline rows are the rows that pooling would
    keep. In a prompt with several images the model encodes each image's base view only."""

    def __init__(self, model: Any, compressor: Compressor, plan: RunPlan) -> None:
        from vlmplanner.families.llava_onevision import max_tiles_of

        super().__init__(model, compressor, plan)
        self.max_tiles = max_tiles_of(self.config.vision_aspect_ratio)

    def layout(self, image_size: Sequence[int], *, tiled: bool = True) -> tuple[int, int]:
        """(crops, newline tokens) of an image of ``(height, width)``; untiled: the base view and one newline."""
        if not tiled:
            return 1, 1
        rows, cols = self.tile_grid(image_size)
        r0, r1, c0, c1 = anyres_unpadded_region(image_size, rows * self.grid[0], cols * self.grid[1])
        lines, _ = pooled_grid(r1 - r0, c1 - c0, grid=self.grid[0], max_tiles=self.max_tiles)
        return 1 + rows * cols, lines

    @staticmethod
    def _tiled(images: Any, count: int) -> list[bool]:
        """Per image: is it the only image of its prompt (``batch_num_images``, a list or tensor), so tiled?"""
        if images is None:
            return [True] * count
        return [n == 1 for n in (int(v) for v in images) for _ in range(n)]

    def placeholders(self, image_inputs: dict[str, Any], index: int) -> int | None:
        if not self.compresses_features:
            return None
        sizes = image_inputs["image_sizes"]
        if not self._tiled(image_inputs.get("batch_num_images"), len(sizes))[index]:
            return self.crop_tokens + 1
        return super().placeholders(image_inputs, index)

    def _layouts(self, batch: dict[str, Any]) -> list[tuple[int, int]]:
        sizes = batch["image_sizes"].tolist()
        tiled = self._tiled(batch.get("batch_num_images"), len(sizes))
        return [self.layout(size, tiled=t) for size, t in zip(sizes, tiled)]


class QwenSeam(Seam):
    """``qwen2_vl`` / ``qwen2_5_vl``: compress the merged tokens per image; M-RoPE from positions."""

    def __init__(self, model: Any, compressor: Compressor, plan: RunPlan) -> None:
        super().__init__(model, compressor, plan)
        self.merge = int(self.config.vision_config.spatial_merge_size)
        self._positions: list[Tensor] | None = None
        self._by_tokens: dict[int, Compressor] = {}
        self._prepared: tuple[Any, list[Tensor]] | None = None
        self._unpatch: Any = None
        if self.compresses_features:
            self._unpatch = compat.patch_rope_index(compat.vlm_part(model, "inner_model"), self._rope_index_or_none)

    def _compressor_for(self, k: int) -> Compressor:
        """The plan's compressor keeping ``k`` tokens (built once per k; a share's k follows the image)."""
        if k == self.compressor.visual_tokens:
            return self.compressor
        if k not in self._by_tokens:
            from vlmplanner.compressors import get_compressor

            options = {key: v for key, v in self.plan.compressor_options.items() if key != "grid"}
            built = get_compressor(self.plan.compressor, k, model_type=self.plan.family, **options)
            if isinstance(built, torch.nn.Module):
                built.to(self.model.device).eval()
            self._by_tokens[k] = built
        return self._by_tokens[k]

    def _rope_index_or_none(self, *args: Any, **kwargs: Any) -> Any:
        """Compressed positions while a session with compressed features runs; else None (the
        model's own)."""
        return None if self._positions is None else self.rope_index(*args, **kwargs)

    def close(self) -> None:
        if self._unpatch is not None:
            self._unpatch()
            self._unpatch = None
        super().close()

    def merged_grid(self, thw: Sequence[int]) -> tuple[int, int]:
        t, h, w = (int(v) for v in thw)
        if t != 1:
            raise ValidationError("the Qwen seam compresses still images (one temporal patch), not video",
                                  field="images", value=t)
        return h // self.merge, w // self.merge

    def placeholders(self, image_inputs: dict[str, Any], index: int) -> int | None:
        if not self.compresses_features:
            return None
        grid = self.merged_grid(image_inputs["image_grid_thw"][index].tolist())
        native = grid[0] * grid[1]
        if self.plan.card.token_rule == "native":
            return native
        k = self.plan.tokens_for(native)       # k, or the share of this image's own tokens
        if k > native:
            raise InvalidTokenCountError(
                f"{self.plan.compressor} cannot keep {k} visual tokens: an image of {grid[0]}x{grid[1]} merged"
                f" tokens gives only {native}; use a larger image or a smaller k", field="visual_tokens", value=k,
            )
        self.plan.card.check_tokens(k, native, grid)
        return k

    def prepare(self, batch: dict[str, Any], images_per_row: list[int], query: QueryFn) -> dict[str, Any]:
        if not self.compresses_features:
            return super().prepare(batch, images_per_row, query)
        base = compat.vlm_part(self.model, "inner_model")
        thw = batch["image_grid_thw"]
        start = time.perf_counter()
        pixels = batch["pixel_values"].to(device=compat.vlm_part(self.model, "vision_tower").device)
        merged = self._encode(base, pixels, thw)
        self._timed("vision_s", start)
        image_rows = [row for row, n in enumerate(images_per_row) for _ in range(n)]
        query_vectors = None
        if "query" in self.needs:
            start = time.perf_counter()
            query_vectors = query(image_rows)
            self._timed("query_s", start)
        grids = [self.merged_grid(t) for t in thw.tolist()]
        features: list[Tensor | None] = [None] * len(grids)
        positions: list[Tensor | None] = [None] * len(grids)
        by_grid: dict[tuple[int, int], list[int]] = {}
        for i, grid in enumerate(grids):
            by_grid.setdefault(grid, []).append(i)
        for grid, members in by_grid.items():
            stacked = torch.stack([merged[i] for i in members])
            context = CompressionContext(grid, query=None if query_vectors is None else query_vectors[members])
            compressor = self.compressor
            if self.plan.card.token_rule == "native":     # `none` keeps each image's own count
                compressor = type(compressor)(grid[0] * grid[1])
            elif self.plan.share is not None:              # a share: k follows this image's grid
                compressor = self._compressor_for(self.plan.tokens_for(grid[0] * grid[1]))
            start = time.perf_counter()
            out = compressor.compress(stacked, context)
            self._timed("compressor_s", start)
            for j, i in enumerate(members):
                features[i] = out.features[j]
                positions[i] = torch.floor(out.positions[j] + 0.5).to(torch.long)
        kwargs = {key: value for key, value in batch.items() if key != "pixel_values"}
        kept = [p for p in positions if p is not None]
        kwargs.update(self._encoder_kwargs([f for f in features if f is not None], kept, grids))
        self._prepared = (kwargs[compat.ENCODER_OUTPUTS], kept)
        return kwargs

    def _encode(self, base: Any, pixels: Tensor, thw: Tensor) -> Sequence[Tensor]:
        """The merged features of each image (the vision tower and the patch merger)."""
        return compat.image_features(base, pixels, thw)  # type: ignore[no-any-return]

    def _encoder_kwargs(self, features: list[Tensor], positions: list[Tensor],
                        grids: list[tuple[int, int]]) -> dict[str, Any]:
        """What hands the model its compressed image features."""
        return compat.encoder_outputs(self.model, features)

    @contextmanager
    def session(self, model_kwargs: dict[str, Any]) -> Iterator[None]:
        prepared = self._prepared
        if prepared is not None and model_kwargs.get(compat.ENCODER_OUTPUTS) is prepared[0]:
            self._positions = prepared[1]
        try:
            with super().session(model_kwargs):
                yield
        finally:
            self._positions = None
            self._prepared = None

    def rope_index(self, input_ids: Tensor, mm_token_type_ids: Tensor, image_grid_thw: Tensor | None = None,
                   video_grid_thw: Tensor | None = None, attention_mask: Tensor | None = None,
                   **_: Any) -> tuple[Tensor, Tensor]:
        """transformers' ``get_rope_index`` for compressed images: each image's kept tokens at
        (start, start + row, start + col) of the merged grid; text after an image resumes where the
        uncompressed image would have ended, so text positions are unchanged."""
        if video_grid_thw is not None:
            raise ValidationError("the Qwen seam does not compress video", field="videos", value=None)
        assert self._positions is not None and image_grid_thw is not None
        positions = iter(self._positions)
        grids = iter(image_grid_thw.tolist())
        position_ids = torch.zeros(3, input_ids.shape[0], input_ids.shape[1], dtype=input_ids.dtype,
                                   device=input_ids.device)
        deltas = []
        for row in range(input_ids.shape[0]):
            types = mm_token_type_ids[row]
            ids = input_ids[row]
            if attention_mask is not None:
                keep = attention_mask[row].bool()
                types, ids = types[keep], ids[keep]
            current = 0
            parts = []
            for kind, group in itertools.groupby(types.tolist()):
                count = len(list(group))
                if kind == 0:
                    parts.append(torch.arange(count, device=input_ids.device).view(1, -1).expand(3, -1) + current)
                    current += count
                    continue
                if kind != 1:
                    raise ValidationError("the Qwen seam does not compress video", field="videos", value=None)
                pos = next(positions).to(input_ids.device)
                grid_h, grid_w = self.merged_grid(next(grids))
                if pos.shape[0] != count:
                    raise ValidationError(f"an image has {count} placeholders but {pos.shape[0]} compressed tokens",
                                          field="input_ids", value=count)
                parts.append(torch.stack([torch.full_like(pos[:, 0], current), pos[:, 0] + current,
                                          pos[:, 1] + current]))
                current += max(grid_h, grid_w)
            llm = torch.cat(parts, dim=1).to(position_ids.dtype)
            if attention_mask is not None:
                position_ids[:, row, attention_mask[row].bool()] = llm
            else:
                position_ids[:, row] = llm
            deltas.append(int(llm.max()) + 1 - len(ids))
        return position_ids, torch.tensor(deltas, device=input_ids.device).unsqueeze(1)


class Qwen3Seam(QwenSeam):
    """``qwen3_vl`` / ``qwen3_vl_moe``: Qwen's seam, and DeepStack follows the compressor.

    Qwen3-VL adds features from three ViT layers to the visual positions of its first LLM layers,
    one row per visual token. A compressed image keeps, at each level, the rows of the grid cells
    its kept tokens sit on (``positions`` rounded, as for M-RoPE): exact for a compressor that
    selects tokens; for one that merges them, the cell nearest the merged token's centroid.
    """

    def __init__(self, model: Any, compressor: Compressor, plan: RunPlan) -> None:
        super().__init__(model, compressor, plan)
        self._deepstack: Sequence[Sequence[Tensor]] = ()

    def _encode(self, base: Any, pixels: Tensor, thw: Tensor) -> Sequence[Tensor]:
        merged, self._deepstack = compat.deepstack_features(base, pixels, thw)
        return merged  # type: ignore[no-any-return]

    def _encoder_kwargs(self, features: list[Tensor], positions: list[Tensor],
                        grids: list[tuple[int, int]]) -> dict[str, Any]:
        levels = []
        for level in self._deepstack:
            kept = []
            for image, (cells, (rows, cols)) in enumerate(zip(positions, grids)):
                row = cells[:, 0].clamp(0, rows - 1)
                col = cells[:, 1].clamp(0, cols - 1)
                kept.append(level[image][(row * cols + col).to(level[image].device)])
            levels.append(kept)
        self._deepstack = ()
        return compat.deepstack_outputs(self.model, features, levels)


class Gemma3Seam(Seam):
    """``gemma3``: compress each image's pooled, projected tokens on their square grid (16x16).

    The tower and the projector run as the model runs them (the projector's average pooling needs
    the whole patch grid, so nothing earlier is offered); the kept tokens go to the LLM wrapped in
    ``<start_of_image>`` / ``<end_of_image>`` as the processor wraps the full 256.
    """

    def __init__(self, model: Any, compressor: Compressor, plan: RunPlan) -> None:
        super().__init__(model, compressor, plan)
        side = round(int(self.config.mm_tokens_per_image) ** 0.5)
        self.grid = plan.grid or (side, side)

    def placeholders(self, image_inputs: dict[str, Any], index: int) -> int | None:
        if not self.compresses_features:
            return None
        crops = image_inputs.get("num_crops")
        if crops is not None and int(crops[index]):
            raise ValidationError("a compressor on gemma3 needs pan-and-scan off (one view per image);"
                                  " call the processor without do_pan_and_scan", field="do_pan_and_scan",
                                  value=True)
        return self.plan.compressor_tokens

    def placeholder_text(self, processor: Any, count: int) -> str:
        tokenizer = processor.tokenizer
        return f"\n\n{tokenizer.boi_token}{tokenizer.image_token * count}{tokenizer.eoi_token}\n\n"

    def prepare(self, batch: dict[str, Any], images_per_row: list[int], query: QueryFn) -> dict[str, Any]:
        if not self.compresses_features:
            return super().prepare(batch, images_per_row, query)
        tower = compat.vlm_part(self.model, "vision_tower")
        projector = compat.vlm_part(self.model, "projector")
        start = time.perf_counter()
        pixels = batch["pixel_values"].to(device=tower.device, dtype=tower.dtype)
        hidden = tower(pixel_values=pixels, return_dict=True).last_hidden_state
        self._timed("vision_s", start)
        start = time.perf_counter()
        tokens = projector(hidden)
        self._timed("projector_s", start)
        return self._compressed(batch, tokens, [row for row, n in enumerate(images_per_row) for _ in range(n)],
                                query)


class InternVLSeam(Seam):
    """``internvl``: compress each view's projected tokens (a tile or the thumbnail, 16x16 after
    pixel shuffle) to k / views, as LLaVA-NeXT's crops; the model's own ``get_image_features``
    runs the tower, the pixel shuffle and the projector."""

    def __init__(self, model: Any, compressor: Compressor, plan: RunPlan) -> None:
        super().__init__(model, compressor, plan)
        vision = self.config.vision_config
        side = int(vision.image_size[0]) // int(vision.patch_size[0]) // round(1 / self.config.downsample_ratio)
        self.grid = plan.grid or (side, side)

    def placeholders(self, image_inputs: dict[str, Any], index: int) -> int | None:
        if not self.compresses_features:
            return None
        if "num_patches" in image_inputs:     # the processor's count of each image's views
            views = int(image_inputs["num_patches"][index])
        else:                                  # a batch of one image a row (the profiler's inputs)
            views = int(image_inputs["pixel_values"].shape[0]) // int(image_inputs["input_ids"].shape[0])
        if views > self.plan.crops:
            raise InvalidTokenCountError(f"an image gives {views} views, more than the {self.plan.crops} k was"
                                         " divided by", field="visual_tokens", value=self.plan.visual_tokens)
        return views * self.plan.compressor_tokens

    def placeholder_text(self, processor: Any, count: int) -> str:
        return f"{processor.start_image_token}{processor.image_token * count}{processor.end_image_token}"

    def prepare(self, batch: dict[str, Any], images_per_row: list[int], query: QueryFn) -> dict[str, Any]:
        if not self.compresses_features:
            return super().prepare(batch, images_per_row, query)
        base = compat.vlm_part(self.model, "inner_model")
        start = time.perf_counter()
        tower = compat.vlm_part(self.model, "vision_tower")
        pixels = batch["pixel_values"].to(device=tower.device, dtype=tower.dtype)
        tokens = base.get_image_features(pixel_values=pixels, vision_feature_layer=self.config.vision_feature_layer,
                                         vision_feature_select_strategy=self.config.vision_feature_select_strategy,
                                         return_dict=True).pooler_output      # [views, 256, d]
        self._timed("vision_s", start)      # the tower, the pixel shuffle and the projector
        k = self.plan.compressor_tokens
        view_rows = [row for row, ids in enumerate(batch["input_ids"])
                     for begin, stop in image_runs(ids == self.image_token_id) for _ in range((stop - begin) // k)]
        return self._compressed(batch, tokens, view_rows, query)


def make_seam(model: Any, compressor: Compressor, plan: RunPlan) -> Seam:
    """The seam of ``plan.family`` around ``model`` and ``compressor``: the class its adapter names."""
    from vlmplanner._plugins import import_object
    from vlmplanner.families import get_family

    where = get_family(plan.family).seam
    if where is None:  # pragma: no cover - resolve() refuses such families first
        raise ValidationError(f"no seam for model_type {plan.family!r}", field="model_type", value=plan.family)
    cls: type[Seam] = import_object(where)
    return cls(model, compressor, plan)
