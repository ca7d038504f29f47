"""The pipeline: a loaded model, its processor, a compressor and the seam between them (imports torch)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from typing_extensions import Self

from vlmplanner import compat
from vlmplanner.compressors import Compressor
from vlmplanner.compressors.resize import Downsample
from vlmplanner.errors import ValidationError
from vlmplanner.extras import require
from vlmplanner.schemas import Candidate, ModelSpec

from .resolve import RunPlan
from .seams import Seam, make_seam

if TYPE_CHECKING:
    import torch
else:  # a missing torch is one MissingExtraError naming the extra
    torch = require("torch", feature="the pipeline")

__all__ = ["VLMPipeline", "compressed_processor"]

#: ``max_new_tokens`` when neither it nor ``max_length`` is given to generate().
DEFAULT_MAX_NEW_TOKENS = 32


def compressed_processor(processor: Any, seam: Seam) -> Any:
    """A shallow copy of ``processor`` that emits as many image placeholders as ``seam`` says
    (``compat.override_placeholders``; the original is untouched)."""
    return compat.override_placeholders(processor, seam.placeholders, seam.placeholder_text)


def _open_image(image: Any) -> Any:
    Image = require("PIL.Image", feature="reading images")

    if isinstance(image, (str, Path)):
        path = Path(image).expanduser()
        if not path.is_file():
            raise ValidationError(f"image {str(image)!r} is not a file", field="images", value=str(image))
        try:
            with Image.open(path) as handle:
                return handle.convert("RGB")
        except OSError as exc:
            raise ValidationError(f"cannot read image {str(image)!r}: {exc}", field="images", value=str(image)) from exc
    if isinstance(image, Image.Image):
        return image.convert("RGB") if image.mode != "RGB" else image
    if hasattr(image, "shape"):   # numpy arrays and tensors go to the processor as they are
        return image
    raise ValidationError(f"an image must be a PIL image, an array or a path, got {type(image).__name__}",
                          field="images", value=type(image).__name__)


class VLMPipeline:
    """A loaded configuration: ``generate(images, prompts)`` returns the generated text.

    ``model`` and ``processor`` are transformers objects: ``processor`` is the model's own processor
    class, except that it emits the compressor's number of image placeholders
    (``base_processor`` is the unchanged one). ``compressor`` is the vlmplanner compressor instance,
    ``candidate`` the configuration's key, ``spec`` the model's architecture numbers and ``plan``
    everything :func:`vlmplanner.pipeline.resolve` decided. ``stats`` holds the seconds the seam
    spent in the last call (vision tower, compressor, query pass); ``notes`` what to know about the
    configuration. Close it (or use it as a context manager) to remove the hooks it put on the model.
    """

    def __init__(self, model: Any, processor: Any, compressor: Compressor, plan: RunPlan) -> None:
        self.model = model
        self.base_processor = processor
        self.compressor = compressor
        self.plan = plan
        self.resizer = compressor if isinstance(compressor, Downsample) else None
        if self.resizer is not None:               # a share: each image keeps that share of its own count
            self.resizer.share = plan.share
        self.seam = make_seam(model, compressor, plan)
        self.processor = compressed_processor(processor, self.seam)
        self.tokenizer: Any = getattr(processor, "tokenizer", None)
        if self.tokenizer is None:
            raise ValidationError("the processor has no tokenizer", field="processor", value=type(processor).__name__)
        self.stats: dict[str, float] = {}
        #: per prompt of the last generate(): (image placeholder tokens, prompt tokens) the LLM received
        self.last_counts: list[tuple[int, int]] = []

    # -- what it is ----------------------------------------------------------------------------
    @property
    def candidate(self) -> Candidate:
        return self.plan.candidate

    @property
    def key(self) -> str:
        return self.plan.candidate.key

    @property
    def spec(self) -> ModelSpec:
        return self.plan.spec

    @property
    def family(self) -> str:
        return self.plan.family

    @property
    def notes(self) -> list[str]:
        return list(self.seam.notes)

    @property
    def device(self) -> torch.device:
        device: torch.device = next(self.model.parameters()).device
        return device

    def __repr__(self) -> str:
        return f"VLMPipeline({self.key!r}, device={str(self.device)!r}, dtype={self.model.dtype})"

    def close(self) -> None:
        """Remove the seam's hooks from the model (it then runs as transformers ships it)."""
        self.seam.close()
        compat.release_placeholders(self.processor)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- inputs --------------------------------------------------------------------------------
    def _pairs(self, images: Any, prompts: Any) -> tuple[list[list[Any]], list[str]]:
        if isinstance(prompts, str):
            prompts = [prompts]
            images = [images]
        if not isinstance(prompts, Sequence) or not prompts or not all(isinstance(p, str) for p in prompts):
            raise ValidationError("prompts must be a string or a non-empty list of strings", field="prompts",
                                  value=type(prompts).__name__)
        if not isinstance(images, Sequence) or isinstance(images, (str, bytes)) or len(images) != len(prompts):
            raise ValidationError(
                f"give one image (or a list of images) per prompt: {len(prompts)} prompt(s), "
                f"{len(images) if isinstance(images, Sequence) and not isinstance(images, str) else 1} image entries",
                field="images", value=None,
            )
        per_row = [[_open_image(i) for i in (item if isinstance(item, (list, tuple)) else [item])] for item in images]
        if any(not row for row in per_row):
            raise ValidationError("every prompt needs at least one image", field="images", value=None)
        if self.resizer is not None:               # downsample: the smaller image is the compression
            per_row = [[self.resizer.resize_image(image, self.spec) for image in row] for row in per_row]
        token = self.processor.image_token
        texts = []
        for prompt, row in zip(prompts, per_row):
            missing = len(row) - prompt.count(token)
            if missing < 0:
                raise ValidationError(f"a prompt has {prompt.count(token)} image tokens {token!r} but {len(row)}"
                                      " image(s)", field="prompts", value=prompt)
            texts.append(self._image_marker() * missing + prompt)
        return per_row, texts

    def _image_marker(self) -> str:
        from vlmplanner.families import get_family

        return get_family(self.family).image_marker(self.processor)

    def chat_prompt(self, messages: Sequence[dict[str, Any]], text: str) -> str:
        """The prompt for chat ``messages`` (images as ``{"type": "image"}`` parts): the model's chat
        template when its processor has one, as lmms-eval and OpenAI-style servers ask chat models;
        else ``text`` as it is (generate() puts the image placeholder in front). Evaluation and
        ``vlmplanner serve`` both use it, so a served answer is the in-process one."""
        if getattr(self.base_processor, "chat_template", None):
            return str(self.base_processor.apply_chat_template(list(messages), add_generation_prompt=True))
        return text

    def encode(self, images: Any, prompts: Any) -> Any:
        """The processor's output for these images and prompts (k placeholders per image), padded
        on the left, on the model's device."""
        per_row, texts = self._pairs(images, prompts)
        return self._encode(per_row, texts)

    def _encode(self, per_row: list[list[Any]], texts: list[str]) -> Any:
        from vlmplanner.families import get_family

        images = per_row if get_family(self.family).images_by_prompt else [image for row in per_row for image in row]
        try:
            self.tokenizer.padding_side = "left"
            batch = self.processor(text=texts, images=images, padding=True, return_tensors="pt")
        except ValueError as exc:  # transformers' own checks on the prompt
            raise ValidationError(f"the processor rejected the input: {exc}", field="prompts", value=None) from exc
        return batch.to(self.device)

    def _questions(self, texts: list[str]) -> list[str]:
        specials = [self.processor.image_token, "<|vision_start|>", "<|vision_end|>"]
        out = []
        for text in texts:
            for token in specials:
                text = text.replace(token, " ")
            out.append(" ".join(text.split()))
        return out

    def _query_fn(self, texts: list[str]) -> Any:
        cache: dict[str, torch.Tensor] = {}

        def query(rows: list[int]) -> torch.Tensor:
            if "all" not in cache:
                self.tokenizer.padding_side = "left"
                tokens = self.tokenizer(self._questions(texts), padding=True, return_tensors="pt").to(self.device)
                with torch.no_grad():
                    hidden = compat.vlm_part(self.model, "language_model")(
                        input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"]).last_hidden_state
                cache["all"] = hidden[:, -1]          # left padding: the last position is the last token
            return cache["all"][torch.as_tensor(rows, device=self.device)]

        return query

    def _groups(self, per_row: list[list[Any]], texts: list[str]) -> list[list[int]]:
        """Rows that can share a batch: all, except an in-LLM compressor needs rows that keep the same
        number of tokens (one batch per image-token count)."""
        if self.seam.hooks is None or len(texts) == 1:
            return [list(range(len(texts)))]
        from .inllm import image_runs

        batch = self._encode(per_row, texts)
        ids = batch["input_ids"]
        assert self.seam.hooks is not None
        groups: dict[int, list[int]] = {}
        for row, line in enumerate(ids == self.seam.image_token_id):
            dropped = sum(stop - start - self.seam.hooks.compressor.tokens_for(stop - start)
                          for start, stop in image_runs(line))   # a share drops per image
            groups.setdefault(int(dropped), []).append(row)
        return list(groups.values())

    def prepare(self, images: Any, prompts: Any) -> dict[str, Any]:
        """The model's keyword arguments for one batch: ``model(**kw)`` and ``model.generate(**kw)``
        both take them, inside ``with pipeline.seam.session(kw):``."""
        per_row, texts = self._pairs(images, prompts)
        return self._prepare(per_row, texts)

    def _prepare(self, per_row: list[list[Any]], texts: list[str]) -> dict[str, Any]:
        self.seam.reset_stats()
        start = time.perf_counter()
        batch = self._encode(per_row, texts)
        self.stats = {"processor_s": time.perf_counter() - start}
        with torch.no_grad():
            kwargs = self.seam.prepare(dict(batch), [len(r) for r in per_row], self._query_fn(texts))
        return kwargs

    # -- running -------------------------------------------------------------------------------
    def generate(self, images: Any, prompts: Any, **generation_kwargs: Any) -> list[str]:
        """Generate one answer per prompt.

        ``images``: one image per prompt (a PIL image, an array or a path), or a list of images per
        prompt; a single prompt string takes a single image (or list). Prompts are passed to the
        processor as they are (add the model's chat format yourself); an image placeholder missing
        from a prompt is put in front of it. ``generation_kwargs`` go to ``model.generate``
        (default ``max_new_tokens`` 32); the answers are decoded without special tokens.
        """
        per_row, texts = self._pairs(images, prompts)
        if self.seam.hooks is not None and generation_kwargs.get("use_cache") is False:
            raise ValidationError(f"{self.compressor.name} prunes the KV cache once, at prefill: generate with the"
                                  " cache (use_cache=True)", field="use_cache", value=False)
        if "max_new_tokens" not in generation_kwargs and "max_length" not in generation_kwargs:
            generation_kwargs["max_new_tokens"] = DEFAULT_MAX_NEW_TOKENS
        if getattr(self.model.generation_config, "pad_token_id", None) is None and "pad_token_id" not in generation_kwargs:
            generation_kwargs["pad_token_id"] = self.tokenizer.pad_token_id
        answers: list[str] = [""] * len(texts)
        totals: dict[str, float] = {}
        counts: list[tuple[int, int]] = [(0, 0)] * len(texts)
        for rows in self._groups(per_row, texts):
            kwargs = self._prepare([per_row[r] for r in rows], [texts[r] for r in rows])
            prompt_length = kwargs["input_ids"].shape[1]
            visual = (kwargs["input_ids"] == self.seam.image_token_id).sum(dim=1).tolist()
            lengths = kwargs["attention_mask"].sum(dim=1).tolist()
            for row, count, length in zip(rows, visual, lengths):
                counts[row] = (int(count), int(length))
            with torch.no_grad(), self.seam.session(kwargs), compat.quiet_hf():
                start = time.perf_counter()
                output = self.model.generate(**kwargs, **generation_kwargs)
                self.stats["generate_s"] = time.perf_counter() - start
            texts_out = self.processor.batch_decode(output[:, prompt_length:], skip_special_tokens=True)
            for row, text in zip(rows, texts_out):
                answers[row] = text.strip()
            for name, value in {**self.stats, **self.seam.stats}.items():
                totals[name] = totals.get(name, 0.0) + value
        self.stats = totals
        self.last_counts = counts
        return answers

    __call__ = generate

    def prefill(self, images: Any, prompts: Any, **forward_kwargs: Any) -> Any:
        """One forward pass over the prompts (the prefill, logits of the last position only): what
        ``generate`` does before its first token, for timing and inspection."""
        per_row, texts = self._pairs(images, prompts)
        kwargs = self._prepare(per_row, texts)
        forward_kwargs.setdefault("logits_to_keep", 1)
        with torch.no_grad(), self.seam.session(kwargs), compat.quiet_hf():
            start = time.perf_counter()
            output = self.model(**kwargs, **forward_kwargs)
            self.stats["forward_s"] = time.perf_counter() - start
        self.stats.update(self.seam.stats)
        return output

    def visual_tokens(self, images: Any, prompts: Any) -> list[int]:
        """Image placeholder tokens per prompt in the processed input: what the LLM receives (for an
        in-LLM compressor: what its first layers receive)."""
        per_row, texts = self._pairs(images, prompts)
        batch = self._encode(per_row, texts)
        return [int(n) for n in (batch["input_ids"] == self.seam.image_token_id).sum(dim=1).tolist()]
