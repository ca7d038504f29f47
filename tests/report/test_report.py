"""Cost reports: the same answer as recommend(), every candidate's numbers in JSON and CSV, the
sections a question without an answer still gets, and the errors a bad output gives."""

from __future__ import annotations

import csv
import io
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from _extras import requires
from _hostile import EVIL_NAME, EVIL_SOURCE

from vlmplanner.errors import NotFoundError, ReportOutputError, ValidationError
from vlmplanner.extras import available
from vlmplanner.planner import Planner
from vlmplanner.schemas import Budget, Hardware

needs_matplotlib = requires("matplotlib")  # the HTML report's plots: the report extra
BUDGET = Budget(gflops=3000)


@pytest.fixture(scope="module")
def report(shipped_url: str):  # type: ignore[no-untyped-def]
    with Planner(shipped_url) as planner:
        yield planner.report(task="visual-reasoning", budget=BUDGET, hardware=["h100-sxm", "l4", None])


def test_each_profile_gets_recommends_own_answer(report, shipped_url: str) -> None:  # type: ignore[no-untyped-def]
    for section, profile in zip(report.sections, ["h100-sxm", "l4", None]):
        with Planner(shipped_url, hardware=profile) as planner:
            rec = planner.recommend(task="visual-reasoning", budget=BUDGET)
        assert section.recommendation is not None and section.recommendation.key == rec.key
        assert section.recommendation.cost.latency_s == rec.cost.latency_s
        assert section.problem is None
    assert report.question.hardware == ("h100-sxm", "l4", None)


def test_json_holds_every_candidate_with_the_cost_models_numbers(report, shipped_url: str) -> None:  # type: ignore[no-untyped-def]
    data = json.loads(report.render("json"))
    with Planner(shipped_url, hardware="l4") as planner:
        _, table, costs = planner.costed(task="visual-reasoning")
    assert len(data["candidates"]) == len(table) == len(report.candidates)
    by_key = {c["key"]: c for c in data["candidates"]}
    for i in range(len(table)):
        row = by_key[table.key(i)]
        assert row["flops"] == pytest.approx(costs.flops[i])
        assert row["memory_bytes"] == pytest.approx(costs.memory_bytes[i])
        assert row["by_hardware"]["l4"]["latency_s"] == pytest.approx(costs.latency_s[i])
        assert row["by_hardware"]["l4"]["usd_per_1k_requests"] == pytest.approx(costs.usd_per_1k[i])
        assert row["by_hardware"]["no hardware"]["latency_s"] is None
        assert row["quality"]["score"] == pytest.approx(table.score[i])
        assert row["quality"]["provenance"] in ("measured", "imported", "published", "predicted", "mixed")
    chosen = data["sections"][0]["recommendation"]["candidate"]["key"]
    correct = by_key[chosen]["by_hardware"]["h100-sxm"]
    fraction = by_key[chosen]["quality"]["fraction_of_max"]
    assert correct["usd_per_1k_correct"] == pytest.approx(correct["usd_per_1k_requests"] / fraction)


def test_frontiers_match_the_planners_on_every_axis(report, shipped_url: str) -> None:  # type: ignore[no-untyped-def]
    section = report.sections[1]
    with Planner(shipped_url, hardware="l4") as planner:
        for axis in ("flops", "latency_s", "memory", "usd"):
            expected = [p.key for p in planner.frontier(task="visual-reasoning", cost_axis=axis)]
            assert [report.candidates.keys[i] for i in section.frontier[axis]] == expected, axis
    assert report.sections[2].frontier["latency_s"] == []  # no hardware: no latency
    assert "no hardware" in (report.sections[2].available("usd") or "")


def test_csv_has_one_row_per_candidate_and_profile(report) -> None:  # type: ignore[no-untyped-def]
    rows = list(csv.DictReader(io.StringIO(report.render("csv"))))
    assert len(rows) == 3 * len(report.candidates)
    chosen = [r for r in rows if r["chosen"] == "True"]
    assert {r["hardware"] for r in chosen} == {"h100-sxm", "l4", "no hardware"}
    h100 = {r["key"]: r for r in rows if r["hardware"] == "h100-sxm"}
    i = 0
    assert float(h100[report.candidates.keys[i]]["flops"]) == pytest.approx(report.candidates.flops[i])
    assert all(r["latency_s"] == "" for r in rows if r["hardware"] == "no hardware")


def test_markdown_has_the_sections(report) -> None:  # type: ignore[no-untyped-def]
    text = report.render("md")
    for heading in ("## Recommendation", "### Hardware side by side", "## Quality against cost on h100-sxm",
                    "## Scaling laws", "## Provenance", "Pareto frontier on l4: quality against money"):
        assert heading in text
    assert "unavailable" in text  # money and latency on no hardware
    assert report.sections[0].recommendation.key.replace("+", "+") in text.replace("\\", "")


