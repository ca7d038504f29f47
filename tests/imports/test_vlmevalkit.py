"""vlmplanner.imports.vlmevalkit on VLMEvalKit output written here, in each of its layouts (flat,
``T<date>_G<hash>`` run folders with absolute symlinks, ``T<date>-<time>`` with status.json), and
on broken input."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from vlmplanner.errors import ValidationError
from vlmplanner.evaluation.benchmarks import HarnessMetric
from vlmplanner.imports import vlmevalkit
from vlmplanner.imports.records import ImportedScore, ImportReport
from vlmplanner.imports.vlmevalkit import read_vlmevalkit

LLAVA = "llava_v1.5_7b"


def write_csv(path: Path, header: Sequence[str], *rows: Sequence[object]) -> Path:
    """A score CSV as VLMEvalKit writes it: pandas' to_csv with QUOTE_ALL, no index."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_json(path: Path, data: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=4), encoding="utf-8")
    return path


def mmbench(folder: Path, model: str, dev: float, test: float = 0.70, dataset: str = "MMBench_DEV_EN") -> Path:
    return write_csv(folder / f"{model}_{dataset}_acc.csv", ["split", "Overall", "AR", "CP", "FP-C"],
                     ["dev", dev, 0.71, 0.80, 0.62], ["test", test, 0.69, 0.78, 0.60])


def flat_llava(work: Path) -> Path:
    """The flat (<= Nov 2024) layout: every file in the model folder."""
    model = work / LLAVA
    mmbench(model, LLAVA, 0.7712)
    mmbench(model, LLAVA, 0.6543, dataset="MMBench_DEV_EN_V11")
    write_csv(model / f"{LLAVA}_MME_score.csv",
              ["perception", "reasoning", "OCR", "artwork", "code_reasoning"],
              [1510.75, 311.07, 140.0, 118.25, 57.5])
    write_csv(model / f"{LLAVA}_POPE_score.csv", ["split", "Overall", "acc", "precision", "recall"],
              ["Overall", 85.93, 86.98, 92.13, 80.38], ["random", 87.3, 88.1, 95.0, 80.4],
              ["adversarial", 84.1, 85.2, 88.9, 80.4], ["popular", 86.2, 87.3, 92.3, 80.4])
    write_json(model / f"{LLAVA}_OCRBench_score.json",
               {"Text Recognition": 180, "Scene Text-centric VQA": 120, "Final Score": 297,
                "Final Score Norm": 29.7})
    write_csv(model / f"{LLAVA}_TextVQA_VAL_acc.csv", ["Overall"], [58.21])
    # predictions and judge intermediates are not score files
    (model / f"{LLAVA}_MME.xlsx").write_bytes(b"PK\x03\x04 not a real workbook")
    (model / f"{LLAVA}_MMBench_DEV_EN_openai_result.xlsx").write_bytes(b"PK\x03\x04")
    (model / f"{LLAVA}_MMBench_DEV_EN_PREV.pkl").write_bytes(b"\x80\x04")
    return model


def by_benchmark(report: ImportReport) -> dict[str, ImportedScore]:
    found = {s.benchmark: s for s in report.scores}
    assert len(found) == len(report.scores), "one score per benchmark expected"
    return found


# -- flat layout ---------------------------------------------------------------------------------

def test_flat_layout_scores_and_scales(tmp_path: Path) -> None:
    model = flat_llava(tmp_path / "outputs")
    report = read_vlmevalkit([tmp_path / "outputs"])
    scores = by_benchmark(report)
    assert sorted(scores) == ["MMBench", "MME(P)", "MME-Cognition", "OCRBench", "POPE", "POPE(F1)", "TextVQA"]

    mmb = scores["MMBench"]
    assert mmb.score == pytest.approx(77.12) and mmb.raw == pytest.approx(0.7712) and mmb.factor == 100.0
    assert (mmb.harness, mmb.task, mmb.metric_key, mmb.model) == ("vlmevalkit", "MMBench_DEV_EN", "Overall", LLAVA)
    assert mmb.path == str(model / f"{LLAVA}_MMBench_DEV_EN_acc.csv")
    assert (mmb.run, mmb.date, mmb.versions, mmb.settings) == ("flat", "", {}, {})
    assert (mmb.stderr, mmb.samples, mmb.limited) == (None, None, False)

    assert scores["MME(P)"].score == pytest.approx(1510.75) and scores["MME(P)"].metric_key == "perception"
    assert scores["MME-Cognition"].score == pytest.approx(311.07)
    assert scores["MME-Cognition"].metric_key == "reasoning"
    assert scores["POPE(F1)"].score == pytest.approx(85.93) and scores["POPE(F1)"].metric_key == "Overall"
    assert scores["POPE"].score == pytest.approx(86.98) and scores["POPE"].metric_key == "acc"
    assert scores["OCRBench"].score == 297.0 and scores["OCRBench"].metric_key == "Final Score"
    assert scores["TextVQA"].score == pytest.approx(58.21) and scores["TextVQA"].factor == 1.0
    assert {s.task for s in report.scores} == {"MMBench_DEV_EN", "MME", "POPE", "OCRBench", "TextVQA_VAL"}

    # the V11 file is not mistaken for MMBench_DEV_EN: reported, never read
    assert [(u.what, u.path) for u in report.unknown_tasks] == [
        ("MMBench_DEV_EN_V11", str(model / f"{LLAVA}_MMBench_DEV_EN_V11_acc.csv"))]
    assert all(s.raw != pytest.approx(0.6543) for s in report.scores)
    assert report.partial == [] and report.problems == []


