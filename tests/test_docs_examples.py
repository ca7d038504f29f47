"""Every shell and Python example in README.md and docs/ runs as written.

Blocks run in the order they appear, one document at a time, in a fresh folder with a fresh data
directory and no network (the Hub is a closed port, ``HF_HUB_OFFLINE`` is set): what one block writes,
the next may read. A ``console`` block's commands are its ``$ `` lines (output lines are skipped); a
``bash``/``sh`` block runs whole; ``python`` blocks share one interpreter per document.

A block that cannot run here says why, on the line before it:
``<!-- docs-test: skip (needs a GPU) -->``, or ``<!-- docs-test: needs torch -->`` for one that needs
the torch extra (run when it is installed, skipped in the core install).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from _extras import TORCH_STACK

from vlmplanner.extras import available

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "catalog" / "README.md"]
FENCE = re.compile(r"^```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^```[ \t]*$", re.S | re.M)
MARK = re.compile(r"<!--\s*docs-test:\s*(?P<what>skip|needs torch)\s*(?P<why>.*?)\s*-->\s*$")
SHELL = {"bash", "sh", "shell", "console"}
HEREDOC = re.compile(r"<<-?\s*['\"]?(\w+)['\"]?")
TIMEOUT_S = 600


@dataclass(frozen=True)
class Block:
    document: Path
    line: int
    lang: str
    body: str
    mark: str  # "", "skip" or "needs torch"
    why: str

    @property
    def where(self) -> str:
        return f"{self.document.relative_to(ROOT)}:{self.line}"


def blocks(document: Path) -> list[Block]:
    text = document.read_text()
    found = []
    for match in FENCE.finditer(text):
        lang = match.group("lang").lower()
        if lang not in SHELL and lang != "python":
            continue
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        mark = MARK.search(before)
        found.append(Block(document, text[: match.start()].count("\n") + 1, lang, match.group("body"),
                           mark.group("what") if mark else "", mark.group("why") if mark else ""))
    return found


def shell_script(block: Block) -> str:
    """The commands of a block: for a console block, its ``$ `` lines and their continuations."""
    lines = block.body.splitlines()
    if block.lang != "console" or not any(line.startswith("$ ") for line in lines):
        return block.body
    commands: list[str] = []
    continuing = False
    heredoc: str | None = None
    for line in lines:
        if heredoc is not None:  # a here-document's lines belong to its command
            commands.append(line)
            heredoc = None if line.strip() == heredoc else heredoc
        elif line.startswith("$ ") or continuing:
            command = line[2:] if line.startswith("$ ") else line
            commands.append(command)
            continuing = line.rstrip().endswith("\\")
            opened = HEREDOC.search(command)
            heredoc = opened.group(1) if opened else None
    return "\n".join(commands) + "\n"


_PYTHON_RUNNER = """
import json, sys, traceback
namespace = {"__name__": "__docs__"}
for where, code in json.load(sys.stdin):
    try:
        exec(compile(code, where, "exec"), namespace)
    except BaseException:
        print(f"FAILED {where}", file=sys.stderr)
        traceback.print_exc()
        sys.exit(1)
"""


def _environment(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VLMPLANNER_")}
    env.update({"VLMPLANNER_DATA_DIR": str(folder / "data"), "HF_HUB_OFFLINE": "1", "HF_ENDPOINT": "http://127.0.0.1:9",
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}", "COLUMNS": "120",
                "PYTHONPATH": str(ROOT)})
    return env


def test_every_unrun_block_says_why() -> None:
    for document in DOCUMENTS:
        for block in blocks(document):
            if block.mark == "skip":
                assert block.why.strip("() "), f"{block.where}: a skipped example must say why"


def test_readme_commands_are_the_two_blocks_ci_runs() -> None:
    """The README's first two shell blocks are setup + main job and setup + tests; the docs test skips
    them because .ci/run and fresh-install-check run them in fresh environments."""
    first, second = [b for b in blocks(ROOT / "README.md") if b.lang in SHELL][:2]
    assert "vlmplanner recommend" in first.body and "pytest" in second.body
    assert first.mark == second.mark == "skip"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_examples_run(document: Path, tmp_path: Path) -> None:
    env = _environment(tmp_path)
    runnable = [b for b in blocks(document) if b.mark != "skip"]
    if not available(*TORCH_STACK):
        runnable = [b for b in runnable if b.mark != "needs torch"]
    if not runnable:
        pytest.skip(f"{document.name} has no example that runs here")
    python: list[tuple[str, str]] = []
    for block in runnable:
        if block.lang == "python":
            python.append((block.where, block.body))
            continue
        result = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", shell_script(block)], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=TIMEOUT_S)
        assert result.returncode == 0, f"{block.where} failed ({result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
        assert "Traceback" not in result.stderr, f"{block.where}:\n{result.stderr[-3000:]}"
    if python:
        result = subprocess.run([sys.executable, "-c", _PYTHON_RUNNER], input=json.dumps(python), cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=TIMEOUT_S)
        assert result.returncode == 0, f"{document.name}:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
