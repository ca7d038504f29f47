"""``vlmplanner report`` and ``report catalog`` through the console entry point."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from vlmplanner.cli.app import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


QUESTION = ("--task", "visual-reasoning", "--budget-gflops", "3000", "--text-tokens", "50")


@pytest.mark.parametrize("suffix", [".md", ".json", ".csv"])
def test_report_writes_the_format_its_suffix_names(capsys: pytest.CaptureFixture[str], shipped_url: str,
                                                   tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"report{suffix}"
    code, _, err = run(capsys, "report", *QUESTION, "--hardware", "h100", "--hardware", "l4", "--catalog",
                       shipped_url, "--output", str(out))
    assert code == 0, err
    assert f"wrote {out}" in err
    text = out.read_text()
    if suffix == ".json":
        data = json.loads(text)
        assert [s["hardware"] for s in data["sections"]] == ["h100-sxm", "l4"]
    elif suffix == ".csv":
        rows = list(csv.DictReader(io.StringIO(text)))
        assert {r["hardware"] for r in rows} == {"h100-sxm", "l4"}
    else:
        assert text.startswith("# vlmplanner cost report: visual-reasoning")


def test_report_without_output_prints_markdown(capsys: pytest.CaptureFixture[str], shipped_url: str) -> None:
    code, out, err = run(capsys, "report", *QUESTION, "--catalog", shipped_url)
    assert code == 0, err
    assert out.startswith("# vlmplanner cost report") and "## Recommendation" in out
    code, out, _ = run(capsys, "report", *QUESTION, "--catalog", shipped_url, "--format", "json",
                       "--hardware", "none")
    assert code == 0 and json.loads(out)["sections"][0]["hardware"] == "no hardware"


def test_catalog_report(capsys: pytest.CaptureFixture[str], catalog_url: str, tmp_path: Path) -> None:
    from vlmplanner.schemas import CostMeasurement
    from vlmplanner.store import open_catalog

    code, out, err = run(capsys, "report", "catalog", "--catalog", catalog_url, "--format", "json")
    assert code == 0, err
    before = json.loads(out)
    key = "llava-hf/llava-1.5-7b-hf+divprune@64"
    assert key in before["candidates_without_measured_cost"]
    with open_catalog(catalog_url) as store:
        store.add_cost_measurement(CostMeasurement(candidate_key=key, method="measured", device="cpu", dtype="fp32",
                                                   text_tokens=50, prefill_ms=12.5, flops={"llm_blocks": 1e9}))
        version = store.data_version()
    code, out, _ = run(capsys, "report", "catalog", "--catalog", catalog_url, "--format", "json")
    after = json.loads(out)
    assert key not in after["candidates_without_measured_cost"]
    assert after["candidates_with_measured_cost"] == before["candidates_with_measured_cost"] + 1
    assert after["measurements_by_method"] == {"measured": 1}
    exported = tmp_path / "measurements.csv"
    code, _, err = run(capsys, "report", "catalog", "--catalog", catalog_url, "-o", str(exported))
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(exported.read_text())))
    assert len(rows) == 1 and rows[0]["candidate_key"] == key and float(rows[0]["prefill_ms"]) == 12.5
    assert float(rows[0]["total_flops"]) == 1e9 and json.loads(rows[0]["flops"]) == {"llm_blocks": 1e9}
    code, out, _ = run(capsys, "report", "catalog", "--catalog", catalog_url)
    assert code == 0 and "## Quality coverage per benchmark" in out
    with open_catalog(catalog_url) as store:
        assert store.data_version() == version  # reports read, never write


@pytest.mark.parametrize(("args", "field"), [
    (("report", *QUESTION, "--output", "/no/such/folder/r.html"), "does not exist"),
    (("report", *QUESTION, "--output", "r.pdf"), "suffix '.pdf'"),
    (("report", *QUESTION, "--format", "xml"), "unknown report format 'xml'"),
    (("report", "--budget-gflops", "3000"), "needs --task"),
    (("report", "summary", *QUESTION), "unknown report 'summary'"),
    (("report", "catalog", "--task", "GQA"), "--task asks a question"),
])
def test_report_errors_are_one_line(args: tuple[str, ...], field: str, tmp_path: Path) -> None:
    """Through the real console script: exit 2, one ``error:`` line, no traceback, no file."""
    import shutil

    script = shutil.which("vlmplanner", path=str(Path(sys.executable).parent))
    assert script
    done = subprocess.run([script, *args, "--catalog", f"sqlite:///{tmp_path / 'c.sqlite3'}"], capture_output=True,
                          text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and field in done.stderr
    assert done.stderr.startswith("error: ")
    assert not list(tmp_path.glob("r.*"))


def test_a_question_nothing_answers_exits_0_with_the_cheapest(capsys: pytest.CaptureFixture[str],
                                                               shipped_url: str) -> None:
    code, out, err = run(capsys, "report", "--task", "GQA", "--budget-gflops", "1", "--catalog", shipped_url)
    assert code == 0, err
    assert "No recommendation" in out and "Cheapest options" in out


def test_a_registered_profile_without_a_price(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from vlmplanner.schemas import Hardware
    from vlmplanner.store import open_catalog

    url = f"sqlite:///{tmp_path / 'catalog.sqlite3'}"
    with open_catalog(url) as store:
        store.add_hardware(Hardware(name="lab-box", peak_bf16_tflops=100.0, memory_gb=80.0,
                                    memory_bandwidth_gbs=2000.0))
    code, out, err = run(capsys, "report", *QUESTION, "--hardware", "lab-box", "--hardware", "l4", "--catalog", url)
    assert code == 0, err
    assert "unavailable (hardware 'lab-box' has no price per hour)" in out and "0.9776 USD/h" in out
    code, out, err = run(capsys, "report", *QUESTION, "--budget-usd-per-1k", "1", "--hardware", "lab-box",
                         "--catalog", url)
    assert code == 0, err
    assert "No recommendation" in out and "has no price, so a money budget cannot be checked" in out