def test_model_folder_and_single_file_read_the_same(tmp_path: Path) -> None:
    model = flat_llava(tmp_path / "outputs")
    whole = read_vlmevalkit([tmp_path / "outputs"])
    assert read_vlmevalkit([model]) == whole
    assert read_vlmevalkit(str(model)) == whole            # a single path, not a list, is accepted
    one = read_vlmevalkit([model / f"{LLAVA}_POPE_score.csv"])
    assert [(s.benchmark, s.score) for s in one.scores] == [("POPE(F1)", 85.93), ("POPE", 86.98)]
    # the same file reached twice is read once
    twice = read_vlmevalkit([model, model / f"{LLAVA}_POPE_score.csv"])
    assert len(twice.scores) == len(whole.scores)
    again = read_vlmevalkit([tmp_path / "outputs", model])
    assert again == whole and again.problems == []


def test_file_outside_its_model_folder_names_its_model(tmp_path: Path) -> None:
    flat_llava(tmp_path / "outputs")
    copied = tmp_path / "copied"
    copied.mkdir()
    target = copied / f"{LLAVA}_MMBench_DEV_EN_acc.csv"
    target.write_bytes((tmp_path / "outputs" / LLAVA / target.name).read_bytes())
    report = read_vlmevalkit([target])
    assert [(s.model, s.task, s.score) for s in report.scores] == [(LLAVA, "MMBench_DEV_EN", pytest.approx(77.12))]
    v11 = copied / f"{LLAVA}_MMBench_DEV_EN_V11_acc.csv"
    v11.write_bytes((tmp_path / "outputs" / LLAVA / v11.name).read_bytes())
    report = read_vlmevalkit([v11])
    assert report.scores == [] and len(report.problems) == 1
    assert "model folder" in report.problems[0].reason


def test_mcq_none_split_and_acc_json(tmp_path: Path) -> None:
    model = tmp_path / "MiniCPM-V-2_6"
    write_csv(model / "MiniCPM-V-2_6_MMStar_acc.csv", ["split", "Overall", "coarse perception"],
              ["none", 0.5713, 0.70])
    write_json(model / "MiniCPM-V-2_6_TextVQA_VAL_acc.json", [{"Overall": 61.5}])   # EVAL_FORMAT=json
    scores = by_benchmark(read_vlmevalkit([model]))
    assert scores["MMStar"].score == pytest.approx(57.13) and scores["MMStar"].factor == 100.0
    assert scores["TextVQA"].score == pytest.approx(61.5) and scores["TextVQA"].model == "MiniCPM-V-2_6"


# -- run folders: Nov 2024 layout ----------------------------------------------------------------

