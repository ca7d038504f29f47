"""What a candidate must satisfy before the catalog stores a result for it.

A result for a configuration that cannot exist (more visual tokens than the model produces, a
count the compressor cannot keep, ``none`` below the native count) would mislead every fit and
recommendation built on it, so the store refuses it with the rule that failed.
"""

from __future__ import annotations

from vlmplanner.errors import InvalidTokenCountError
from vlmplanner.schemas import ModelSpec

__all__ = ["check_candidate"]


def check_candidate(model: ModelSpec, compressor: str, visual_tokens: int) -> None:
    """InvalidTokenCountError naming the rule when ``compressor`` cannot give ``model``'s LLM
    ``visual_tokens`` tokens per image; the token range comes from the cost model's family rules and
    the compressor's own token rule from its card (compressors without one: the range alone)."""
    from vlmplanner.compressors import compressor_card, list_compressors
    from vlmplanner.cost import native_token_range

    key = f"{model.checkpoint}+{compressor}@{visual_tokens}"
    if visual_tokens < 1:
        raise InvalidTokenCountError(f"{key}: visual_tokens must be a positive integer, got {visual_tokens}",
                                     field="visual_tokens", value=visual_tokens)
    fewest, most = native_token_range(model)
    fixed = fewest == most
    if visual_tokens > most:
        produces = f"exactly {most}" if fixed else f"at most {most}"
        raise InvalidTokenCountError(
            f"{key}: {model.checkpoint} produces {produces} visual tokens per image, fewer than {visual_tokens}"
            " (rule: a compressor keeps at most the tokens the model produces)",
            field="visual_tokens", value=visual_tokens)
    if compressor == "none" and visual_tokens < fewest:
        produces = f"exactly {fewest}" if fixed else f"at least {fewest}"
        raise InvalidTokenCountError(
            f"{key}: without a compressor {model.checkpoint} gives its LLM {produces} visual tokens per image"
            f" (rule: 'none' keeps every native token)", field="visual_tokens", value=visual_tokens)
    if compressor in list_compressors() and fixed:
        card = compressor_card(compressor)
        try:
            card.check_tokens(visual_tokens, most)
        except InvalidTokenCountError as exc:
            raise InvalidTokenCountError(f"{key}: {exc.message} (rule: the compressor's own token rule)",
                                         field="visual_tokens", value=visual_tokens) from None
