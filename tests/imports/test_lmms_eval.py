"""Importing lmms-eval result files: every layout from v0.1 to v0.7 (fixtures written from the formats
the harness's writing code produces), the benchmark and scale table, visual tokens inferred from
``max_pixels``, partial runs, idempotence, and the bad input of the issue."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from vlmplanner.cli.app import main
from vlmplanner.errors import UnknownModelError, ValidationError
from vlmplanner.imports.lmms_eval import model_from_args, parse_model_args, read_lmms_eval
from vlmplanner.imports.records import hub_id_from_path
from vlmplanner.imports.store import plan_import
from vlmplanner.store import open_catalog
from vlmplanner.store.shipped import load_shipped

LLAVA = "llava-hf/llava-1.5-7b-hf"
QWEN = "Qwen/Qwen2.5-VL-3B-Instruct"


def _write(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def v01(root: Path) -> Path:
    """v0.1.0: <out>/<model>/model_args_<hash6>/<MMDD_HHMM>_<suffix>/results.json, model_configs,
    no date, MME's perception key misspelt."""
    return _write(root / "llava" / "model_args_3f2a1b" / "0301_1200_llava_mme" / "results.json", {
        "results": {"gqa": {"exact_match,none": 0.6197, "exact_match_stderr,none": 0.0043, "alias": "gqa"},
                    "mme": {"mme_percetion_score,none": 1510.75, "mme_cognition_score,none": 355.71, "alias": "mme"}},
        "configs": {"gqa": {"dataset_path": "lmms-lab/GQA"}}, "versions": {"gqa": "Yaml", "mme": 0.0},
        "n-shot": {"gqa": 0, "mme": 0},
        "model_configs": {"model": "llava", "model_args": "pretrained=liuhaotian/llava-v1.5-7b", "batch_size": 1,
                          "device": None, "limit": None, "bootstrap_iters": 100000, "gen_kwargs": ""},
        "git_hash": "a1b2c3d",
    })


def v024(root: Path) -> Path:
    """v0.2.4+: <out>/<model_name_sanitized>/<date_id>_results.json, config, n-samples, model_name."""
    return _write(root / "liuhaotian__llava-v1.5-7b" / "20241020_101010_results.json", {
        "results": {
            "textvqa_val": {"alias": "textvqa_val", "exact_match,none": 0.5821, "exact_match_stderr,none": 0.0069,
                            "submission,none": None},
            "pope": {"alias": "pope", "pope_accuracy,none": 0.8597, "pope_accuracy_stderr,none": "N/A",
                     "pope_f1_score,none": 0.8412, "pope_precision,none": 0.93},
            "mmbench_en_dev": {"alias": "mmbench_en_dev", "gpt_eval_score,none": 64.3,
                               "gpt_eval_score_stderr,none": "N/A"},
            "vlms_are_biased": {"accuracy_by_topic,none": {"overall": 0.19}, "alias": "vlms_are_biased"},
        },
        "group_subtasks": {"textvqa_val": [], "pope": [], "mmbench_en_dev": [], "vlms_are_biased": []},
        "configs": {}, "versions": {"textvqa_val": "Yaml"}, "n-shot": {},
        "higher_is_better": {"pope": {"pope_accuracy": True}},
        "n-samples": {"textvqa_val": {"original": 5000, "effective": 5000}, "pope": {"original": 9000, "effective": 9000},
                      "mmbench_en_dev": {"original": 4377, "effective": 4377}},
        "config": {"model": "llava", "model_args": "pretrained=liuhaotian/llava-v1.5-7b,conv_template=vicuna_v1",
                   "batch_size": "1", "limit": None},
        "git_hash": "v0.2.4-3-g1234567", "date": "20241020_101010", "model_name": "liuhaotian/llava-v1.5-7b",
        "total_evaluation_time_seconds": "3600.5",
    })


