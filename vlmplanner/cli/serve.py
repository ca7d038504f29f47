"""``vlmplanner serve KEY``: an OpenAI-compatible chat-completions server over one configuration."""

from __future__ import annotations

from typing import Annotated

import typer

from ._load_options import Checkpoint, CompressorWeights, Device, DType, Key, api_key_from
from .catalog import CatalogUrl


def serve(
    key: Key,
    host: Annotated[str, typer.Option(help="The address to listen on (0.0.0.0: every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="The port (0: any free one).")] = 8000,
    max_batch: Annotated[int, typer.Option(min=1, help="Requests run together in one generate() call.")] = 8,
    batch_window_ms: Annotated[float, typer.Option(
        min=0.0, help="How long the first waiting request waits for others to batch with.")] = 10.0,
    max_tokens: Annotated[int, typer.Option(min=1, help="max_tokens when a request does not say.")] = 256,
    api_key_env: Annotated[str | None, typer.Option(
        help="Require the API key held in this environment variable (Authorization: Bearer …).")] = None,
    checkpoint: Checkpoint = None,
    device: Device = "cpu",
    dtype: DType = None,
    compressor_weights: CompressorWeights = None,
    catalog: CatalogUrl = None,
) -> None:
    """Serve a configuration (compressor applied) over the OpenAI chat-completions API until Ctrl-C.

    POST /v1/chat/completions with images as base64 data: URLs; GET /v1/models; GET /health."""
    from vlmplanner.errors import ValidationError
    from vlmplanner.pipeline import resolve
    from vlmplanner.pipeline.api import _load_plan
    from vlmplanner.serving.server import Server

    api_key = api_key_from(api_key_env)
    plan = resolve(key, catalog=catalog, checkpoint=checkpoint, compressor_weights=compressor_weights,
                   device=device, dtype=dtype)
    with _load_plan(plan) as pipeline:
        try:
            server = Server(pipeline, host=host, port=port, max_batch=max_batch, batch_window_s=batch_window_ms / 1000,
                            api_key=api_key, default_max_tokens=max_tokens)
        except OSError as exc:
            raise ValidationError(f"cannot listen on {host}:{port}: {exc.strerror or exc}", field="port",
                                  value=port) from exc
        typer.echo(f"serving {pipeline.key} at {server.url} (POST {server.url}/chat/completions); Ctrl-C stops",
                   err=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            typer.echo("stopped", err=True)
        finally:
            server.httpd.server_close()
            server.batcher.close()
