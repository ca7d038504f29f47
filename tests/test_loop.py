"""The whole loop offline, as a user runs it: save a tiny random-weight model, register it, profile
it, evaluate it on a generated dataset at two compressor settings, fit, recommend it, instantiate
it, serve it, and evaluate the served endpoint over loopback: the served and in-process
evaluations store the same score."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _extras import TORCH_STACK, need

from vlmplanner.cli.app import main


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    code = main(list(args))
    out, err = capsys.readouterr()
    assert code == 0, f"vlmplanner {' '.join(args)}: {err}"
    return json.loads(out) if "--json" in args else out


def _dataset(folder: Path) -> Path:
    from PIL import Image

    (folder / "images").mkdir(parents=True)
    with (folder / "gqa.jsonl").open("w") as out:
        for i in range(6):
            Image.new("RGB", (112, 112), (40 * i, 90, 160)).save(folder / "images" / f"{i}.png")
            out.write(json.dumps({"id": f"q{i}", "question": f"what colour is thing {i} ?",
                                  "answer": ["blue", "red", "green"][i % 3], "image": f"images/{i}.png"}) + "\n")
    return folder / "gqa.jsonl"


def test_register_profile_evaluate_fit_recommend_instantiate_serve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    need(*TORCH_STACK)
    import vlmplanner
    from vlmplanner import Budget, Workload
    from vlmplanner.evaluation.endpoint import EndpointSource
    from vlmplanner.evaluation.run import PipelineSource, evaluate
    from vlmplanner.families import get_family
    from vlmplanner.serving.server import Server

    monkeypatch.setenv("VLMPLANNER_DATA_DIR", str(tmp_path / "data"))
    bundle = get_family("qwen2_vl").build_tiny(seed=0, text_config={"num_hidden_layers": 2})
    bundle.model.save_pretrained(tmp_path / "model")
    bundle.processor.save_pretrained(tmp_path / "model")
    url = f"sqlite:///{tmp_path / 'catalog.sqlite3'}"
    model, weights = "tiny/loop", str(tmp_path / "model")

    spec = _run(capsys, "register", weights, "--checkpoint", model, "--catalog", url, "--json")
    native = spec["native_visual_tokens"]
    profiled = _run(capsys, "profile", weights, "--name", model, "--compressor", "none", "--device", "cpu",
                    "--dtype", "fp32", "--repeats", "1", "--warmup", "0", "--decode-steps", "1", "--text-tokens", "8",
                    "--catalog", url, "--json")
    assert {r["method"] for r in profiled["measurements"]} == {"analytic", "traced", "measured"}

    data = _dataset(tmp_path / "gqa")
    scores = {}
    for key in (f"{model}+none@{native}", f"{model}+downsample@4"):      # two compressor settings
        shown = _run(capsys, "evaluate", key, "--benchmark", "GQA", "--data", str(data), "--checkpoint", weights,
                     "--catalog", url, "--json")
        assert shown["samples"] == 6 and shown["stored"][0]["provenance"] == "measured"
        scores[key] = shown["scores"]["GQA"]
        assert shown["visual_tokens"] == (16 if "none" in key else 4)    # 112x112: 4x4 merged; scaled: 2x2

    fitted = _run(capsys, "fit", "--family", "qwen2_vl", "--benchmark", "GQA", "--catalog", url, "--json")
    assert isinstance(fitted, (list, dict))                              # the laws refit with the new results

    with vlmplanner.Planner(url) as planner:
        rec = planner.recommend(task="GQA", budget=Budget(gflops=1.0), model=model,
                                workload=Workload(text_tokens=20, image_size=(112, 112)))
    assert rec.candidate.model == model and rec.quality.provenance == "measured"
    assert rec.quality.score == pytest.approx(max(scores.values()))
    assert rec.runnable.runnable

    with rec.instantiate(checkpoint=weights) as pipeline:
        local = evaluate(pipeline, "GQA", data, answers_dir=tmp_path / "in-process")
        with Server(pipeline, port=0) as server, \
                EndpointSource(server.url, PipelineSource(pipeline).configuration, concurrency=1) as endpoint:
            with vlmplanner.open_catalog(url) as catalog:
                served = evaluate(endpoint, "GQA", data, answers_dir=tmp_path / "served", catalog=catalog)
    assert served.stored[0].score == local.results[0].score == pytest.approx(scores[rec.candidate.key])
    assert [a.prediction for a in served.answers] == [a.prediction for a in local.answers]