def v07_qwen(root: Path, max_pixels: int = 401408, date: str = "20260115_090000") -> Path:
    """v0.7: lmms_eval_version, a Hub-cache path as model_name, JSON in model_args, a repeated key."""
    args = (f'pretrained=/data/hf/models--Qwen--Qwen2.5-VL-3B-Instruct/snapshots/66285546,max_pixels=200704,'
            f'mm_processor_kwargs={{"min_pixels":3136,"max_pixels":{max_pixels}}},max_pixels={max_pixels},'
            'attn_implementation=sdpa')
    return _write(root / "snapshots__66285546" / f"{date}_results.json", {
        "results": {"docvqa_val": {"anls,none": 0.9012, "anls_stderr,none": 0.0031, "alias": "docvqa_val"},
                    "chartqa": {"relaxed_overall,none": 0.802, "relaxed_human_split,none": 0.7},
                    "ocrbench": {"ocrbench_accuracy,none": 0.815},
                    "mmstar": {"average,none": 0.5523, "science & technology,none": 0.41}},
        "configs": {}, "versions": {}, "n-shot": {},
        "n-samples": {t: {"original": 10, "effective": 10} for t in ("docvqa_val", "chartqa", "ocrbench", "mmstar")},
        "config": {"model": "qwen2_5_vl", "model_args": args, "batch_size": "1", "limit": None, "offset": 0,
                   "resolved_cli_args": {"tasks": "docvqa_val"}},
        "lmms_eval_version": "main@abc12345", "date": date,
        "model_name": "/data/hf/models--Qwen--Qwen2.5-VL-3B-Instruct/snapshots/66285546",
        "efficiency": {"overall": {"total_input_tokens": 2918}},
    })


def partial(root: Path) -> Path:
    return _write(root / "partial" / "20250101_000000_results.json", {
        "results": {"gqa": {"exact_match,none": 0.7}}, "configs": {}, "versions": {},
        "n-samples": {"gqa": {"original": 12578, "effective": 100}},
        "config": {"model": "llava", "model_args": "pretrained=liuhaotian/llava-v1.5-7b", "limit": 100.0},
        "date": "20250101_000000", "model_name": "liuhaotian/llava-v1.5-7b",
    })


def _models() -> list[Any]:
    return list(load_shipped().models)


def _benchmarks() -> list[Any]:
    return list(load_shipped().benchmarks)


def test_model_args_are_parsed_as_lmms_eval_passes_them() -> None:
    args = parse_model_args('pretrained=a/b,mm_processor_kwargs={"min_pixels":1,"max_pixels":2},max_pixels=5,'
                            'max_pixels=7,name="x,y"')
    assert args == {"pretrained": "a/b", "mm_processor_kwargs": '{"min_pixels":1,"max_pixels":2}',
                    "max_pixels": "7", "name": '"x,y"'}
    assert model_from_args({"model": "m/x", "pretrained": "org/name"}) == "org/name"   # lmms-eval's order
    assert hub_id_from_path("/c/models--Qwen--Qwen2-VL-7B-Instruct/snapshots/abc") == "Qwen/Qwen2-VL-7B-Instruct"


@pytest.mark.parametrize("layout", [v01, v024, v07_qwen])
def test_every_layout_is_found_in_a_folder(layout: Any, tmp_path: Path) -> None:
    layout(tmp_path)
    report = read_lmms_eval([tmp_path])
    assert report.scores and not report.problems