def test_legacy_run_folders_newest_wins_and_symlinks_are_ignored(tmp_path: Path) -> None:
    name = "Qwen2-VL-7B-Instruct"
    model = tmp_path / "outputs" / name
    old, new = model / "T20241101_G0f0f0f0f", model / "T20241120_G1a2b3c4d"
    mmbench(old, name, 0.70)
    write_csv(old / f"{name}_TextVQA_VAL_acc.csv", ["Overall"], [55.0])
    newest = mmbench(new, name, 0.8034)
    write_csv(new / f"{name}_MME_score.csv", ["perception", "reasoning"], [1650.0, 600.5])
    # the model folder's absolute links to the latest run; one dangles, as after a copy
    os.symlink(newest.absolute(), model / newest.name)
    os.symlink(Path("/nonexistent/outputs") / name / new.name / f"{name}_MME_score.csv",
               model / f"{name}_MME_score.csv")

    report = read_vlmevalkit([tmp_path / "outputs"])
    got = {(s.benchmark, s.run): s for s in report.scores}
    assert sorted(got) == sorted([("MME(P)", new.name), ("MME-Cognition", new.name), ("MMBench", new.name),
                                  ("TextVQA", old.name)])
    mmb = got["MMBench", new.name]
    assert mmb.score == pytest.approx(80.34) and mmb.path == str(newest)
    assert (mmb.date, mmb.versions) == ("2024-11-20", {"vlmevalkit": "1a2b3c4d"})
    assert got["TextVQA", old.name].versions == {"vlmevalkit": "0f0f0f0f"}
    assert got["TextVQA", old.name].date == "2024-11-01"
    assert [(p.what, p.path, p.reason) for p in report.partial] == [
        ("MMBench_DEV_EN", str(old / f"{name}_MMBench_DEV_EN_acc.csv"), f"superseded by run {new.name}")]
    assert report.problems == [] and report.unknown_tasks == []


def test_same_day_runs_follow_the_model_folders_link(tmp_path: Path) -> None:
    name = "InternVL2-8B"
    model = tmp_path / name
    first = mmbench(model / "T20241205_Gaaaaaaaa", name, 0.61)
    second = mmbench(model / "T20241205_Gbbbbbbbb", name, 0.62)
    os.utime(second, ns=(1_000_000_000, 1_000_000_000))      # older file, but the link names it
    os.symlink(second.absolute(), model / second.name)
    report = read_vlmevalkit([model])
    assert [(s.run, s.score) for s in report.scores] == [("T20241205_Gbbbbbbbb", pytest.approx(62.0))]
    assert [(p.path, p.reason) for p in report.partial] == [
        (str(first), "superseded by run T20241205_Gbbbbbbbb")]


def test_run_folder_beats_flat_copy_and_unknown_githash(tmp_path: Path) -> None:
    name = "cogvlm2"
    model = tmp_path / name
    flat = mmbench(model, name, 0.50)                         # a dereferenced copy, or an old run
    run = mmbench(model / "T20250302_Gunknown", name, 0.55)    # VLMEvalKit installed without git
    report = read_vlmevalkit([model])
    assert [(s.run, s.score, s.versions, s.date) for s in report.scores] == [
        ("T20250302_Gunknown", pytest.approx(55.0), {}, "2025-03-02")]
    assert [(p.path, p.reason) for p in report.partial] == [(str(flat), "superseded by run T20250302_Gunknown")]
    assert run.exists()


def test_only_broken_links_is_a_problem(tmp_path: Path) -> None:
    model = tmp_path / "outputs" / LLAVA
    model.mkdir(parents=True)
    os.symlink(f"/gone/{LLAVA}/T20241120_G1a2b3c4d/{LLAVA}_MME_score.csv", model / f"{LLAVA}_MME_score.csv")
    report = read_vlmevalkit([tmp_path / "outputs"])
    assert report.scores == []
    assert [(p.path, p.what) for p in report.problems] == [(str(model), LLAVA)]
    assert "no VLMEvalKit score file" in report.problems[0].reason and "symlink" in report.problems[0].reason


# -- run folders: 2026 layout with status.json ---------------------------------------------------

def status(run: Path, datasets: dict[str, dict[str, object]], commit: str = "abcdef12") -> None:
    write_json(run / "status.json", {
        "schema_version": "1.0", "eval_id": run.name, "model_name": run.parent.name, "commit": commit,
        "created_at": "2026-04-10T09:30:00+00:00", "datasets": datasets})


