"""``vlmplanner recommend``, ``fit`` and ``frontier`` through the console entry point."""

from __future__ import annotations

import json

import pytest

from vlmplanner.cli.app import main


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('cli-plan') / 'catalog.sqlite3'}"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_recommend_json_paper_grid(capsys: pytest.CaptureFixture[str], url: str) -> None:
    code, out, err = run(capsys, "recommend", "--task", "visual-reasoning", "--budget-gflops", "1000",
                         "--text-tokens", "50", "--accounting", "paper", "--family", "llava_next",
                         "--compressor", "tokenpacker", "--include-unrunnable", "--catalog", url, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["include"] == "all" and data["runnable"]["runnable"] is False
    assert any("tokenpacker" in reason for reason in data["runnable"]["reasons"])
    assert data["candidate"]["key"] == "paper-2411.03312/llava-next-qwen1.5-7b+tokenpacker@16"
    assert data["candidate"]["model"] == "paper-2411.03312/llava-next-qwen1.5-7b"
    assert data["candidate"]["compressor"] == "tokenpacker" and data["candidate"]["visual_tokens"] == 16
    assert data["quality"]["provenance"] == "published" and data["quality"]["score"] > 0
    assert data["cost"]["flops"] == pytest.approx(2 * 7e9 * 66)
    assert data["candidate"]["key"] in data["frontier"]


def test_the_paper_grid_alone_is_not_recommended_by_default(capsys: pytest.CaptureFixture[str], url: str) -> None:
    code, _, err = run(capsys, "recommend", "--task", "visual-reasoning", "--budget-gflops", "1000",
                       "--family", "llava_next", "--compressor", "tokenpacker", "--catalog", url)
    assert code == 7 and "--include-unrunnable" in err and "Traceback" not in err


def test_the_default_answer_is_runnable(capsys: pytest.CaptureFixture[str], url: str) -> None:
    code, out, err = run(capsys, "recommend", "--task", "visual-reasoning", "--budget-gflops", "3000",
                         "--catalog", url, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["runnable"] == {"runnable": True, "reasons": []} and data["include"] == "runnable"
    assert {part["benchmark"] for part in data["quality"]["parts"]} == {"GQA", "MMBench", "MME(P)", "POPE", "SQA-IMG"}
    assert all(point["runnable"] for point in data["frontier_points"])
    code, out, _ = run(capsys, "recommend", "--task", "visual-reasoning", "--budget-gflops", "3000", "--catalog", url)
    assert code == 0 and "runnable    yes" in out


def test_recommend_table(capsys: pytest.CaptureFixture[str], url: str) -> None:
    code, out, _ = run(capsys, "recommend", "--task", "ocr-text", "--budget-gflops", "1000", "--text-tokens", "50",
                       "--accounting", "paper", "--family", "llava_next", "--include-unrunnable", "--catalog", url)
    assert code == 0
    assert "llava-next-qwen1.5-0.5b+tokenpacker@576" in out and "why" in out and "a what-if" in out


def test_budget_with_units(capsys: pytest.CaptureFixture[str], url: str) -> None:
    code, out, err = run(capsys, "recommend", "--task", "visual-reasoning", "--budget", "3 TFLOPs", "--accounting",
                         "paper", "--catalog", url, "--json")
    assert code == 0, err
    assert json.loads(out)["budget"]["gflops"] == 3000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--budget-gflops", "0"], "positive"),
        (["--budget-gflops", "-3"], "positive"),
        (["--budget-gflops", "nan"], "finite"),
        (["--budget", "1000"], "no unit"),
        ([], "at least one limit"),
        (["--budget-gflops", "100", "--text-tokens", "-5"], "text_tokens"),
        (["--budget-gflops", "100", "--hardware", "h1000"], "unknown hardware"),
        (["--budget-gflops", "100", "--accounting", "napkin"], "accounting"),
    ],
)
def test_bad_input_is_one_line(capsys: pytest.CaptureFixture[str], url: str, args: list[str], message: str) -> None:
    code, out, err = run(capsys, "recommend", "--task", "visual-reasoning", *args, "--catalog", url)
    assert code != 0
    assert message in err and "Traceback" not in out + err


def test_unknown_task(capsys: pytest.CaptureFixture[str], url: str) -> None:
    code, _, err = run(capsys, "recommend", "--task", "visual-reasonning", "--budget-gflops", "100", "--catalog", url)
    assert code == 3 and "did you mean 'visual-reasoning'" in err


def test_nothing_fits(capsys: pytest.CaptureFixture[str], url: str) -> None:
    code, _, err = run(capsys, "recommend", "--task", "visual-reasoning", "--budget-gflops", "0.1", "--catalog", url)
    assert code == 7 and "the cheapest" in err


def test_fit_reports_leave_one_size_out(capsys: pytest.CaptureFixture[str], url: str) -> None:
    code, out, err = run(capsys, "fit", "--catalog", url, "--json")
    assert code == 0, err
    rows = {r["benchmark"]: r for r in json.loads(out)}
    reasoning = rows["avg_visual_reasoning"]
    assert reasoning["alpha"] == pytest.approx(0.077, abs=0.01) and reasoning["beta"] == pytest.approx(0.015, abs=0.01)
    assert reasoning["loo_mae_points"] <= 1.0
    assert rows["avg_ocr_like"]["optimal_visual_tokens"] is None  # beta > alpha: use every token
    code, out, _ = run(capsys, "fit", "--catalog", url)
    assert code == 0 and "2 row(s)" in out and "Scaling laws" in out


def test_frontier(capsys: pytest.CaptureFixture[str], url: str) -> None:
    code, out, err = run(capsys, "frontier", "--task", "visual-reasoning", "--accounting", "paper", "--catalog", url,
                         "--json")
    assert code == 0, err
    points = json.loads(out)
    assert [p["cost"] for p in points] == sorted(p["cost"] for p in points)
    assert points and all(p["runnable"] for p in points)
    code, out, err = run(capsys, "frontier", "--task", "visual-reasoning", "--accounting", "paper",
                         "--include-unrunnable", "--catalog", url, "--json")
    assert code == 0, err
    assert any(not p["runnable"] for p in json.loads(out))


def test_warnings_are_one_line(capsys: pytest.CaptureFixture[str], url: str) -> None:
    code, _out, err = run(capsys, "recommend", "--task", "visual-reasoning", "--budget-gflops", "20000",
                         "--model", "paper-2411.03312/llava-next-qwen1.5-14b", "--include-unrunnable", "--catalog", url)
    assert code == 0
    assert "warning: " in err and "outside the fitted range" in err and "Traceback" not in err


def test_training_free_filter(capsys: pytest.CaptureFixture[str], url: str) -> None:
    code, out, err = run(capsys, "recommend", "--task", "GQA", "--budget-latency-ms", "150", "--output-tokens", "16",
                         "--training-free", "--catalog", url, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["compressor"]["training"] == "training-free"
    assert all("-trained" not in key and "tokenpacker" not in key for key in data["frontier"])