def test_benchmarks_and_scales(tmp_path: Path) -> None:
    v01(tmp_path / "a")
    v024(tmp_path / "b")
    v07_qwen(tmp_path / "c")
    report = read_lmms_eval([tmp_path])
    got = {(s.benchmark, s.task): s for s in report.scores}
    assert got["GQA", "gqa"].score == pytest.approx(61.97) and got["GQA", "gqa"].stderr == pytest.approx(0.43)
    assert got["MME(P)", "mme"].score == 1510.75 and got["MME(P)", "mme"].metric_key == "mme_percetion_score,none"
    assert got["MME-Cognition", "mme"].score == 355.71
    assert got["TextVQA", "textvqa_val"].score == pytest.approx(58.21)
    assert got["POPE", "pope"].score == pytest.approx(85.97) and got["POPE", "pope"].stderr is None   # "N/A"
    assert got["POPE(F1)", "pope"].score == pytest.approx(84.12)
    assert got["MMBench", "mmbench_en_dev"].score == pytest.approx(64.3)   # GPT-judged: already 0-100
    assert got["DocVQA", "docvqa_val"].score == pytest.approx(90.12)
    assert got["ChartQA", "chartqa"].score == pytest.approx(80.2)
    assert got["OCRBench", "ocrbench"].score == pytest.approx(815.0)     # Final Score / 1000 in the file
    assert got["MMStar", "mmstar"].score == pytest.approx(55.23)
    assert [u.what for u in report.unknown_tasks] == ["vlms_are_biased"]
    qwen = got["DocVQA", "docvqa_val"]
    assert qwen.model == QWEN and qwen.settings["max_pixels"] == "401408" and qwen.versions == {"lmms-eval": "main@abc12345"}
    assert got["GQA", "gqa"].model == "liuhaotian/llava-v1.5-7b" and got["GQA", "gqa"].run.startswith("0301_1200")


def test_the_plan_infers_tokens_and_adds_mme_total(tmp_path: Path) -> None:
    v01(tmp_path)
    v07_qwen(tmp_path)
    plan = plan_import(read_lmms_eval([tmp_path]), models=_models(), benchmarks=_benchmarks(), model=None)
    by = {(p.result.model, p.result.benchmark): p for p in plan.results}
    assert (QWEN, "DocVQA") in by and by[QWEN, "DocVQA"].result.visual_tokens == 512      # 401408 / 28²
    assert "max_pixels 401408" in by[QWEN, "DocVQA"].tokens_from
    assert by[QWEN, "DocVQA"].result.compressor == "downsample"      # max_pixels scales larger images down
    assert all(r.result.provenance == "imported" for r in plan.results)
    # the llava run names liuhaotian/llava-v1.5-7b, which the catalog files under another id
    assert any("liuhaotian/llava-v1.5-7b" in s.reason for s in plan.left_out)
    named = plan_import(read_lmms_eval([tmp_path / "llava"]), models=_models(), benchmarks=_benchmarks(), model=LLAVA)
    total = next(p for p in named.results if p.result.benchmark == "MME(P+C)")
    assert total.result.score == pytest.approx(1510.75 + 355.71) and total.result.visual_tokens == 576
    with pytest.raises(UnknownModelError):
        plan_import(read_lmms_eval([tmp_path]), models=_models(), benchmarks=_benchmarks(), model="no/such-model")


def test_partial_runs_are_left_out_unless_asked(tmp_path: Path) -> None:
    partial(tmp_path)
    report = read_lmms_eval([tmp_path])
    assert report.scores[0].limited and report.scores[0].samples == 100
    plan = plan_import(report, models=_models(), benchmarks=_benchmarks(), model=LLAVA)
    assert not plan.results and "partial run" in plan.left_out[0].reason
    plan = plan_import(report, models=_models(), benchmarks=_benchmarks(), model=LLAVA, include_partial=True)
    assert "PARTIAL RUN" in plan.results[0].result.note


