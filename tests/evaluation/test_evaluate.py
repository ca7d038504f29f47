"""``vlmplanner evaluate``: a tiny random-weight model on datasets generated here (JSONL with images,
parquet, a saved datasets folder), answers kept as they come and resumed, the score recomputed from
the stored answers, the measured result's provenance, and the bad input of the issue."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _extras import TORCH_STACK, requires

from vlmplanner.errors import UnknownBenchmarkError, ValidationError
from vlmplanner.evaluation import metrics
from vlmplanner.evaluation.benchmarks import definition
from vlmplanner.evaluation.data import load_dataset

QUESTIONS = ["what is in the picture ?", "is it red ?", "how many cats ?", "what colour is it ?", "where is it ?"]


def _image(path: Path, seed: int) -> None:
    import numpy as np
    from PIL import Image

    pixels = np.random.RandomState(seed).randint(0, 255, (56 + 28 * (seed % 2), 56, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def gqa_jsonl(folder: Path, n: int = 5) -> Path:
    (folder / "images").mkdir(parents=True, exist_ok=True)
    with (folder / "gqa.jsonl").open("w") as out:
        for i in range(n):
            _image(folder / "images" / f"{i}.png", i)
            out.write(json.dumps({"id": f"q{i}", "question": QUESTIONS[i % 5], "answer": ["cat", "yes", "2"][i % 3],
                                  "image": f"images/{i}.png"}) + "\n")
    return folder / "gqa.jsonl"


@pytest.fixture(scope="module")
def tiny(tiny_qwen: dict[str, Any]) -> dict[str, Any]:
    return tiny_qwen


def _pipeline(tiny: dict[str, Any], compressor: str = "none", k: int | None = None) -> Any:
    import vlmplanner

    k = k or tiny["spec"].native_visual_tokens
    return vlmplanner.load(f"tiny/qwen+{compressor}@{k}", catalog=tiny["url"], checkpoint=tiny["directory"])


@requires(*TORCH_STACK)
def test_answers_are_kept_resumed_and_scored(tiny: dict[str, Any], tmp_path: Path) -> None:
    from vlmplanner.evaluation.run import evaluate, read_answers
    from vlmplanner.store import open_catalog

    data = gqa_jsonl(tmp_path / "gqa")
    asked: list[int] = []
    with _pipeline(tiny) as pipeline:
        generate = pipeline.generate

        def counted(images: Any, prompts: Any, **kwargs: Any) -> Any:
            asked.append(len(prompts))
            return generate(images, prompts, **kwargs)

        pipeline.generate = counted
        first = evaluate(pipeline, "GQA", data, limit=2, batch=2, answers_dir=tmp_path / "answers")
        assert first.limited and len(first.answers) == 2 and asked == [2]
        with open_catalog(tiny["url"]) as catalog:
            full = evaluate(pipeline, "gqa", data, batch=2, answers_dir=tmp_path / "answers", catalog=catalog)
    assert asked == [2, 2, 1]                                   # only the three left were asked
    assert not full.limited and len(read_answers(full.answers_file)) == 5
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    expected = [metrics.exact_match(a.prediction, [r["answer"]]) for a, r in zip(full.answers, rows)]
    assert full.aggregate.scores == {"GQA": pytest.approx(100 * sum(expected) / 5)}
    assert all(a.visual_tokens in (4, 6) for a in full.answers)   # 56x56 -> 2x2 merged, 84x56 -> 3x2
    (stored,) = full.stored
    assert stored.provenance == "measured" and stored.benchmark == "GQA" and stored.model == "tiny/qwen"
    assert full.dataset.fingerprint in stored.note and "5 samples" in stored.note and "prompt GQA v1" in stored.note
    assert stored.versions["prompt"] == "GQA/1" and "torch" in stored.versions and stored.device.startswith("cpu")


@requires(*TORCH_STACK)
def test_a_cut_answers_file_is_resumed(tiny: dict[str, Any], tmp_path: Path) -> None:
    from vlmplanner.evaluation.run import evaluate

    data = gqa_jsonl(tmp_path / "gqa", n=3)
    with _pipeline(tiny) as pipeline:
        run = evaluate(pipeline, "GQA", data, answers_dir=tmp_path / "answers")
        text = run.answers_file.read_text().splitlines()
        run.answers_file.write_text("\n".join(text[:2]) + "\n" + text[2][:7])   # killed mid-line
        again = evaluate(pipeline, "GQA", data, answers_dir=tmp_path / "answers")
    assert [a.id for a in again.answers] == ["q0", "q1", "q2"] and again.aggregate == run.aggregate


@requires(*TORCH_STACK, "datasets")
def test_parquet_and_a_saved_datasets_folder(tiny: dict[str, Any], tmp_path: Path) -> None:
    """POPE from parquet and from save_to_disk: images as the bytes datasets stores; both scores."""
    import io

    import datasets
    from PIL import Image

    from vlmplanner.evaluation.run import evaluate

    def png(seed: int) -> bytes:
        buffer = io.BytesIO()
        Image.new("RGB", (56, 56), (seed * 40, 10, 200)).save(buffer, format="PNG")
        return buffer.getvalue()

    table = datasets.Dataset.from_dict({
        "question_id": [f"p{i}" for i in range(4)], "question": ["Is there a cat in the image?"] * 4,
        "answer": ["yes", "no", "yes", "no"], "image": [{"bytes": png(i), "path": None} for i in range(4)],
    })
    table.to_parquet(tmp_path / "pope.parquet")
    datasets.DatasetDict({"test": table}).save_to_disk(tmp_path / "saved")
    with _pipeline(tiny) as pipeline:
        from_parquet = evaluate(pipeline, "POPE", tmp_path / "pope.parquet", answers_dir=tmp_path / "a")
        from_folder = evaluate(pipeline, "POPE", tmp_path / "saved", answers_dir=tmp_path / "b")
    for run in (from_parquet, from_folder):
        assert set(run.aggregate.scores) == {"POPE", "POPE(F1)"} and len(run.answers) == 4
        pope = metrics.pope_scores([a.prediction for a in run.answers], ["yes", "no", "yes", "no"])
        assert run.aggregate.scores["POPE"] == pytest.approx(100 * pope["accuracy"])
    assert from_folder.dataset.kind == "datasets" and from_folder.dataset.split == "test"
    assert from_parquet.dataset.kind == "parquet"


@requires("PIL", "numpy")
def test_bad_datasets_are_refused_before_anything_runs(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    _image(tmp_path / "images" / "0.png", 0)
    rows = [{"id": "a", "question": "q", "image": "images/0.png"}]
    (tmp_path / "no_answer.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    with pytest.raises(ValidationError) as info:
        load_dataset(tmp_path / "no_answer.jsonl", definition("GQA"))
    assert info.value.field == "answer" and "question" in str(info.value)
    rows = [{"id": "a", "question": "q", "answer": "x", "image": "images/9.png"}]
    (tmp_path / "missing.jsonl").write_text(json.dumps(rows[0]))
    with pytest.raises(ValidationError) as info:
        load_dataset(tmp_path / "missing.jsonl", definition("GQA"))
    assert info.value.field == "image" and "images/9.png" in str(info.value)
    (tmp_path / "bad.jsonl").write_text('{"id": 1, "question"')
    with pytest.raises(ValidationError, match="line 1 is not JSON"):
        load_dataset(tmp_path / "bad.jsonl", definition("GQA"))
    mme = [{"question_id": "x.png", "question": "Is it? Please answer yes or no.", "answer": "Yes",
            "image": "images/0.png"}]
    (tmp_path / "mme.jsonl").write_text(json.dumps(mme[0]))
    with pytest.raises(ValidationError) as info:
        load_dataset(tmp_path / "mme.jsonl", definition("MME"))
    assert info.value.field == "category"
    with pytest.raises(UnknownBenchmarkError):
        definition("GQAA")
    with pytest.raises(ValidationError) as info:
        load_dataset(tmp_path / "nothing-here", definition("GQA"))
    assert info.value.field == "data"


@requires(*TORCH_STACK)
def test_cli_evaluate_stores_and_exports(tiny: dict[str, Any], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    from vlmplanner.cli.app import main
    from vlmplanner.store import open_catalog

    data = gqa_jsonl(tmp_path / "gqa", n=3)
    key = f"tiny/qwen+none@{tiny['spec'].native_visual_tokens}"
    code = main(["evaluate", key, "--benchmark", "GQA", "--data", str(data), "--checkpoint", str(tiny["directory"]),
                 "--catalog", tiny["url"], "--answers-dir", str(tmp_path / "answers"),
                 "--export", str(tmp_path / "out.jsonl"), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    shown = json.loads(out)
    assert shown["samples"] == 3 and not shown["limited"] and shown["stored"][0]["provenance"] == "measured"
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 3
    with open_catalog(tiny["url"]) as catalog:
        assert any(r.source == shown["stored"][0]["source"] for r in catalog.results(model="tiny/qwen"))
    code = main(["evaluate", key, "--benchmark", "GQA", "--data", str(tmp_path / "nope"), "--catalog", tiny["url"]])
    _, err = capsys.readouterr()
    assert code != 0 and "no dataset at" in err and "Traceback" not in err
