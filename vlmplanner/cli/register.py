"""``vlmplanner register MODEL``: add a model to the catalog from its Hugging Face config.json."""

from __future__ import annotations

from typing import Annotated

import typer

from ._render import print_json
from .catalog import CatalogUrl, Json


def register(
    model: Annotated[str, typer.Argument(
        metavar="MODEL", help="A checkpoint directory, a config.json file, or a Hub id org/name (its config.json is fetched).")],
    checkpoint: Annotated[str | None, typer.Option(
        help="The id to file the model under (default: the Hub id, or the checkpoint directory's path).")] = None,
    hub_url: Annotated[str, typer.Option(help="The Hub (or a mirror) to fetch config.json from.")] = (
        "https://huggingface.co"),
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the Hub.")] = 10.0,
    catalog: CatalogUrl = None,
    json: Json = False,
) -> None:
    """Register a model from its config.json (its model_type must have a family adapter)."""
    from vlmplanner.register import read_model_spec
    from vlmplanner.store import open_catalog

    spec = read_model_spec(model, checkpoint=checkpoint, timeout=timeout, hub_url=hub_url)  # before any write
    with open_catalog(catalog) as store:
        stored = store.add_model(spec)
    if json:
        return print_json(stored)
    from vlmplanner.families import get_family

    height, width = get_family(stored.model_type).reference_image(stored)
    llm = stored.llm
    kinds = [f"{llm.moe.experts_per_token} of {llm.moe.num_experts} experts active"] if llm.moe else []
    if llm.linear_attention is not None:
        kinds.append(f"{llm.linear_attention.layers} linear-attention layers")
    if llm.sliding_layers:
        kinds.append(f"{llm.sliding_layers} sliding-window layers")
    typer.echo(
        f"registered {stored.checkpoint} ({stored.model_type}): LLM {llm.params_b:g} B,"
        f" {llm.num_layers} layers x {llm.hidden_size}" + (f" ({', '.join(kinds)})" if kinds else "")
        + f"; {stored.native_visual_tokens} visual tokens per {height}x{width} image"
    )
