"""``vlmplanner run KEY --image x.png --prompt "…"``: load a configuration and generate text."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._load_options import Checkpoint, CompressorWeights, Device, DType, Key
from ._render import print_json
from .catalog import CatalogUrl, Json


def run(
    key: Key,
    image: Annotated[list[Path], typer.Option(
        "--image", help="An image file; repeat it to ask about several images (one answer each).")],
    prompt: Annotated[list[str], typer.Option(
        "--prompt", help="A prompt; repeat once per image, or give one for every image.")],
    checkpoint: Checkpoint = None,
    device: Device = "cpu",
    dtype: DType = None,
    max_new_tokens: Annotated[int, typer.Option(min=1, help="Tokens to generate per prompt.")] = 32,
    compressor_weights: CompressorWeights = None,
    trust_remote_code: Annotated[bool, typer.Option(
        "--trust-remote-code", help="Let transformers run the checkpoint's own code (off unless given).")] = False,
    catalog: CatalogUrl = None,
    json: Json = False,
) -> None:
    """Load a configuration (model + compressor + visual tokens) and generate an answer per prompt."""
    from vlmplanner.errors import ValidationError
    from vlmplanner.pipeline import resolve

    for path in image:                                   # every check before anything is loaded
        if not path.is_file():
            raise ValidationError(f"image {str(path)!r} is not a file", field="image", value=str(path))
    if len(prompt) not in (1, len(image)):
        raise ValidationError(f"give one --prompt, or one per --image ({len(image)}); got {len(prompt)}",
                              field="prompt", value=len(prompt))
    prompts = prompt if len(prompt) == len(image) else prompt * len(image)
    plan = resolve(key, catalog=catalog, checkpoint=checkpoint, compressor_weights=compressor_weights,
                   device=device, dtype=dtype, trust_remote_code=trust_remote_code)
    from vlmplanner.pipeline.api import _load_plan

    with _load_plan(plan) as pipeline:
        answers = pipeline.generate([str(p) for p in image], prompts, max_new_tokens=max_new_tokens,
                                    do_sample=False)
        visual = pipeline.visual_tokens([str(p) for p in image], prompts)
    if json:
        return print_json({
            "key": plan.candidate.key, "checkpoint": plan.checkpoint, "device": plan.device,
            "results": [{"image": str(p), "prompt": q, "visual_tokens": v, "answer": a}
                        for p, q, v, a in zip(image, prompts, visual, answers)],
            "notes": list(pipeline.notes),
        })
    for path, answer in zip(image, answers):
        typer.echo(answer if len(image) == 1 else f"{path}: {answer}")
