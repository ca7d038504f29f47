"""The root typer application and the entry point that turns errors into exit codes."""

from __future__ import annotations

import sys
import warnings

import typer

from . import plan, profile, register, run
from .catalog import catalog_app

app = typer.Typer(
    name="vlmplanner",
    help="Pick and run the inference-optimal vision-language model configuration for a budget.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(catalog_app, name="catalog")
app.command("recommend")(plan.recommend)
app.command("frontier")(plan.frontier)
app.command("fit")(plan.fit)
app.command("register")(register.register)
app.command("profile")(profile.profile)
app.command("run")(run.run)


@app.command()
def version() -> None:
    """Print the vlmplanner version."""
    from vlmplanner._version import __version__

    typer.echo(__version__)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; a ``VlmPlannerError`` becomes a one-line message and a non-zero exit code."""
    from vlmplanner.errors import VlmPlannerError, VlmPlannerWarning

    def one_line(message: Warning | str, category: type[Warning], *_args: object, **_kwargs: object) -> None:
        typer.echo(f"warning: {message}", err=True)

    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    args = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--debug"]
    try:
        with warnings.catch_warnings():  # restores the caller's warning display afterwards
            warnings.showwarning = one_line
            warnings.simplefilter("default", VlmPlannerWarning)
            app(args=args, prog_name="vlmplanner", standalone_mode=False)
    except VlmPlannerError as exc:
        if debug:
            raise
        typer.echo(f"error: {exc.message}", err=True)
        return exc.exit_code
    except typer.Abort:
        typer.echo("aborted", err=True)
        return 130
    except typer.Exit as exc:
        return exc.exit_code
    except Exception as exc:  # click's usage errors
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            return exc.exit_code
        raise
    return 0


def _entry() -> None:  # pragma: no cover - console script
    code = main()
    _fast_exit_collection()
    sys.exit(code)


def _fast_exit_collection() -> None:
    """Spare the interpreter's final garbage collection over every object torch and transformers
    created: the process is ending, so nothing is lost. Measured on the 2-core machine: exiting
    after ``import transformers.modeling_utils`` takes 0.90 s, 0.13 s with the heap frozen."""
    import gc

    gc.freeze()
