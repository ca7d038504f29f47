"""``pdrop``: PyramidDrop (CVPR'25, arXiv 2410.17247), in-LLM pruning in stages, from the paper's
description.

The LLM is cut into four stages. The first (layers 0..K-1, K = ``prune_layer`` = 8 of 32) sees
every image token; at the start of each later stage the last instruction token's attention to the
image tokens still present -- recomputed as one row ``softmax(q_last·Kᵀ/√d_h)`` from the first layer
of the new stage (its ``input_layernorm``, ``q_proj``, ``k_proj`` and RoPE, as the paper's code does
-- flash/SDPA safe) and averaged over heads -- ranks them, and the top ones go on. The paper keeps
a fixed fraction λ = 0.5 of the previous stage each time (0.5, 0.25, 0.125 of N).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from vlmplanner.errors import ValidationError
from vlmplanner.extras import require

from ._cards import BUILTIN_CARDS, PDROP_STAGES, PDROP_WEIGHTS
from ._schedule import staged_schedule
from .base import CompressorCard, InLLMCompressor, LayerInputs, _check_native
from .fastv import most_attended

if TYPE_CHECKING:
    from torch import Tensor
else:
    require("torch", feature="compressor pdrop")

__all__ = ["PyramidDrop"]


class PyramidDrop(InLLMCompressor):
    """Keep image tokens in a pyramid: drops before layers K, K+(L-K)/3 and K+2(L-K)/3 (8, 16, 24
    of a 32-layer LLM), each to the tokens the last prompt token attends to most at that layer.

    Adaptations from the paper: (1) the stage counts are not fixed ratios of N but derived from k so
    that the image keeps exactly k tokens on average over layers K..L-1 (the planner's token
    convention): the shape stays geometric with ratio λ = 0.5 (counts proportional to 0.5, 0.25,
    0.125, clamped to 1..N), integers by the rule in ``vlmplanner.compressors._schedule`` -- k =
    0.2917·N gives the paper's N/2, N/4, N/8 exactly (168 of 576); (2) stage starts scale with the
    depth after K (fewer stages when the LLM is too shallow); (3) kept tokens keep their original
    position ids (the paper's code renumbers them), as FastV does here; (4) pruning happens once at
    prefill, decoding sees the same subsets.
    """

    card: ClassVar[CompressorCard] = BUILTIN_CARDS["pdrop"]
    attention_layer: ClassVar[Literal["previous", "current"]] = "current"

    def schedule(self, native: int, num_layers: int) -> list[tuple[int, int]]:
        native = _check_native(native)
        return staged_schedule(self.name, self.tokens_for(native), native, self.prune_layer, num_layers,
                               PDROP_STAGES, PDROP_WEIGHTS)

    def choose(self, inputs: LayerInputs, image_slice: slice | tuple[int, int],
               tokens: int | None = None) -> Tensor:
        if inputs.attention_to_image is None:
            raise ValidationError("pdrop needs attention_to_image (the last prompt token's attention row at "
                                  "the drop layer)", field="attention_to_image", value=None)
        count = self.visual_tokens if tokens is None else tokens
        return most_attended(self, inputs.hidden, inputs.attention_to_image, image_slice, count,
                             check_native=inputs.stage == 0)

    def select(self, hidden: Tensor, attention_to_image: Tensor,
               image_slice: slice | tuple[int, int]) -> Tensor:
        """The first stage's pick when the schedule is not known: k tokens (a one-stage pyramid)."""
        return most_attended(self, hidden, attention_to_image, image_slice, self.visual_tokens)