def test_status_json_layout(tmp_path: Path) -> None:
    name = "Qwen2.5-VL-3B-Instruct"
    model = tmp_path / "work" / name
    older, run = model / "T20260401-120000", model / "T20260410-093000"
    write_csv(older / f"{name}_POPE_score.csv", ["split", "Overall", "acc"], ["Overall", 86.1, 87.2])
    status(older, {"POPE": {"status": "done", "primary_metric": "Overall"}}, commit="unknown")
    file = mmbench(run, name, 0.7911)
    write_json(run / f"{name}_OCRBench_score.json", {"Final Score": 797, "Final Score Norm": 79.7})
    write_csv(run / f"{name}_MME_score.csv", ["perception", "reasoning"], [1500.0, 500.0])   # stale
    status(run, {
        "MMBench_DEV_EN": {"status": "done", "metrics": {"split=dev|Overall": 0.7911}},
        "OCRBench": {"status": "done"},
        "POPE": {"status": "eval", "prediction_file": f"{name}_POPE.xlsx"},
        "MME": {"status": "done", "error_message": "judge unreachable"},
        "TextVQA_VAL": {"status": "done", "skip_reason": "mode_infer"},
        "MMMU_DEV_VAL": {"status": "infer"},
    })
    for target in (file.name, "status.json"):                  # relative links to the latest run
        os.symlink(Path(run.name) / target, model / target)

    report = read_vlmevalkit([tmp_path / "work"])
    got = {s.benchmark: s for s in report.scores}
    assert sorted(got) == ["MMBench", "OCRBench", "POPE", "POPE(F1)"]
    assert got["MMBench"].score == pytest.approx(79.11) and got["MMBench"].run == run.name
    assert got["MMBench"].date == "2026-04-10T09:30:00"
    assert got["MMBench"].versions == {"vlmevalkit": "abcdef12"}
    assert got["OCRBench"].score == 797.0
    # POPE is not done in the newest run: the newest finished one is imported
    assert (got["POPE"].run, got["POPE"].score, got["POPE"].versions) == (older.name, pytest.approx(87.2), {})
    assert got["POPE(F1)"].score == pytest.approx(86.1)

    partial = {(p.what, p.path): p.reason for p in report.partial}
    status_file = str(run / "status.json")
    assert set(partial) == {("POPE", status_file), ("MME", str(run / f"{name}_MME_score.csv")),
                            ("TextVQA_VAL", status_file)}
    assert partial["POPE", status_file] == f"status 'eval' in status.json of run {run.name}, not 'done'"
    assert "failed" in partial["MME", str(run / f"{name}_MME_score.csv")]
    assert "judge unreachable" in partial["MME", str(run / f"{name}_MME_score.csv")]
    assert "skipped" in partial["TextVQA_VAL", status_file] and "mode_infer" in partial["TextVQA_VAL", status_file]
    assert report.problems == [] and report.unknown_tasks == []


def test_run_folder_given_directly(tmp_path: Path) -> None:
    run = tmp_path / "InternVL2-8B" / "T20260502-101010"
    write_csv(run / "InternVL2-8B_TextVQA_VAL_acc.csv", ["Overall"], [77.4])
    status(run, {"TextVQA_VAL": {"status": "done"}, "OCRBench": {"status": "done"}})
    report = read_vlmevalkit([run])
    assert [(s.model, s.benchmark, s.score, s.run) for s in report.scores] == [
        ("InternVL2-8B", "TextVQA", 77.4, run.name)]
    assert [(p.what, p.path) for p in report.problems] == [("OCRBench", str(run / "status.json"))]
    assert "no score file" in report.problems[0].reason


def test_unreadable_status_json_is_a_problem_but_files_are_read(tmp_path: Path) -> None:
    run = tmp_path / "m" / "T20260502-101010"
    write_csv(run / "m_TextVQA_VAL_acc.csv", ["Overall"], [70.0])
    (run / "status.json").write_text('{"datasets": {"TextVQA_VAL": {"sta', encoding="utf-8")
    report = read_vlmevalkit([tmp_path / "m"])
    assert [s.score for s in report.scores] == [70.0]
    assert [(p.what, p.path) for p in report.problems] == [("status.json", str(run / "status.json"))]


def test_judge_suffix_and_longest_dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A definition may name a judged score file (``_<judge>_score.csv``); of two datasets that both
    fit a name, the longer is the one, and a judged table's ``Overall`` row is read."""
    acc = (HarnessMetric("acc", "MathVista"),)
    monkeypatch.setattr(vlmevalkit, "_known_datasets", lambda: {
        "MathVista": ("_<judge>_score.csv", acc), "MathVista_MINI": ("_<judge>_score.csv", acc)})
    write_csv(tmp_path / "m" / "m_MathVista_MINI_gpt-4-turbo_score.csv", ["Task&Skill", "tot", "acc"],
              ["Overall", 1000, 49.2], ["FQA", 200, 51.0])
    write_csv(tmp_path / "m" / "m_MMBench_DEV_EN_acc.csv", ["split", "Overall"], ["dev", 0.7])
    report = read_vlmevalkit([tmp_path / "m"])
    assert [(s.task, s.score, s.metric_key) for s in report.scores] == [("MathVista_MINI", 49.2, "acc")]
    assert [u.what for u in report.unknown_tasks] == ["MMBench_DEV_EN"]


