"""The root typer application and the entry point that turns every failure into one line and an exit code.

Usage errors (an unknown command or option, a missing argument, a value of the wrong type) are
typer's own: it prints the usage line and the problem, and exits 2. This module never imports
click, so it keeps working whether typer depends on click or bundles its own copy. What a command
raises on purpose (a :class:`~vlmplanner.errors.VlmPlannerError`) prints ``error: …`` and exits
with the error's code; anything else is a bug, reported as one line asking for ``--debug``.
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import Annotated

import typer

from vlmplanner.settings import DEBUG_ENV, VERBOSE_ENV, flag

from . import evaluate, plan, profile, register, report, run, serve
from .catalog import catalog_app
from .imports import import_app

#: Exit status for a bug in vlmplanner (EX_SOFTWARE in sysexits.h).
INTERNAL_ERROR_EXIT = 70
#: Exit status for Ctrl-C, as shells report a process ended by SIGINT.
INTERRUPTED_EXIT = 130

app = typer.Typer(
    name="vlmplanner",
    help="Pick and run the inference-optimal vision-language model configuration for a budget.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help: flags read as flags, and the text is the same on every typer release.
    rich_markup_mode=None,
)
app.add_typer(catalog_app, name="catalog")
app.add_typer(import_app, name="import")
app.command("recommend")(plan.recommend)
app.command("frontier")(plan.frontier)
app.command("fit")(plan.fit)
app.command("register")(register.register)
app.command("profile")(profile.profile)
app.command("run")(run.run)
app.command("evaluate")(evaluate.evaluate)
app.command("serve")(serve.serve)
app.command("report")(report.report)


class _Options:
    """The global options of this invocation, read by :func:`main` after a command fails."""

    debug = False


def _show_version(value: bool) -> None:
    if value:
        from vlmplanner._version import __version__

        typer.echo(f"vlmplanner {__version__}")
        raise typer.Exit()


@app.callback()
def _global_options(
    debug: Annotated[bool, typer.Option(
        "--debug", envvar=DEBUG_ENV, show_envvar=False,
        help=f"On an error, show the full traceback instead of one line (or set {DEBUG_ENV}=1).")] = False,
    verbose: Annotated[bool, typer.Option(
        "--verbose", help="Show the warnings and progress bars libraries print while loading models.")] = False,
    version: Annotated[bool, typer.Option(
        "--version", callback=_show_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    """Pick and run the inference-optimal vision-language model configuration for a budget."""
    _Options.debug = debug
    if verbose:
        os.environ[VERBOSE_ENV] = "1"


@app.command()
def version() -> None:
    """Print the vlmplanner version."""
    from vlmplanner._version import __version__

    typer.echo(__version__)


def _debug_requested() -> bool:
    """``--debug`` before the command, or the environment variable."""
    return _Options.debug or flag(DEBUG_ENV)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit status; nothing it does on bad input prints a traceback."""
    from vlmplanner.errors import VlmPlannerError, VlmPlannerWarning

    args = list(sys.argv[1:] if argv is None else argv)
    _Options.debug = False

    def one_line(message: Warning | str, category: type[Warning], *_args: object, **_kwargs: object) -> None:
        typer.echo(f"warning: {message}", err=True)

    try:
        with warnings.catch_warnings():  # restores the caller's warning display afterwards
            warnings.showwarning = one_line
            warnings.simplefilter("default", VlmPlannerWarning)
            app(args=args, prog_name="vlmplanner", standalone_mode=True)
    except SystemExit as exc:  # typer's own exits: usage errors (2), --help and Exit(n)
        return _exit_status(exc.code)
    except VlmPlannerError as exc:
        if _debug_requested():
            raise
        typer.echo(f"error: {exc.message}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return INTERRUPTED_EXIT
    except OSError as exc:  # a file or device the command touched (click handles a closed pipe itself)
        if _debug_requested():
            raise
        where = f": {exc.filename}" if exc.filename else ""
        typer.echo(f"error: {exc.strerror or exc}{where}", err=True)
        return 1
    except Exception as exc:
        if _debug_requested():
            raise
        typer.echo(f"internal error: {type(exc).__name__}: {exc}. This is a bug in vlmplanner: run the"
                   " command again with --debug before it (vlmplanner --debug …) for the traceback, and"
                   " report it", err=True)
        return INTERNAL_ERROR_EXIT
    return 0


def _exit_status(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    typer.echo(str(code), err=True)  # sys.exit("message") convention
    return 1


def _entry() -> None:  # pragma: no cover - console script
    _skip_pydantic_plugins()
    code = main()
    _fast_exit_collection()
    sys.exit(code)


def _skip_pydantic_plugins() -> None:
    """The command line has no use for pydantic's validation plug-ins (observability hooks such as
    logfire's), and finding them reads every installed package's metadata on the first validation:
    25-35 ms of each short command on the 2-core machine. Setting ``PYDANTIC_DISABLE_PLUGINS``
    yourself (to anything, even empty) keeps your choice; the library never changes it."""
    import os

    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")


def _fast_exit_collection() -> None:
    """Spare the interpreter's final garbage collection over every object torch and transformers
    created: the process is ending, so nothing is lost. Measured on the 2-core machine: exiting
    after ``import transformers.modeling_utils`` takes 0.90 s, 0.13 s with the heap frozen."""
    import gc

    gc.freeze()
