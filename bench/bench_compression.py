"""Prefill speedup of compressed configurations on a mid-size random-weight LLaVA, on CPU.

Usage: python bench/bench_compression.py [--size mid|small] [--batch 4] [--dtype fp32|bf16] [--threads 2]
                                         [--repeats 15] [--warmup 3] [--tokens 16] [--only NAME ...]

The model is built from a config with random weights (``SIZES``), in float32 unless ``--dtype
bf16``. ``mid`` (226 M parameters) keeps LLaVA-1.5's proportions roughly: a CLIP-like tower at 336 px / patch 14 (24x24 =
576 patches, 256 wide, 6 layers) and a Llama-like LLM four times as wide (1024, 12 layers, vocab
32064). ``small`` (62 M) is the first bench model: tower 256 wide with 4 layers, LLM 512 wide with 8.
One 336x336 image per request and a prompt of about 30 text tokens; ``--batch`` requests at once
(default 4). At batch 1 a 53-token prefill of this model is partly bound by streaming its weights
from memory (a fixed ~50 ms per forward on the 2-core machine), which no FLOP count sees; four
requests share that read, as they do when a server batches them. docs/benchmarks.md has both.

For every configuration (``none@576`` and each built-in compressor at ``--tokens``) it times the
prefill the pipeline runs before the first token -- vision tower, the compressor and what it needs
from the model, projector, LLM, lm_head for the last position. The configurations take turns: each
round times every configuration once, ``--warmup`` rounds are discarded, and each ratio is the
median over ``--repeats`` rounds of the ratio within a round, so drift that slows a whole round
(a shared machine) cancels. It reports:

* the speedup over ``none@576`` and the FLOPs-ideal speedup: the ratio of the FLOPs torch's
  FlopCounterMode counts for the same two prefills (SDPA on CPU counted with its dense formula), and
  the measured speedup as a fraction of it (target >= 0.8 for pool@16);
* the compressor's own time (``compress()``, plus the [CLS]-attention recompute it needs, or FastV's
  row recompute, selection and gathers) as a share of the configuration's prefill (target <= 3 %),
  and the extra LLM pass over the question (QueCC, cdpruner, mmtok, trim) separately;
* the LLM's share (``language_model`` forward, timed by hooks): its speedup against its FLOPs too.

CPU timings drift between runs (up to ~40 % on the 2-core CI machine); compare within one table.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from PIL import Image

from vlmplanner.families import get_family
from vlmplanner.pipeline import wrap

_CLIP_336 = {"model_type": "clip_vision_model", "image_size": 336, "patch_size": 14}
_LLAMA = {"vocab_size": 32064, "max_position_embeddings": 2048}
#: Model sizes (random weights, fp32). ``mid`` keeps LLaVA-1.5's proportions roughly (an LLM 4x as
#: wide as the vision tower, and deeper); ``small`` is the 62 M model of the first measurements,
#: whose LLM is only twice the tower's width, so per-token work outside the LLM weighs more.
SIZES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "small": ({**_CLIP_336, "hidden_size": 256, "intermediate_size": 1024, "num_hidden_layers": 4,
               "num_attention_heads": 4},
              {**_LLAMA, "hidden_size": 512, "intermediate_size": 1376, "num_hidden_layers": 8,
               "num_attention_heads": 8, "num_key_value_heads": 8}),
    "mid": ({**_CLIP_336, "hidden_size": 256, "intermediate_size": 1024, "num_hidden_layers": 6,
             "num_attention_heads": 4},
            {**_LLAMA, "hidden_size": 1024, "intermediate_size": 2816, "num_hidden_layers": 12,
             "num_attention_heads": 16, "num_key_value_heads": 16}),
}
PROMPT = ("USER: <image>\nwhat is in the picture ? describe it . how many are there ? is there a cat or a dog ?"
          " what text reads on the left ? yes or no ? ASSISTANT:")


DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32}


def build(size: str, dtype: str = "fp32") -> Any:
    vision, text = SIZES[size]
    return get_family("llava").build_tiny(seed=0, dtype=DTYPES[dtype], vision_config=vision, text_config=text)


def sdpa_flops() -> dict[Any, Any]:
    """FlopCounterMode has no formula for CPU SDPA in torch 2.13 (it counts 0): dense QKᵀ + AV."""
    def formula(query: Any, key: Any, value: Any, *args: Any, out_shape: Any = None, **kwargs: Any) -> int:
        b, h, s_q, d = query.shape
        s_k = key.shape[-2]
        return int(2 * b * h * s_q * s_k * d + 2 * b * h * s_q * s_k * value.shape[-1])

    ops = {}
    op = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)
    if op is not None:
        ops[op.default] = formula
    return ops


class LLMTimer:
    """Seconds the language model's forward takes (pre/post hooks)."""

    def __init__(self, model: Any) -> None:
        self.seconds = 0.0
        self._start = 0.0
        lm = model.model.language_model
        self.handles = [lm.register_forward_pre_hook(self._pre), lm.register_forward_hook(self._post)]

    def _pre(self, *_: Any) -> None:
        self._start = time.perf_counter()

    def _post(self, *_: Any) -> None:
        self.seconds += time.perf_counter() - self._start

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def configurations(k: int) -> list[tuple[str, int, dict[str, Any]]]:
    return [("none", 576, {}), ("pool", k, {}), ("cls-topk", k, {}), ("visionzip", k, {}), ("prumerge+", k, {}),
            ("divprune", k, {}), ("fastv", k, {}), ("quecc", k, {"allow_untrained": True, "seed": 0}),
            # group "textcond": text-conditioned selection on the projected tokens
            ("cdpruner", k, {}), ("mmtok", k, {}), ("trim", k, {}),
            # group "simple": content-blind sampling and merging
            ("random", k, {}), ("spatial-sampling", k, {}), ("sequential-sampling", k, {}), ("prumerge", k, {}),
            ("tome", k, {}),
            # group "inllm": PyramidDrop (drops before layers 8, 9, 11 of this 12-layer LLM), DART
            ("pdrop", k, {}), ("dart", k, {}),
            # group "sparsevlm": text raters, drops before layers 2, 3 and 6 of this 12-layer LLM, recycling
            ("sparsevlm", k, {})]