@needs_matplotlib
def test_html_is_self_contained(report, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = report.write(tmp_path / "r.html")
    text = path.read_text()
    assert text.startswith("<!DOCTYPE html>")
    assert "<script" not in text and "<link" not in text and " src=" not in text
    assert not re.findall(r'href="(?!#)', text)  # only references within the page
    assert set(re.findall(r"https?://[^\s\"']+", text)) <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
    assert text.count("<svg") == 3 * 5 - 2 + len(report.laws)


def test_a_question_nothing_answers_still_gets_a_report(shipped_url: str) -> None:
    with Planner(shipped_url) as planner:
        report = planner.report(task="GQA", budget="1 GFLOPs")
    section = report.sections[0]
    assert section.recommendation is None
    assert "no runnable candidate fits" in (section.problem or "")
    assert len(section.cheapest) == 5
    flops = report.candidates.flops[section.cheapest]
    assert list(flops) == sorted(flops) and flops[0] == report.candidates.flops.min()
    text = report.render("md")
    assert "No recommendation" in text and "Cheapest options on h100-sxm" in text
    data = json.loads(report.render("json"))
    assert data["sections"][0]["recommendation"] is None and len(data["sections"][0]["cheapest"]) == 5
    assert [b.candidate for b in section.breakdowns] == [report.candidates.keys[i] for i in section.cheapest]


def test_no_runnable_candidate_shows_the_what_ifs(shipped_url: str) -> None:
    with Planner(shipped_url, accounting="paper") as planner:
        report = planner.report(task="visual-reasoning", budget="1000 GFLOPs", family="llava_next",
                                compressor="tokenpacker")
    assert report.sections[0].recommendation is None
    assert "cannot run" in (report.sections[0].problem or "")
    assert len(report.candidates) > 0 and not report.candidates.runnable.any()
    assert report.laws and report.laws[0].compressor == "tokenpacker"


def test_hardware_without_a_price_marks_money_unavailable(shipped_url: str) -> None:
    free = Hardware(name="lab-box", peak_bf16_tflops=100.0, memory_gb=80.0, memory_bandwidth_gbs=2000.0)
    with Planner(shipped_url) as planner:
        report = planner.report(task="GQA", budget="3000 GFLOPs", hardware=[free, "h100"])
        money = planner.report(task="GQA", budget={"usd_per_1k_requests": 1.0}, hardware=free)
    section = report.sections[0]
    assert section.recommendation is not None and section.available("usd") == (
        "unavailable: hardware 'lab-box' has no price per hour")
    assert np.isnan(section.usd_per_1k).all() and np.isfinite(section.latency_s).all()
    assert section.frontier["usd"] == []
    text = report.render("md")
    assert "unavailable (hardware 'lab-box' has no price per hour)" in text
    assert money.sections[0].recommendation is None and "has no price" in (money.sections[0].problem or "")


def test_laws_carry_their_points_and_intervals(shipped_url: str) -> None:
    with Planner(shipped_url, accounting="paper") as planner:
        report = planner.report(task="visual-reasoning", budget="1000 GFLOPs", family="llava_next",
                                compressor="tokenpacker", include="all")
    law = report.laws[0]
    assert law.chosen is not None  # the choice is on the tokenpacker law
    rec = report.sections[0].recommendation
    assert law.chosen == (rec.model.llm.params_b, float(rec.candidate.visual_tokens))
    assert {p.provenance for p in law.points} == {"published"} and all(p.sources for p in law.points)
    for _v, score, low, high in law.curves.values():
        assert all(lo <= s <= hi for s, lo, hi in zip(score, low, high))
    predicted = [i for i, p in enumerate(report.candidates.provenance) if p == "predicted"]
    assert predicted and all(report.candidates.low[i] <= report.candidates.score[i] <= report.candidates.high[i]
                             for i in predicted)


def test_hostile_text_is_escaped_in_every_format(evil_url: str) -> None:
    with Planner(evil_url) as planner:
        report = planner.report(task="GQA", budget="20000 GFLOPs", include="all")
    markdown = report.render("md")
    assert "<script>" not in markdown and "<img" not in markdown
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in markdown
    data = json.loads(report.render("json"))
    assert data["sections"][0]["recommendation"]["model"]["checkpoint"] == EVIL_NAME
    assert any(c["quality"]["sources"] == EVIL_SOURCE for c in data["candidates"])
    if available("matplotlib"):
        html = report.render("html")
        assert "<script>" not in html and "<img" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_csv_cells_never_run_as_formulas() -> None:
    from vlmplanner.report.tables import spreadsheet_safe

    assert spreadsheet_safe("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert spreadsheet_safe("@SUM(A1)") == "'@SUM(A1)"
    assert spreadsheet_safe("llava") == "llava" and spreadsheet_safe(-1.5) == -1.5 and spreadsheet_safe(None) == ""


def test_markdown_escaping() -> None:
    from vlmplanner.report.markdown import escape_markdown

    assert escape_markdown("a|b") == "a\\|b"
    assert escape_markdown("*x* _y_ [l](u) `c`") == "\\*x\\* \\_y\\_ \\[l\\](u) \\`c\\`"
    assert escape_markdown("<b>&amp;") == "&lt;b&gt;&amp;amp;"
    assert escape_markdown("two\nlines") == "two lines"


def test_thinning_keeps_the_shape() -> None:
    from vlmplanner.report.plots import GRID, thin_background, thin_frontier

    points = list(range(1000))
    kept = thin_frontier(points, 50)
    assert len(kept) == 50 and kept[0] == 0 and kept[-1] == 999
    assert thin_frontier(points[:10], 50) == points[:10]
    rng = np.random.default_rng(0)
    x, y = 10 ** rng.uniform(2, 5, 100_000), rng.uniform(0, 1, 100_000)
    picked = thin_background(x, y)
    assert len(picked) <= GRID[0] * GRID[1] and len(picked) > GRID[0] * GRID[1] * 0.9
    assert x[picked].min() < 10 ** 2.1 and x[picked].max() > 10 ** 4.9  # the extremes survive


def test_bad_output_and_format(report, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ReportOutputError) as missing:
        report.write(tmp_path / "no-such-folder" / "r.md")
    assert missing.value.field == "output" and "does not exist" in missing.value.message
    with pytest.raises(ReportOutputError) as folder:
        report.write(tmp_path)
    assert "is a folder" in folder.value.message
    with pytest.raises(ReportOutputError) as suffix:
        report.write(tmp_path / "r.pdf")
    assert suffix.value.field == "format" and ".pdf" in suffix.value.message
    with pytest.raises(ReportOutputError) as unknown:
        report.write(tmp_path / "r.md", format="xml")
    assert unknown.value.field == "format"
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if not os.access(locked, os.W_OK):  # root writes anywhere
            with pytest.raises(ReportOutputError, match="permission denied"):
                report.write(locked / "r.md")
    finally:
        locked.chmod(0o700)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["locked"]  # nothing half-written
    written = report.write(tmp_path / "r.markdown")
    assert written.read_text().startswith("# vlmplanner cost report") and not list(tmp_path.glob(".*.tmp"))


def test_bad_questions_are_validation_errors(shipped_url: str) -> None:
    with Planner(shipped_url) as planner:
        with pytest.raises(ValidationError) as hardware:
            planner.report(task="GQA", budget="3000 GFLOPs", hardware=3)  # type: ignore[arg-type]
        assert hardware.value.field == "hardware"
        with pytest.raises(ValidationError) as budget:
            planner.report(task="GQA", budget=3000)  # type: ignore[arg-type]
        assert budget.value.field == "budget"
        with pytest.raises(NotFoundError):
            planner.report(task="no-such-task", budget="3000 GFLOPs")


def test_recommendation_renders_in_jupyter(evil_url: str) -> None:
    with Planner(evil_url) as planner:
        rec = planner.recommend(task="GQA", budget="20000 GFLOPs", include="all")
    html = rec._repr_html_()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;+none@576" in html and "<script>" not in html
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in html and "<img" not in html
    assert "Why:" in html and "published" in html


@needs_matplotlib
def test_a_report_shows_itself_in_jupyter_in_a_frame(report) -> None:  # type: ignore[no-untyped-def]
    import html

    shown = report._repr_html_()
    assert shown.startswith("<iframe ") and shown.endswith("</iframe>")
    inner = html.unescape(shown.split('srcdoc="', 1)[1].rsplit('"', 1)[0])
    assert inner.startswith("<!DOCTYPE html>") and "<svg" in inner and '"' not in shown.split('srcdoc="', 1)[1][:-11]


def test_a_mix_says_where_each_benchmark_comes_from(shipped_url: str) -> None:
    with Planner(shipped_url) as planner:
        report = planner.report(task="GQA:1,TextVQA:1", budget="5000 GFLOPs")
    rec = report.sections[0].recommendation
    i = report.candidates.keys.index(rec.key)
    assert report.candidates.sources[i].startswith("GQA: ") and " | TextVQA: " in report.candidates.sources[i]
    assert report.candidates.provenance[i] == "published"
    assert all(s for s in report.candidates.sources)  # every candidate's quality names its origin


def test_a_profile_named_twice_is_answered_once(shipped_url: str) -> None:
    with Planner(shipped_url) as planner:
        report = planner.report(task="GQA", budget="3000 GFLOPs", hardware=["h100", "h100-sxm", None, None])
    assert [s.name for s in report.sections] == ["h100-sxm", "no hardware"]
