"""Evaluation throughput on CPU, in process and through ``vlmplanner serve``, and the serve overhead.

Usage: python bench/bench_eval.py [--samples 16] [--rounds 3] [--threads 2]

A mid-size random-weight LLaVA (the ``mid`` model of bench_compression.py: a 6-layer CLIP-like
tower at 336 px and a 12-layer, 1024-wide Llama-like LLM, fp32) runs a GQA-style dataset generated
here (``--samples`` JSONL rows with 336x336 images) three ways, in turns within each round so drift
hits all alike: in process (``evaluate(pipeline, …)``, batch 1), through a loopback ``vlmplanner
serve`` at concurrency 1 (every request alone: what the server adds to each), and at concurrency 4
(its batching: 4 waiting requests run as one generate()). Every answer is greedy and exactly
16 tokens long (GQA's max_new_tokens; end-of-sequence is switched off), so the runs do equal work.

It prints samples/s per mode (the median over rounds) and the serve overhead: (served at
concurrency 1 − in process) / in process, per round, the median of the rounds (target <= 5 %).
Record the table in docs/benchmarks.md with the machine and date.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch
from bench_compression import build
from PIL import Image


def dataset(folder: Path, samples: int) -> Path:
    (folder / "images").mkdir(parents=True)
    with (folder / "gqa.jsonl").open("w") as out:
        for i in range(samples):
            Image.new("RGB", (336, 336), (11 * i % 255, 90, 160)).save(folder / "images" / f"{i}.png")
            out.write(json.dumps({"id": f"q{i}", "question": f"what is the colour of object {i} ?", "answer": "blue",
                                  "image": f"images/{i}.png"}) + "\n")
    return folder / "gqa.jsonl"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from vlmplanner.evaluation.benchmarks import definition
    from vlmplanner.evaluation.endpoint import EndpointSource
    from vlmplanner.evaluation.run import PipelineSource, evaluate
    from vlmplanner.pipeline import wrap
    from vlmplanner.serving.server import Server

    new_tokens = definition("GQA").max_new_tokens
    tiny = build("mid")
    tiny.model.generation_config.eos_token_id = None      # every answer is new_tokens long: equal work
    tiny.model.generation_config.min_new_tokens = new_tokens
    times: dict[str, list[float]] = {"in process": [], "served, concurrency 1": [], "served, concurrency 4": []}
    overheads: list[float] = []
    with tempfile.TemporaryDirectory() as root, wrap(tiny.model, tiny.processor, "none", 576) as pipeline:
        data = dataset(Path(root) / "gqa", args.samples)
        configuration = PipelineSource(pipeline).configuration
        with Server(pipeline, port=0, max_batch=4, batch_window_s=0.02) as server:
            for run in range(args.rounds + 1):                   # round 0 warms up, untimed
                answers = Path(root) / f"answers-{run}"
                start = time.perf_counter()
                evaluate(pipeline, "GQA", data, answers_dir=answers / "local")
                local = time.perf_counter() - start
                row: dict[str, float] = {"in process": local}
                for concurrency in (1, 4):
                    with EndpointSource(server.url, configuration, model=server.model, concurrency=concurrency) as source:
                        start = time.perf_counter()
                        evaluate(source, "GQA", data, batch=concurrency, answers_dir=answers / f"c{concurrency}")
                        row[f"served, concurrency {concurrency}"] = time.perf_counter() - start
                if run:
                    for name, seconds in row.items():
                        times[name].append(seconds)
                    overheads.append((row["served, concurrency 1"] - local) / local)
            batches = list(server.batcher.stats.batch_sizes)
    print(f"machine: {platform.machine()}, {torch.get_num_threads()} threads; {args.samples} samples x"
          f" {new_tokens} new tokens; {args.rounds} rounds (+1 warm-up)")
    print(f"{'mode':<24} {'samples/s':>10} {'median s':>9} {'min s':>7} {'max s':>7}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<24} {args.samples / median:>10.2f} {median:>9.2f} {min(values):>7.2f} {max(values):>7.2f}")
    overhead = statistics.median(overheads)
    print(f"\nserve overhead at concurrency 1 (median of rounds): {overhead:+.1%}  (target <= 5%: "
          f"{'ok' if overhead <= 0.05 else 'MISSED'}); per round: {', '.join(f'{o:+.1%}' for o in overheads)}")
    four = [b for b in batches if b > 1]
    print(f"server batches at concurrency 4: sizes {sorted(set(four))} ({len(four)} batches of more than one)")
    return 0 if overhead <= 0.05 else 1


if __name__ == "__main__":
    raise SystemExit(main())
