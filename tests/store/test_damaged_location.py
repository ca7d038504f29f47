"""A damaged or unusable catalog location is one line naming the path and what to do, never a traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vlmplanner.cli.app import main
from vlmplanner.errors import CatalogLocationError
from vlmplanner.store import open_catalog


@pytest.fixture(scope="module")
def good_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("good") / "catalog.sqlite3"
    open_catalog(f"sqlite:///{path}").close()
    return path


def _damaged(good: Path, target: Path, how: str) -> Path:
    data = bytearray(good.read_bytes())
    if how == "junk":
        data = bytearray(os.urandom(len(data)))
    elif how == "truncated":
        data = data[: len(data) // 8]
    elif how == "zeroed pages":  # the header and schema survive; table pages do not
        for i in range(len(data) // 3, 2 * len(data) // 3, 7):
            data[i] = 0
    target.write_bytes(bytes(data))
    return target


def _one_line(capsys: pytest.CaptureFixture[str], code: int, *needles: str) -> str:
    err = capsys.readouterr().err
    assert code == CatalogLocationError.exit_code, err
    assert "Traceback" not in err and err.count("\n") == 1, err
    assert err.startswith("error: "), err
    for needle in needles:
        assert needle in err, err
    return err


@pytest.mark.parametrize("how", ["junk", "truncated", "zeroed pages"])
def test_a_damaged_file_is_named_with_what_to_do(how: str, good_file: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = _damaged(good_file, tmp_path / "catalog.sqlite3", how)
    url = f"sqlite:///{path}"
    before = path.read_bytes()
    # `catalog info` reads the whole file: it must say "damaged", not report OK
    _one_line(capsys, main(["catalog", "info", "--catalog", url]), str(path), "damaged", "move it aside")
    code = main(["recommend", "--task", "GQA", "--budget-gflops", "20000", "--catalog", url])
    if how != "zeroed pages" or code != 0:  # the planner may not touch the zeroed pages; if it does, one line
        _one_line(capsys, code, str(path), "damaged")
    assert path.read_bytes() == before  # nothing tried to "repair" it


def test_the_data_directory_is_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("not a folder")
    monkeypatch.setenv("VLMPLANNER_DATA_DIR", str(blocker))
    _one_line(capsys, main(["catalog", "models"]), str(blocker), "is a file", "VLMPLANNER_DATA_DIR")
    monkeypatch.setenv("VLMPLANNER_DATA_DIR", str(blocker / "below"))
    _one_line(capsys, main(["recommend", "--task", "GQA", "--budget-gflops", "1000"]), str(blocker), "is a file")


def test_the_catalog_path_is_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _one_line(capsys, main(["catalog", "info", "--catalog", f"sqlite:///{tmp_path}"]), str(tmp_path), "is a folder")


def test_a_read_only_url_to_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.sqlite3"
    url = f"sqlite:///file:{missing}?mode=ro&uri=true"
    _one_line(capsys, main(["catalog", "info", "--catalog", url]), str(missing), "does not exist")
    assert not missing.exists() and not (Path.cwd() / "file:").exists()


def test_the_real_entry_point_prints_one_line(good_file: Path, tmp_path: Path) -> None:
    path = _damaged(good_file, tmp_path / "catalog.sqlite3", "junk")
    script = shutil.which("vlmplanner", path=str(Path(sys.executable).parent))
    assert script
    result = subprocess.run([script, "catalog", "info", "--catalog", f"sqlite:///{path}"], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == CatalogLocationError.exit_code
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1 and str(path) in result.stderr
