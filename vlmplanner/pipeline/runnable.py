"""Whether ``instantiate()`` can run a candidate, and every reason it cannot. Plain Python, no torch.

The planner asks this of every candidate, so that what it recommends is something the user can run;
the checks are the ones :func:`~vlmplanner.pipeline.resolve.resolve` makes before ``load()`` loads
anything (the same functions), so the answer is what ``load()`` would do. Unlike ``resolve`` it does
not stop at the first failure: a what-if candidate lists every reason, in the order a user would
fix them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from os import PathLike
from typing import TYPE_CHECKING, Any

from vlmplanner.errors import UnknownCompressorError, ValidationError
from vlmplanner.schemas import ModelSpec
from vlmplanner.schemas._base import Schema

if TYPE_CHECKING:
    from vlmplanner.compressors import CompressorCard

__all__ = ["RUNNABLE", "Runnability", "RunnabilityChecker", "runnability"]


class Runnability(Schema):
    """Can ``instantiate()`` run this candidate here? ``reasons`` says why not (empty when it can)."""

    runnable: bool
    reasons: tuple[str, ...] = ()


RUNNABLE = Runnability.trusted(runnable=True, reasons=())


def runnability(spec: ModelSpec, compressor: str, visual_tokens: int, *,
                checkpoint: str | PathLike[str] | None = None,
                compressor_weights: str | PathLike[str] | None = None,
                config: Mapping[str, Any] | None = None, share: float | None = None) -> Runnability:
    """Every reason ``load()`` would refuse ``spec`` + ``compressor`` @ ``visual_tokens``: no family
    adapter or seam, a compressor the catalog knows but vlmplanner does not implement, one the family
    cannot serve, no released checkpoint (and no local one), a trained compressor with no weights,
    a token count the compressor or the family cannot give. ``checkpoint`` and ``compressor_weights``
    are what the user would pass to ``instantiate()``. ``share``: the candidate keeps this share of
    each image's tokens (``visual_tokens`` is then its k at the image costed)."""
    return RunnabilityChecker(checkpoint=checkpoint, compressor_weights=compressor_weights,
                              config=config)(spec, compressor, visual_tokens, share=share)


@dataclass
class _Pair:
    reasons: tuple[str, ...]
    card: CompressorCard | None
    local: bool
    fits_family: bool


class RunnabilityChecker:
    """:func:`runnability` for many candidates: what depends on the model and the compressor only
    (the registry, the family, the checkpoint on disk) is checked once per pair."""

    def __init__(self, *, checkpoint: str | PathLike[str] | None = None,
                 compressor_weights: str | PathLike[str] | None = None,
                 config: Mapping[str, Any] | None = None, image_size: tuple[int, int] | None = None) -> None:
        self.checkpoint = checkpoint
        self.compressor_weights = compressor_weights
        self.config = config
        #: the workload's image (height, width): where a family's grid follows the image (Qwen), a
        #: grid rule (pool) is checked on that image's grid, as ``generate()`` will check it
        self.image_size = image_size
        self._pairs: dict[tuple[str, str], _Pair] = {}

    def __call__(self, spec: ModelSpec, compressor: str, visual_tokens: int, *,
                 share: float | None = None) -> Runnability:
        from vlmplanner.schemas import Candidate

        from .resolve import check_share, fit_tokens

        pair = self._pairs.get((spec.checkpoint, compressor))
        if pair is None:
            pair = self._pairs[(spec.checkpoint, compressor)] = self._pair(spec, compressor)
        reasons = list(pair.reasons)
        if share is not None and pair.card is not None and pair.fits_family:
            pair_ok = _collect(reasons, check_share, Candidate.trusted(model=spec.checkpoint, compressor=pair.card.name,
                                                                      share=share), spec, pair.card)
            if not pair_ok:
                return Runnability.trusted(runnable=False, reasons=tuple(reasons))
        if pair.card is not None and pair.fits_family:
            try:
                fit = fit_tokens(pair.card, spec, visual_tokens, config=self.config, local=pair.local)
            except ValidationError as error:
                reasons.append(error.message)
            else:
                if fit.grid is None and self.image_size is not None:
                    _collect(reasons, _check_image_grid, pair.card, spec, visual_tokens, self.image_size)
        if not reasons:
            return RUNNABLE
        return Runnability.trusted(runnable=False, reasons=tuple(reasons))

    def pair(self, spec: ModelSpec, compressor: str) -> Runnability:
        """Whether ``spec`` + ``compressor`` can run at some token count: every check but the count's
        (family adapter and seam, compressor implemented and serving the family, checkpoint, weights)."""
        pair = self._pairs.get((spec.checkpoint, compressor))
        if pair is None:
            pair = self._pairs[(spec.checkpoint, compressor)] = self._pair(spec, compressor)
        if not pair.reasons:
            return RUNNABLE
        return Runnability.trusted(runnable=False, reasons=pair.reasons)

    def _pair(self, spec: ModelSpec, compressor: str) -> _Pair:
        from vlmplanner.compressors import compressor_card, resolve_name

        from .resolve import check_checkpoint, check_seam, check_weights

        reasons: list[str] = []
        fits_family = _collect(reasons, check_seam, spec)
        card = None
        try:
            card = compressor_card(resolve_name(compressor))
        except UnknownCompressorError:
            reasons.append(f"vlmplanner does not implement compressor {compressor!r} (the catalog holds its"
                           " published results only)")
        if card is not None and fits_family:
            fits_family = _collect(reasons, card.check_family, spec.model_type)
        local = False
        try:
            _, local = check_checkpoint(spec, self.checkpoint)
        except ValidationError as error:
            reasons.append(error.message)
        if card is not None:
            _collect(reasons, check_weights, card, self.compressor_weights)
        return _Pair(tuple(reasons), card, local, fits_family)


def _check_image_grid(card: CompressorCard, spec: ModelSpec, visual_tokens: int, image_size: tuple[int, int]) -> None:
    """A pre-LLM grid rule (pool's tiling) on the merged grid of one ``image_size`` image, for a
    family whose grid follows the image: the check the seam makes in ``generate()``."""
    from vlmplanner.errors import InvalidTokenCountError
    from vlmplanner.families import get_family

    if card.kind != "pre-llm" or card.token_rule in ("any", "native"):
        return
    profile = get_family(spec.model_type).vision_profile(spec, image_size)
    factor = spec.vision.patch_size * (spec.vision.spatial_merge_size or 1)
    grid = (profile.image[0] // factor, profile.image[1] // factor)
    try:
        card.check_tokens(visual_tokens, grid[0] * grid[1], grid)
    except InvalidTokenCountError as error:
        raise InvalidTokenCountError(f"{error.message} (a {image_size[0]}x{image_size[1]} image)",
                                     field="visual_tokens", value=visual_tokens) from error


def _collect(reasons: list[str], check: Any, *args: Any, **kwargs: Any) -> bool:
    """Run one check; its ValidationError's message becomes a reason. True when it passed."""
    try:
        check(*args, **kwargs)
    except ValidationError as error:
        reasons.append(error.message)
        return False
    return True