def test_truncated_csv_inside_a_quote(tmp_path: Path) -> None:
    model = tmp_path / "m"
    model.mkdir()
    (model / "m_TextVQA_VAL_acc.csv").write_text('"Overall","val"\n"58.2', encoding="utf-8")
    report = read_vlmevalkit([model])
    assert report.scores == [] and [p.what for p in report.problems] == ["TextVQA_VAL"]
    assert "truncated" in report.problems[0].reason


# -- bad input -----------------------------------------------------------------------------------

def test_broken_files_are_problems_and_give_nothing(tmp_path: Path) -> None:
    model = tmp_path / "m"
    model.mkdir()
    (model / "m_OCRBench_score.json").write_text('{"Text Recognition": 180, "Final Sc', encoding="utf-8")
    write_csv(model / "m_TextVQA_VAL_acc.csv", ["Overall", "val"], ["N/A", 50.0])
    write_csv(model / "m_MME_score.csv", ["perception", "OCR"], [1400.0, 120.0])        # no reasoning
    write_csv(model / "m_POPE_score.csv", ["split", "Overall", "acc"], ["Overall", 85.0, 86.0],
              ["random", 84.0])                                                         # truncated row
    mmbench(model, "m", 0.75, dataset="MMBench_DEV_EN")
    report = read_vlmevalkit([model])
    assert [s.benchmark for s in report.scores] == ["MMBench"]
    problems = {p.what: p for p in report.problems}
    assert sorted(problems) == ["MME", "OCRBench", "POPE", "TextVQA_VAL"]
    assert problems["OCRBench"].path == str(model / "m_OCRBench_score.json")
    assert "JSON" in problems["OCRBench"].reason and "truncated" in problems["OCRBench"].reason
    assert "'N/A'" in problems["TextVQA_VAL"].reason and "not a number" in problems["TextVQA_VAL"].reason
    assert "'reasoning'" in problems["MME"].reason
    assert "truncated" in problems["POPE"].reason


def test_broken_newest_run_falls_back_to_the_older(tmp_path: Path) -> None:
    model = tmp_path / "m"
    older = write_csv(model / "T20250101_Gabcdef12" / "m_TextVQA_VAL_acc.csv", ["Overall"], [60.0])
    newer = write_csv(model / "T20250201_Gabcdef12" / "m_TextVQA_VAL_acc.csv", ["Overall"], ["nan"])
    report = read_vlmevalkit([model])
    assert [(s.run, s.score) for s in report.scores] == [("T20250101_Gabcdef12", 60.0)]
    assert [p.path for p in report.problems] == [str(newer)] and "finite" in report.problems[0].reason
    assert report.partial == [] and older.exists()


def test_mmbench_without_dev_row_is_a_problem(tmp_path: Path) -> None:
    write_csv(tmp_path / "m" / "m_MMBench_DEV_EN_acc.csv", ["split", "Overall"], ["test", 0.7])
    report = read_vlmevalkit([tmp_path / "m"])
    assert report.scores == [] and [p.what for p in report.problems] == ["MMBench_DEV_EN"]
    assert "'dev'" in report.problems[0].reason


def test_folder_without_score_files(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "preds" / "m").mkdir(parents=True)
    (tmp_path / "preds" / "m" / "m_MME.xlsx").write_bytes(b"PK")
    report = read_vlmevalkit([tmp_path / "empty", tmp_path / "preds"])
    assert report.scores == []
    assert [p.path for p in report.problems] == [str(tmp_path / "empty"), str(tmp_path / "preds" / "m")]
    assert all("no VLMEvalKit score file" in p.reason for p in report.problems)
    not_score = read_vlmevalkit([tmp_path / "preds" / "m" / "m_MME.xlsx"])
    assert not_score.scores == [] and "not a VLMEvalKit score file" in not_score.problems[0].reason


def test_missing_path_raises_before_reading(tmp_path: Path) -> None:
    flat_llava(tmp_path / "outputs")
    missing = tmp_path / "nowhere" / "llava_MME_score.csv"
    with pytest.raises(ValidationError) as caught:
        read_vlmevalkit([tmp_path / "outputs", missing])
    assert caught.value.field == "path" and caught.value.value == str(missing)
    assert str(missing) in str(caught.value)