class Configuration:
    """One compressor at k tokens, wrapped around the shared model only while it runs (seams hook
    the model, so one configuration at a time)."""

    def __init__(self, tiny: Any, name: str, k: int, options: dict[str, Any], image: Any,
                 batch_size: int) -> None:
        self.tiny, self.name, self.k, self.options = tiny, name, k, options
        self.prompts = [PROMPT] * batch_size
        self.rows_of_one = [1] * batch_size
        self.images = [image] * batch_size
        self.rows: list[dict[str, float]] = []

    @contextmanager
    def _wrapped(self) -> Iterator[tuple[Any, dict[str, Any]]]:
        """The pipeline around the shared model, and this configuration's processed batch."""
        with wrap(self.tiny.model, self.tiny.processor, self.name, self.k,
                  compressor_options=self.options) as pipeline:
            yield pipeline, dict(pipeline.encode(self.images, self.prompts))

    def _run(self, pipeline: Any, batch: dict[str, Any]) -> None:
        seam = pipeline.seam
        with torch.no_grad():
            kwargs = seam.prepare(dict(batch), self.rows_of_one, pipeline._query_fn(self.prompts))
            with seam.session(kwargs):
                self.tiny.model(**kwargs, logits_to_keep=1)

    def once(self, record: bool = True) -> None:
        """One timed prefill (processor work outside the timing)."""
        with self._wrapped() as (pipeline, batch):
            timer = LLMTimer(self.tiny.model)
            try:
                pipeline.seam.reset_stats()
                start = time.perf_counter()
                self._run(pipeline, batch)
                total = time.perf_counter() - start
            finally:
                timer.remove()
            stats = dict(pipeline.seam.stats)
        if record:
            own = stats.get("compressor_s", 0.0) + stats.get("context_s", 0.0)
            self.rows.append({"total": total, "llm": timer.seconds, "own": own,
                              "query": stats.get("query_s", 0.0)})

    def count(self) -> dict[str, Any]:
        """Traced FLOPs of the same prefill, total and the language model's."""
        from torch.utils.flop_counter import FlopCounterMode

        with self._wrapped() as (pipeline, batch):
            with FlopCounterMode(display=False, custom_mapping=sdpa_flops()) as counter:
                self._run(pipeline, batch)
        per_module = counter.get_flop_counts()
        llm_key = next(m for m in per_module if m.endswith(".model.language_model"))
        return {"flops": counter.get_total_flops(), "llm_flops": sum(per_module[llm_key].values()),
                "llm_tokens": int(batch["input_ids"].shape[1])}


