"""An offline tokenizer for tiny models: a WordLevel vocabulary trained in-process, no hub."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["BASE_SPECIALS", "TINY_CORPUS", "word_level_tokenizer"]

#: Special tokens every tiny tokenizer has, in this order (ids 0-3).
BASE_SPECIALS = ("<unk>", "<s>", "</s>", "<pad>")

#: The words of the tiny vocabulary. Anything else becomes <unk>, which is fine for random weights.
TINY_CORPUS = (
    "USER : ASSISTANT : SYSTEM : what is in the picture image photo ? describe it . how many are there"
    " a an one two three cat dog bird car tree house person sky red blue green yellow black white"
    " yes no left right top bottom small large text reads says"
)


def word_level_tokenizer(specials: Sequence[str], extra_special_tokens: Mapping[str, str]) -> Any:
    """A ``PreTrainedTokenizerFast`` over :data:`TINY_CORPUS` with ``specials`` as single tokens.

    ``extra_special_tokens`` names tokens for processors (``{"image_token": "<image>"}``), so
    ``tokenizer.image_token`` and ``tokenizer.image_token_id`` resolve as the processors expect.
    """
    from vlmplanner import compat
    from vlmplanner.extras import require

    tokenizers = require("tokenizers", feature="a tiny model's tokenizer")
    tokenizer = tokenizers.Tokenizer(tokenizers.models.WordLevel(unk_token="<unk>"))
    tokenizer.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    trainer = tokenizers.trainers.WordLevelTrainer(special_tokens=[*BASE_SPECIALS, *specials])
    tokenizer.train_from_iterator([TINY_CORPUS], trainer)
    return compat.transformers_class("PreTrainedTokenizerFast")(
        tokenizer_object=tokenizer, unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="<pad>",
        extra_special_tokens=dict(extra_special_tokens),
    )
