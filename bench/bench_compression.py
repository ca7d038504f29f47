"""Prefill speedup of compressed configurations on a mid-size random-weight LLaVA, on CPU.

Usage: python bench/bench_compression.py [--repeats 15] [--warmup 3] [--threads 2] [--tokens 16]

The model is built from a config (random weights, about 62 M parameters): a CLIP-like tower at
336 px / patch 14 (24x24 = 576 patches, 256 wide, 4 layers) and a Llama-like LLM (512 wide, 8 layers,
vocab 32064), in float32. One 336x336 image and a prompt of about 30 text tokens, batch 1.

For every configuration (``none@576`` and each built-in compressor at ``--tokens``) it times the
prefill the pipeline runs before the first token -- vision tower, the compressor and what it needs
from the model, projector, LLM, lm_head for the last position -- as the median of ``--repeats`` runs
after ``--warmup`` runs, and reports:

* the speedup over ``none@576`` and the FLOPs-ideal speedup: the ratio of the FLOPs torch's
  FlopCounterMode counts for the same two prefills (SDPA on CPU counted with its dense formula), and
  the measured speedup as a fraction of it (target >= 0.8 for pool@16);
* the compressor's own time (``compress()``, plus the [CLS]-attention recompute it needs, or FastV's
  row recompute, selection and gathers) as a share of the configuration's prefill (target <= 3 %),
  and QueCC's extra LLM pass over the question separately;
* the LLM's share (``language_model`` forward, timed by hooks): its speedup against its FLOPs too.

CPU timings drift between runs (up to ~40 % on the 2-core CI machine); compare within one table.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from typing import Any

import numpy as np
import torch
from PIL import Image

from vlmplanner.families import get_family
from vlmplanner.pipeline import wrap

VISION = {"model_type": "clip_vision_model", "hidden_size": 256, "intermediate_size": 1024, "num_hidden_layers": 4,
          "num_attention_heads": 4, "image_size": 336, "patch_size": 14}
TEXT = {"hidden_size": 512, "intermediate_size": 1376, "num_hidden_layers": 8, "num_attention_heads": 8,
        "num_key_value_heads": 8, "vocab_size": 32064, "max_position_embeddings": 2048}
PROMPT = ("USER: <image>\nwhat is in the picture ? describe it . how many are there ? is there a cat or a dog ?"
          " what text reads on the left ? yes or no ? ASSISTANT:")


def build() -> Any:
    return get_family("llava").build_tiny(seed=0, vision_config=VISION, text_config=TEXT)


def sdpa_flops() -> dict[Any, Any]:
    """FlopCounterMode has no formula for CPU SDPA in torch 2.13 (it counts 0): dense QKᵀ + AV."""
    def formula(query: Any, key: Any, value: Any, *args: Any, out_shape: Any = None, **kwargs: Any) -> int:
        b, h, s_q, d = query.shape
        s_k = key.shape[-2]
        return 2 * b * h * s_q * s_k * d + 2 * b * h * s_q * s_k * value.shape[-1]

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
            ("divprune", k, {}), ("fastv", k, {}), ("quecc", k, {"allow_untrained": True, "seed": 0})]


def measure(tiny: Any, name: str, k: int, options: dict[str, Any], image: Any, repeats: int,
            warmup: int) -> dict[str, Any]:
    pipeline = wrap(tiny.model, tiny.processor, name, k, compressor_options=options)
    prompts = [PROMPT]
    batch = dict(pipeline.encode([image], prompts))
    seam = pipeline.seam
    timer = LLMTimer(tiny.model)
    rows = []

    def once() -> dict[str, float]:
        seam.reset_stats()
        timer.seconds = 0.0
        start = time.perf_counter()
        with torch.no_grad():
            kwargs = seam.prepare(dict(batch), [1], pipeline._query_fn(prompts))
            with seam.session(kwargs):
                tiny.model(**kwargs, logits_to_keep=1)
        total = time.perf_counter() - start
        stats = dict(seam.stats)
        own = stats.get("compressor_s", 0.0) + stats.get("context_s", 0.0)
        return {"total": total, "llm": timer.seconds, "own": own, "query": stats.get("query_s", 0.0)}

    try:
        for _ in range(warmup):
            once()
        rows = [once() for _ in range(repeats)]
        from torch.utils.flop_counter import FlopCounterMode

        with FlopCounterMode(display=False, custom_mapping=sdpa_flops()) as counter, torch.no_grad():
            kwargs = seam.prepare(dict(batch), [1], pipeline._query_fn(prompts))
            with seam.session(kwargs):
                tiny.model(**kwargs, logits_to_keep=1)
        flops = counter.get_total_flops()
        per_module = counter.get_flop_counts()
        llm_key = next(m for m in per_module if m.endswith(".model.language_model"))
        llm_flops = sum(per_module[llm_key].values())
        visual = batch["input_ids"].shape[1]
    finally:
        timer.remove()
        pipeline.close()
    med = {key: statistics.median(r[key] for r in rows) for key in rows[0]}
    spread = (max(r["total"] for r in rows) - min(r["total"] for r in rows)) / med["total"]
    return {"name": f"{name}@{k}", "llm_tokens": visual, "flops": flops, "llm_flops": llm_flops,
            "spread": spread, **med}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=16)
    parser.add_argument("--only", nargs="*", help="compressor names to run (none always runs)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    tiny = build()
    params = sum(p.numel() for p in tiny.model.parameters())
    image = Image.fromarray(np.random.RandomState(0).randint(0, 255, (336, 336, 3), dtype=np.uint8))
    print(f"# machine: {platform.machine()} {platform.processor() or ''}, {args.threads} thread(s), torch "
          f"{torch.__version__}; model: {params / 1e6:.1f} M parameters (float32), repeats {args.repeats}")
    results = []
    for name, k, options in configurations(args.tokens):
        if args.only and name != "none" and name not in args.only:
            continue
        results.append(measure(tiny, name, k, options, image, args.repeats, args.warmup))
    base = results[0]
    header = ("| configuration | sequence into the LLM | prefill ms (median) | spread | GFLOP (traced) | speedup |"
              " FLOPs-ideal speedup | fraction of ideal | LLM ms | LLM speedup / ideal | compressor ms |"
              " compressor % of prefill | QueCC query pass ms |")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for r in results:
        speedup = base["total"] / r["total"]
        ideal = base["flops"] / r["flops"]
        llm_speed = base["llm"] / r["llm"] if r["llm"] else float("nan")
        llm_ideal = base["llm_flops"] / r["llm_flops"] if r["llm_flops"] else float("nan")
        print(f"| {r['name']} | {r['llm_tokens']} | {r['total'] * 1e3:.1f} | {r['spread']:.0%} |"
              f" {r['flops'] / 1e9:.2f} | {speedup:.2f} | {ideal:.2f} | {speedup / ideal:.2f} |"
              f" {r['llm'] * 1e3:.1f} | {llm_speed:.2f} / {llm_ideal:.2f} | {r['own'] * 1e3:.2f} |"
              f" {r['own'] / r['total']:.1%} | {r['query'] * 1e3:.1f} |")


if __name__ == "__main__":
    main()