def summarise(config: Configuration, base: Configuration) -> dict[str, Any]:
    """Medians over rounds; speedups are medians of per-round ratios against ``none`` timed in the
    same round, so drift that slows a whole round cancels."""
    rows, base_rows = config.rows, base.rows
    med = {key: statistics.median(r[key] for r in rows) for key in rows[0]}
    spread = (max(r["total"] for r in rows) - min(r["total"] for r in rows)) / med["total"]
    speedup = statistics.median(b["total"] / r["total"] for r, b in zip(rows, base_rows))
    llm_speedup = statistics.median(b["llm"] / r["llm"] for r, b in zip(rows, base_rows) if r["llm"])
    share = statistics.median(r["own"] / r["total"] for r in rows)
    return {"name": f"{config.name}@{config.k}", "spread": spread, "speedup": speedup,
            "llm_speedup": llm_speedup, "share": share, **med, **config.count()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=16)
    parser.add_argument("--only", nargs="*", help="compressor names to run (none always runs)")
    parser.add_argument("--batch", type=int, default=4, help="requests per prefill, one image each (default 4)")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="fp32", help="weights and activations")
    parser.add_argument("--size", choices=sorted(SIZES), default="mid", help="the model (default: mid)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    tiny = build(args.size, args.dtype)
    params = sum(p.numel() for p in tiny.model.parameters())
    image = Image.fromarray(np.random.RandomState(0).randint(0, 255, (336, 336, 3), dtype=np.uint8))
    print(f"# machine: {platform.machine()} {platform.processor() or ''}, {args.threads} thread(s), torch "
          f"{torch.__version__}; model {args.size}: {params / 1e6:.1f} M parameters ({args.dtype}), batch {args.batch}, repeats {args.repeats}")
    configs = [Configuration(tiny, name, k, options, image, args.batch)
               for name, k, options in configurations(args.tokens)
               if not args.only or name == "none" or name in args.only]
    for round_ in range(args.warmup + args.repeats):     # round-robin: every round times every one
        for config in configs:
            config.once(record=round_ >= args.warmup)
    results = [summarise(config, configs[0]) for config in configs]
    base = results[0]
    header = ("| configuration | sequence into the LLM | prefill ms (median) | spread | GFLOP (traced) | speedup |"
              " FLOPs-ideal speedup | fraction of ideal | LLM ms | LLM speedup / ideal | compressor ms |"
              " compressor % of prefill | query pass ms |")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for r in results:
        speedup = r["speedup"]
        ideal = base["flops"] / r["flops"]
        llm_speed = r["llm_speedup"]
        llm_ideal = base["llm_flops"] / r["llm_flops"] if r["llm_flops"] else float("nan")
        print(f"| {r['name']} | {r['llm_tokens']} | {r['total'] * 1e3:.1f} | {r['spread']:.0%} |"
              f" {r['flops'] / 1e9:.2f} | {speedup:.2f} | {ideal:.2f} | {speedup / ideal:.2f} |"
              f" {r['llm'] * 1e3:.1f} | {llm_speed:.2f} / {llm_ideal:.2f} | {r['own'] * 1e3:.2f} |"
              f" {r['share']:.1%} | {r['query'] * 1e3:.1f} |")


if __name__ == "__main__":
    main()