def test_not_lmms_eval_files_are_reported(tmp_path: Path) -> None:
    _write(tmp_path / "lm" / "results.json", {"results": {"gqa": {"exact_match,none": 0.5}}, "configs": {},
                                               "lm_eval_version": "0.4.2", "date": 1700000000.5})
    (tmp_path / "cut").mkdir()
    (tmp_path / "cut" / "20250101_000000_results.json").write_text('{"results": {"gqa": {"exact_m')
    _write(tmp_path / "other" / "results.json", [1, 2, 3])
    report = read_lmms_eval([tmp_path])
    reasons = sorted(p.reason for p in report.problems)
    assert not report.scores and len(reasons) == 3
    assert any("lm-evaluation-harness" in r for r in reasons) and any("not readable JSON" in r for r in reasons)
    with pytest.raises(ValidationError) as info:
        read_lmms_eval([tmp_path / "missing"])
    assert info.value.field == "path"


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_dry_run_then_import_is_idempotent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    v024(tmp_path / "runs")
    url = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    code, out, err = _run(capsys, "import", "lmms-eval", str(tmp_path / "runs"), "--model", LLAVA, "--catalog", url,
                          "--dry-run", "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["dry_run"] and shown["stored"] == 0
    rows = {r["benchmark"]: r for r in shown["results"]}
    assert rows["TextVQA"]["score"] == pytest.approx(58.21) and rows["TextVQA"]["scale_factor"] == 100.0
    assert rows["TextVQA"]["visual_tokens"] == 576 and rows["POPE(F1)"]["metric_key"] == "pope_f1_score,none"
    assert [u["what"] for u in shown["unknown_tasks"]] == ["vlms_are_biased"]
    assert not (tmp_path / "c.sqlite3").exists()                      # a dry run writes nothing
    code, out, err = _run(capsys, "import", "lmms-eval", str(tmp_path / "runs"), "--model", LLAVA, "--catalog", url,
                          "--json")
    assert code == 0, err
    assert json.loads(out)["stored"] == 4
    with open_catalog(url) as store:
        first = sorted((r.id, r.benchmark, r.score) for r in store.results(provenance="imported"))
    code, out, err = _run(capsys, "import", "lmms-eval", str(tmp_path / "runs"), "--model", LLAVA, "--catalog", url)
    assert code == 0, err
    with open_catalog(url) as store:
        again = sorted((r.id, r.benchmark, r.score) for r in store.results(provenance="imported"))
    assert again == first and len(first) == 4                          # TextVQA, POPE, POPE(F1), MMBench


def test_cli_errors_name_the_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    v024(tmp_path / "runs")
    url = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    code, _, err = _run(capsys, "import", "lmms-eval", str(tmp_path / "runs"), "--model", "no/such", "--catalog", url)
    assert code == 3 and "unknown model 'no/such'" in err and "Traceback" not in err
    code, _, err = _run(capsys, "import", "lmms-eval", str(tmp_path / "runs"), "--catalog", url)   # no catalog match
    assert code != 0 and "nothing imported" in err and "liuhaotian/llava-v1.5-7b" in err
    code, _, err = _run(capsys, "import", "lmms-eval", str(tmp_path / "nope"), "--catalog", url)
    assert code != 0 and "no such file or folder" in err
    code, _, err = _run(capsys, "import", "lmms-eval", str(tmp_path / "runs"), "--model", LLAVA,
                        "--compressor", "nosuch", "--catalog", url)
    assert code == 3 and "unknown compressor" in err


def test_an_imported_score_is_recommended(tmp_path: Path) -> None:
    """A registered model with no published DocVQA score gets one from an lmms-eval run, and the
    planner recommends it, saying the quality was imported."""
    import vlmplanner
    from vlmplanner import Budget, Workload
    from vlmplanner.imports.store import store_import

    v07_qwen(tmp_path / "runs")
    url = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    with open_catalog(url) as store:
        _, stored = store_import(store, read_lmms_eval([tmp_path / "runs"]))
    assert {r.benchmark for r in stored} == {"DocVQA", "ChartQA", "OCRBench", "MMStar"}
    with vlmplanner.Planner(url) as planner:
        rec = planner.recommend(task="DocVQA", budget=Budget(gflops=100_000),
                                workload=Workload(text_tokens=50, image_size=(1080, 1920)))
    assert rec.candidate.key == f"{QWEN}+downsample@512"
    assert rec.quality.provenance == "imported" and rec.quality.score == pytest.approx(90.12)
    assert rec.runnable.runnable and "imported" in rec.reason
