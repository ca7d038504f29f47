"""``vlmplanner catalog …`` end to end, through the same entry point the console script uses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_shipped_data import ADDED_ROWS, REFERENCE_ROWS

from vlmplanner.cli.app import main
from vlmplanner.store.shipped import load_shipped

SHIPPED = load_shipped()


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.sqlite3'}"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> object:
    code, out, err = run(capsys, *args, "--json")
    assert code == 0, err
    return json.loads(out)


def test_results_json_lists_every_published_row_with_its_source(capsys: pytest.CaptureFixture[str], url: str) -> None:
    rows = run_json(capsys, "catalog", "results", "--catalog", url)
    assert isinstance(rows, list)
    published = [r for r in rows if r["provenance"] == "published"]
    # every shipped row, as many as each results file holds (tests/test_shipped_data.py counts them)
    assert len(published) == len(SHIPPED.results) == sum(REFERENCE_ROWS.values()) + sum(ADDED_ROWS.values())
    assert all(r["source"] for r in published)
    sources = {r["source"] for r in published}
    assert any("values.py" in s for s in sources) and any("Table 1" in s for s in sources)


def test_default_catalog_lives_in_the_data_dir(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rows = run_json(capsys, "catalog", "models")
    assert len(rows) == len(SHIPPED.models)  # type: ignore[arg-type]
    assert (tmp_path / "data" / "catalog.sqlite3").is_file()


def test_env_var_selects_the_catalog(capsys: pytest.CaptureFixture[str], url: str,
                                     monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VLMPLANNER_CATALOG_URL", url)
    run_json(capsys, "catalog", "hardware")
    assert (tmp_path / "cli.sqlite3").is_file()


@pytest.mark.parametrize("command", ["models", "compressors", "hardware", "benchmarks"])
def test_listings_print_tables(capsys: pytest.CaptureFixture[str], url: str, command: str) -> None:
    code, out, _ = run(capsys, "catalog", command, "--catalog", url)
    assert code == 0 and "row(s)" in out


def test_filters_and_show(capsys: pytest.CaptureFixture[str], url: str) -> None:
    qwen = run_json(capsys, "catalog", "models", "--family", "qwen2_5_vl", "--catalog", url)
    assert qwen and all(m["model_type"] == "qwen2_5_vl" for m in qwen)  # type: ignore[union-attr]
    shown = run_json(capsys, "catalog", "show", "paper-2411.03312/llava-next-qwen1.5-7b+tokenpacker@16", "--catalog", url)
    assert shown["kind"] == "candidate"  # type: ignore[index]
    assert {r["benchmark"] for r in shown["results"]} == {"avg_visual_reasoning", "avg_ocr_like"}  # type: ignore[index]
    assert run_json(capsys, "catalog", "show", "FasterVLM", "--catalog", url)["compressor"]["name"] == "cls-topk"  # type: ignore[index]
    assert run_json(capsys, "catalog", "show", "h100-sxm", "--catalog", url)["kind"] == "hardware"  # type: ignore[index]


def test_add_result_from_flags_and_csv(capsys: pytest.CaptureFixture[str], url: str, tmp_path: Path) -> None:
    stored = run_json(capsys, "catalog", "add-result", "--model", "llava-hf/llava-1.5-7b-hf", "--compressor", "pool",
                      "--tokens", "64", "--benchmark", "GQA", "--score", "55.5", "--source", "cli test", "--catalog", url)
    assert stored[0]["visual_tokens"] == 64  # type: ignore[index]
    csv = tmp_path / "r.csv"
    csv.write_text("model,compressor,visual_tokens,benchmark,score,source\n"
                   "llava-hf/llava-1.5-7b-hf,pool,16,GQA,50,cli csv\nllava-hf/llava-1.5-7b-hf,pool,4,POPE,80,cli csv\n")
    code, out, _ = run(capsys, "catalog", "add-result", "--csv", str(csv), "--catalog", url)
    assert code == 0 and "stored 2 result(s)" in out
    rows = run_json(capsys, "catalog", "results", "--provenance", "imported", "--catalog", url)
    assert len(rows) == 2  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "llava-hf/llava-1.5-7b", "--compressor", "pool", "--tokens", "4", "--benchmark", "GQA",
          "--score", "50", "--source", "s"], "did you mean 'llava-hf/llava-1.5-7b-hf'"),
        (["--model", "llava-hf/llava-1.5-7b-hf", "--compressor", "pol", "--tokens", "4", "--benchmark", "GQA",
          "--score", "50", "--source", "s"], "did you mean 'pool'"),
        (["--model", "llava-hf/llava-1.5-7b-hf", "--compressor", "pool", "--tokens", "4", "--benchmark", "GQ",
          "--score", "50", "--source", "s"], "unknown benchmark 'GQ'"),
        (["--model", "llava-hf/llava-1.5-7b-hf", "--compressor", "pool", "--tokens", "0", "--benchmark", "GQA",
          "--score", "50", "--source", "s"], "visual_tokens"),
        (["--model", "llava-hf/llava-1.5-7b-hf", "--compressor", "pool", "--tokens", "4", "--benchmark", "GQA",
          "--score", "150", "--source", "s"], "outside the range of GQA"),
        (["--model", "llava-hf/llava-1.5-7b-hf"], "missing --compressor"),
    ],
)
def test_bad_input_is_one_clear_line(capsys: pytest.CaptureFixture[str], url: str, args: list[str], message: str) -> None:
    before = run_json(capsys, "catalog", "info", "--catalog", url)["counts"]  # type: ignore[index]
    code, out, err = run(capsys, "catalog", "add-result", *args, "--catalog", url)
    assert code != 0
    assert message in err and "Traceback" not in err + out
    assert run_json(capsys, "catalog", "info", "--catalog", url)["counts"] == before  # type: ignore[index]


def test_bad_csv_row_names_file_and_line(capsys: pytest.CaptureFixture[str], url: str, tmp_path: Path) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text("model,compressor,visual_tokens,benchmark,score,source\n"
                   "llava-hf/llava-1.5-7b-hf,pool,16,GQA,50,x\nllava-hf/llava-1.5-7b-hf,pool,-2,GQA,50,x\n")
    code, _, err = run(capsys, "catalog", "add-result", "--csv", str(csv), "--catalog", url)
    assert code != 0 and "bad.csv, line 3" in err
    assert run_json(capsys, "catalog", "results", "--provenance", "imported", "--catalog", url) == []


def test_unreachable_catalog_masks_password(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "catalog", "models", "--catalog", "postgresql://bob:hunter2@127.0.0.1:1/x")
    assert code != 0 and "hunter2" not in err + out and "***" in err and "Traceback" not in err


def test_unknown_filter_suggests(capsys: pytest.CaptureFixture[str], url: str) -> None:
    code, _, err = run(capsys, "catalog", "results", "--compressor", "visonzip", "--catalog", url)
    assert code != 0 and "did you mean 'visionzip'" in err


def test_seed_twice_reports_nothing_changed(capsys: pytest.CaptureFixture[str], url: str) -> None:
    run_json(capsys, "catalog", "info", "--catalog", url)
    report = run_json(capsys, "catalog", "seed", "--catalog", url)
    assert not any(report["inserted"].values()) and not any(report["updated"].values())  # type: ignore[index]


def test_upgrade_and_info(capsys: pytest.CaptureFixture[str], url: str) -> None:
    code, out, _ = run(capsys, "catalog", "upgrade", "--catalog", url)
    from vlmplanner.store.migrate import HEAD_REVISION

    assert code == 0 and HEAD_REVISION in out
    info = run_json(capsys, "catalog", "info", "--catalog", url)
    assert info["schema"] == HEAD_REVISION  # type: ignore[index]


def test_debug_flag_shows_the_traceback(url: str) -> None:
    from vlmplanner.errors import UnknownModelError

    with pytest.raises(UnknownModelError):
        main(["--debug", "catalog", "results", "--model", "nope", "--catalog", url])


def test_the_results_table_shows_fifty_rows_unless_asked(capsys: pytest.CaptureFixture[str], url: str) -> None:
    code, out, _ = run(capsys, "catalog", "results", "--catalog", url)
    assert code == 0 and "the first 50 rows; --limit 0 shows all" in out
    code, out, _ = run(capsys, "catalog", "results", "--limit", "3", "--catalog", url)
    assert code == 0 and "the first 3 rows" in out
    rows = run_json(capsys, "catalog", "results", "--limit", "3", "--catalog", url)
    assert isinstance(rows, list) and len(rows) == 3
    code, out, _ = run(capsys, "catalog", "results", "--benchmark", "avg_ocr_like", "--catalog", url)
    assert code == 0 and "the first" not in out  # 28 rows: all shown
    code, _, err = run(capsys, "catalog", "results", "--limit", "-2", "--catalog", url)
    assert code == 2 and err.startswith("error: --limit must be 0 (all)")
