"""Every command's usage errors through the real console script: one clear message, never a traceback.

The commands are read off the typer application, so a command added later is covered without
touching this file. Each runs in a subprocess of the installed ``vlmplanner`` entry point, as a
user's shell would run it: with no arguments, an unknown option, a missing required argument and a
value of the wrong type.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer.main

from vlmplanner.cli.app import app


@dataclass(frozen=True)
class Command:
    path: tuple[str, ...]
    params: tuple[Any, ...]  # typer's parameter objects, in declaration order
    hints: dict[str, Any]  # the Python annotation of each parameter

    @property
    def required(self) -> list[Any]:
        return [p for p in self.params if p.required]

    def __str__(self) -> str:
        return " ".join(self.path)


def _commands(group: typer.Typer, prefix: tuple[str, ...] = ()) -> Iterator[Command]:
    root = typer.main.get_command(group)
    callbacks = {info.name or info.callback.__name__: info.callback for info in group.registered_commands}
    for info in group.registered_groups:
        assert info.name and info.typer_instance
        yield from _commands(info.typer_instance, (*prefix, info.name))
    for name, callback in callbacks.items():
        command = root.commands[name]  # type: ignore[attr-defined]
        hints = typing.get_type_hints(callback)
        yield Command((*prefix, name), tuple(p for p in command.params if p.name != "help"), hints)


COMMANDS = sorted(_commands(app), key=str)


def _entry_point() -> str:
    found = shutil.which("vlmplanner", path=str(Path(sys.executable).parent))
    assert found, "the vlmplanner console script is not installed next to this interpreter"
    return found


def _base_type(annotation: Any) -> Any:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, getattr(__import__("types"), "UnionType", ())):
        return _base_type(args[0])
    if typing.get_origin(annotation) is list:
        return _base_type(args[0])
    return annotation


def _valid_value(command: Command, param: Any, tmp: Path) -> list[str]:
    """A value typer accepts for ``param`` (the command body never runs in these cases)."""
    kind = _base_type(command.hints[param.name])
    value = str(tmp / "input.txt") if kind is Path else "1" if kind in (int, float) else "x"
    if param.param_type_name == "argument":
        return [value]
    return [param.opts[0], value]


def _required_args(command: Command, tmp: Path, *, skip: Any = None) -> list[str]:
    return [a for p in command.required if p is not skip for a in _valid_value(command, p, tmp)]


def _numeric_option(command: Command) -> Any | None:
    for param in command.params:
        if param.param_type_name == "option" and _base_type(command.hints[param.name]) in (int, float):
            return param
    return None


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A seeded catalog of its own, and a file to pass where a path is wanted."""
    from vlmplanner.store import open_catalog

    root = tmp_path_factory.mktemp("cli")
    (root / "input.txt").write_text("not an image\n")
    url = f"sqlite:///{root / 'catalog.sqlite3'}"
    open_catalog(url).close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VLMPLANNER_")}
    env.update({"VLMPLANNER_CATALOG_URL": url, "VLMPLANNER_DATA_DIR": str(root / "data"), "HF_HUB_OFFLINE": "1",
                "COLUMNS": "100", "VLMPLANNER_TMP": str(root)})
    return env


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_entry_point(), *args], capture_output=True, text=True, env=env, timeout=300,
                          cwd=env["VLMPLANNER_TMP"])


def _assert_clean(result: subprocess.CompletedProcess[str]) -> str:
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert "internal error" not in output, output
    return output


def test_the_commands_are_all_found() -> None:
    names = {str(c) for c in COMMANDS}
    assert {"recommend", "frontier", "fit", "register", "profile", "run", "version", "catalog show",
            "catalog add-result", "catalog models"} <= names


@pytest.mark.parametrize("command", COMMANDS, ids=str)
def test_no_arguments(command: Command, cli_env: dict[str, str]) -> None:
    result = _run(cli_env, *command.path)
    output = _assert_clean(result)
    if command.required:
        assert result.returncode == 2, output
        assert "Usage: vlmplanner" in output and "Missing" in output, output
    else:  # it runs: success, or one error line with the error's own exit status
        assert result.returncode == 0 or output.startswith("error: ") or "\nerror: " in output, output


@pytest.mark.parametrize("command", COMMANDS, ids=str)
def test_unknown_option(command: Command, cli_env: dict[str, str]) -> None:
    tmp = Path(cli_env["VLMPLANNER_TMP"])
    result = _run(cli_env, *command.path, "--no-such-option", *_required_args(command, tmp))
    output = _assert_clean(result)
    assert result.returncode == 2, output
    assert "No such option" in output and "--no-such-option" in output, output


@pytest.mark.parametrize("command", [c for c in COMMANDS if c.required], ids=str)
def test_missing_required_argument(command: Command, cli_env: dict[str, str]) -> None:
    tmp = Path(cli_env["VLMPLANNER_TMP"])
    dropped = command.required[-1]
    result = _run(cli_env, *command.path, *_required_args(command, tmp, skip=dropped))
    output = _assert_clean(result)
    assert result.returncode == 2, output
    assert "Missing" in output, output


@pytest.mark.parametrize("command", [c for c in COMMANDS if _numeric_option(c) is not None], ids=str)
def test_value_of_the_wrong_type(command: Command, cli_env: dict[str, str]) -> None:
    tmp = Path(cli_env["VLMPLANNER_TMP"])
    option = _numeric_option(command)
    result = _run(cli_env, *command.path, option.opts[0], "abc", *_required_args(command, tmp))
    output = _assert_clean(result)
    assert result.returncode == 2, output
    assert "Invalid value" in output and option.opts[0] in output, output


def test_every_command_with_a_number_option_is_tried() -> None:
    """The wrong-type case must not quietly cover nothing."""
    assert len([c for c in COMMANDS if _numeric_option(c) is not None]) >= 6


def test_unknown_command_and_misspelt_option() -> None:
    env = {**os.environ, "VLMPLANNER_DATA_DIR": "/nonexistent-not-used"}
    env["VLMPLANNER_TMP"] = "/"
    result = _run(env, "nosuchcommand")
    assert result.returncode == 2 and "No such command 'nosuchcommand'" in _assert_clean(result)
    result = _run(env, "recommend", "--task", "GQA", "--budget-gflop", "3")
    output = _assert_clean(result)
    assert result.returncode == 2 and "--budget-gflops" in output  # typer suggests the right spelling


def test_help_shows_flags_as_flags_and_the_global_options(cli_env: dict[str, str]) -> None:
    root = _run(cli_env, "--help")
    assert root.returncode == 0
    assert "--debug" in root.stdout and "--verbose" in root.stdout and "--version" in root.stdout
    for command in COMMANDS:
        result = _run(cli_env, *command.path, "--help")
        assert result.returncode == 0, result.stderr
        assert "<bool>" not in result.stdout, f"{command}: {result.stdout}"
        assert "/--no-" not in result.stdout.replace(" ", ""), f"{command}: a flag with a --no- twin"


def test_debug_shows_the_traceback_and_errors_are_one_line(cli_env: dict[str, str]) -> None:
    plain = _run(cli_env, "catalog", "show", "no-such-name")
    assert plain.returncode == 3
    assert plain.stderr.startswith("error: unknown name 'no-such-name'") and plain.stderr.count("\n") == 1
    debug = _run(cli_env, "--debug", "catalog", "show", "no-such-name")
    assert "Traceback" in debug.stderr and "NotFoundError" in debug.stderr
    env = {**cli_env, "VLMPLANNER_DEBUG": "1"}
    assert "Traceback" in _run(env, "catalog", "show", "no-such-name").stderr
