"""The options every command that loads a configuration shares (run, evaluate, serve), written once."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["Checkpoint", "CompressorWeights", "Device", "DType", "Key", "api_key_from"]

Key = Annotated[str, typer.Argument(
    metavar="KEY", help="A candidate key <checkpoint>+<compressor>@<visual tokens>, e.g. llava-hf/llava-1.5-7b-hf+pool@144.")]
Checkpoint = Annotated[Path | None, typer.Option(
    help="A local directory with the weights (default: the model's checkpoint id, local or Hub).")]
Device = Annotated[str, typer.Option(help="cpu, cuda, cuda:N or mps.")]
DType = Annotated[str | None, typer.Option(help="float32, bf16 or fp16 (default: the checkpoint's).")]
CompressorWeights = Annotated[Path | None, typer.Option(help="A trained compressor's safetensors file (QueCC).")]


def api_key_from(variable: str | None) -> str | None:
    """The API key held in the environment variable ``variable`` (None when no variable is named);
    a ValidationError naming the option when the variable is not set."""
    if variable is None:
        return None
    key = os.environ.get(variable)
    if not key:
        from vlmplanner.errors import ValidationError

        raise ValidationError(f"--api-key-env {variable}: that environment variable is not set",
                              field="api_key_env", value=variable)
    return key
