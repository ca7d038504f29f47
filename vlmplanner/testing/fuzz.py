"""Property-based fuzzing of what users type: the CLI's arguments and the Python API's inputs.

The property, for every input: it works, or it fails with one :class:`~vlmplanner.errors.VlmPlannerError`
(the CLI: one ``error:`` line or typer's usage message); never another exception, never a traceback;
and a rejected write leaves the catalog's files byte-identical. ``tests/test_fuzz_inputs.py`` runs a few
hundred cases per target; ``bench/bench_fuzz_inputs.py`` runs tens of thousands and counts them.

Inputs mix plausible values (catalog names, numbers in range) with junk (None, booleans, NaN,
huge numbers, unicode, bytes, containers, objects), so cases reach past the first check. Nothing here
touches a network: the Hub is a closed loopback port and ``HF_HUB_OFFLINE`` is set.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import math
import os
import tempfile
import typing
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vlmplanner.errors import VlmPlannerError

__all__ = ["FuzzWorld", "Tally", "cli_commands", "run_target"]

CLOSED_PORT_URL = "http://127.0.0.1:9"  # discard port: nothing listens, connections are refused at once

_JUNK_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**18, max_value=10**18),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=24), st.binary(max_size=6),
)
JUNK = st.one_of(_JUNK_SCALARS, st.lists(_JUNK_SCALARS, max_size=3),
                 st.dictionaries(st.text(max_size=6), _JUNK_SCALARS, max_size=2), st.builds(object))
_NUMBERS = st.one_of(st.integers(min_value=-5, max_value=10**6), st.floats(min_value=-1e3, max_value=1e7),
                     st.sampled_from([0, 1, 16, 50, 144, 576, 1000, 5000, float("nan"), float("inf")]))
_TEXT_JUNK = st.one_of(st.text(max_size=20), st.sampled_from(["", " ", "-", "--", "nan", "1e999", "-1", "0",
                                                               "1,2,,3", "abc", "ü🙂", "x" * 300, "1000 parsecs"]))


@dataclass
class Tally:
    """Cases run and problems found, per target."""

    cases: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    problems: list[tuple[str, str, str]] = field(default_factory=list)

    def record(self, target: str, case: Any, problem: str | None, *, rejected: bool) -> None:
        self.cases[target] += 1
        if rejected:
            self.rejected[target] += 1
        if problem:
            self.problems.append((target, repr(case)[:300], problem))


@dataclass(frozen=True)
class Command:
    """One CLI command: its words, and for each option its flag names and Python annotation."""

    path: tuple[str, ...]
    options: tuple[tuple[tuple[str, ...], Any, bool], ...]  # (names, annotation, is_flag)
    arguments: tuple[Any, ...]  # annotations of the positional arguments


def cli_commands() -> list[Command]:
    """Every command of the ``vlmplanner`` application, read off typer (new commands are included)."""
    import typer.main

    from vlmplanner.cli.app import app

    found: list[Command] = []

    def walk(group: typer.Typer, prefix: tuple[str, ...]) -> None:
        root = typer.main.get_command(group)
        for sub in group.registered_groups:
            assert sub.name and sub.typer_instance
            walk(sub.typer_instance, (*prefix, sub.name))
        for info in group.registered_commands:
            name = info.name or info.callback.__name__  # type: ignore[union-attr]
            hints = typing.get_type_hints(info.callback)
            params = root.commands[name].params  # type: ignore[attr-defined]
            options = tuple((tuple(p.opts) + tuple(p.secondary_opts), hints[p.name], _is_flag(hints[p.name]))
                            for p in params if p.param_type_name == "option" and p.name != "help")
            arguments = tuple(hints[p.name] for p in params if p.param_type_name == "argument")
            found.append(Command((*prefix, name), options, arguments))

    walk(app, ())
    return sorted(found, key=lambda c: c.path)


def _base(annotation: Any) -> Any:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return _base(args[0]) if args else annotation


def _is_flag(annotation: Any) -> bool:
    return _base(annotation) is bool


class FuzzWorld:
    """A seeded catalog in a temporary folder, the environment that points the CLI at it, and the
    fuzz targets. Use it as a context manager."""

    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="vlmplanner-fuzz-")
        self.root = Path(self._tmp.name)
        self.db = self.root / "catalog.sqlite3"
        self.url = f"sqlite:///{self.db}"
        self._env: contextlib.ExitStack | None = None
        self.models: list[str] = []
        self.compressors: list[str] = []
        self.benchmarks: list[str] = []
        self._planner: Any = None
        self._catalog: Any = None

    def __enter__(self) -> FuzzWorld:
        from vlmplanner.store import open_catalog

        self._env = contextlib.ExitStack()
        saved = dict(os.environ)

        def restore() -> None:
            os.environ.clear()
            os.environ.update(saved)

        self._env.callback(restore)
        for name in [n for n in os.environ if n.startswith("VLMPLANNER_")]:
            del os.environ[name]
        os.environ.update({"VLMPLANNER_CATALOG_URL": self.url, "VLMPLANNER_DATA_DIR": str(self.root / "data"),
                           "HF_HUB_OFFLINE": "1", "HF_ENDPOINT": CLOSED_PORT_URL, "COLUMNS": "120"})
        (self.root / "results.csv").write_text("model,compressor,visual_tokens,benchmark,score,source\n")
        with open_catalog(self.url) as catalog:
            self.models = [m.checkpoint for m in catalog.models()]
            self.compressors = [c.name for c in catalog.compressors()]
            self.benchmarks = [b.name for b in catalog.benchmarks()]
        return self

    def __exit__(self, *exc: object) -> None:
        if self._planner is not None:
            self._planner.close()
        if self._catalog is not None:
            self._catalog.close()
        assert self._env is not None
        self._env.close()
        self._tmp.cleanup()

    # -- the catalog's bytes ------------------------------------------------------------------
    def fingerprint(self) -> str:
        """The catalog file and its write-ahead log, as bytes: what a rejected write must leave as it
        was. An empty log and no log are the same (a read-only connection leaves an empty one)."""
        digest = hashlib.sha256()
        for path in (self.db, self.db.with_name(self.db.name + "-wal")):
            digest.update(path.read_bytes() if path.exists() else b"")
            digest.update(b"\0")
        return digest.hexdigest()

    def _sizes(self) -> str:
        return ", ".join(f"{p.name}: {p.stat().st_size if p.exists() else 'absent'}"
                         for p in (self.db, self.db.with_name(self.db.name + "-wal")))

    # -- plausible values ---------------------------------------------------------------------
    def names(self) -> st.SearchStrategy[str]:
        return st.one_of(st.sampled_from(self.models), st.sampled_from(self.compressors),
                         st.sampled_from(self.benchmarks), st.sampled_from(["visual-reasoning", "ocr-text", "GQA:1,TextVQA:2",
                                                                            "h100", "bf16", "none", "pool"]), _TEXT_JUNK)

    def _value_for(self, annotation: Any, names: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        kind = _base(annotation)
        if kind in (int, float):
            return st.one_of(_NUMBERS.map(str), _TEXT_JUNK)
        if kind is Path:
            return st.sampled_from([str(self.root / "results.csv"), str(self.root), "/nonexistent/x.csv", ""])
        return st.one_of(names, _NUMBERS.map(str))

    # -- targets ------------------------------------------------------------------------------
    def cli_cases(self) -> st.SearchStrategy[list[str]]:
        commands = cli_commands()
        safe_names = st.one_of(st.sampled_from(self.compressors), st.sampled_from(self.benchmarks), _TEXT_JUNK)

        @st.composite
        def argv(draw: st.DrawFn) -> list[str]:
            command = draw(st.sampled_from(commands))
            # profile and run would load real models for a real name; they get junk names only
            loads = command.path[0] in ("profile", "run", "register")
            names = safe_names if loads else self.names()
            args = [*draw(st.lists(st.sampled_from(["--verbose"]), max_size=1)), *command.path]
            for annotation in command.arguments:
                if draw(st.integers(0, 9)) > 0:
                    args.append(draw(self._value_for(annotation, names)))
            usable = [o for o in command.options if not {"--catalog", "--hub-url", "--checkpoint"} & set(o[0])]
            for names_, annotation, is_flag in draw(st.lists(st.sampled_from(usable), max_size=6)) if usable else []:
                flag = draw(st.sampled_from(names_))
                if draw(st.integers(0, 19)) == 0:
                    flag = flag[:-1] or "--x"  # a misspelt option
                args.append(flag)
                if not is_flag:
                    args.append(draw(self._value_for(annotation, names)))
            if command.path[0] == "register":
                args += ["--hub-url", CLOSED_PORT_URL, "--timeout", "0.5"]
            if draw(st.integers(0, 29)) == 0:
                args.append(draw(_TEXT_JUNK))  # a stray extra argument
            return args

        return argv()

    def check_cli(self, argv: list[str]) -> tuple[str | None, bool]:
        from vlmplanner.cli.app import main

        before = self.fingerprint()
        out, err = io.StringIO(), io.StringIO()
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(list(argv))
        except BaseException as exc:  # main must return a status for everything
            return f"main raised {type(exc).__name__}: {exc}", True
        text = out.getvalue() + err.getvalue()
        if "Traceback" in text:
            return "printed a traceback", code != 0
        if "internal error" in err.getvalue():
            return f"internal error: {err.getvalue().strip()[:200]}", True
        if code != 0 and self.fingerprint() != before:
            return f"exit {code}, yet the catalog file changed ({self._sizes()}); stderr: {err.getvalue()[:200]}", True
        return None, code != 0

    def budget_cases(self) -> st.SearchStrategy[Any]:
        keys = st.sampled_from(["gflops", "latency_ms", "latency_kind", "memory_gb", "usd_per_1k_requests", "gflop",
                                "latency", ""])
        values = st.one_of(_NUMBERS, JUNK, st.sampled_from(["prefill", "end-to-end"]))
        return st.one_of(st.dictionaries(keys, values, max_size=4).map(lambda d: ("init", d)),
                         st.one_of(_TEXT_JUNK, JUNK, _NUMBERS.map(lambda n: f"{n} {_unit(n)}")).map(lambda t: ("parse", t)))

    def check_budget(self, case: Any) -> tuple[str | None, bool]:
        from vlmplanner.schemas import Budget

        how, value = case
        return _only_our_errors(lambda: Budget(**value) if how == "init" else Budget.parse(value))

    def workload_cases(self) -> st.SearchStrategy[Any]:
        keys = st.sampled_from(["text_tokens", "output_tokens", "images_per_request", "image_size", "batch_size",
                                "text_token", "batch"])
        values = st.one_of(_NUMBERS, JUNK, st.tuples(_NUMBERS, _NUMBERS), st.lists(_NUMBERS, max_size=3))
        return st.dictionaries(keys, values, max_size=4)

    def check_workload(self, case: Any) -> tuple[str | None, bool]:
        from vlmplanner.schemas import Workload

        return _only_our_errors(lambda: Workload(**case))

    def recommend_cases(self) -> st.SearchStrategy[Any]:
        from vlmplanner.schemas import Budget

        budgets = st.one_of(_NUMBERS.filter(lambda n: math.isfinite(n) and n > 0).map(lambda n: Budget(gflops=n)),
                            st.dictionaries(st.sampled_from(["gflops", "latency_ms", "memory_gb"]), _NUMBERS, max_size=2),
                            _TEXT_JUNK, JUNK, st.sampled_from(["1000 GFLOPs", "250 ms", "24 GB", "0.5 usd/1k"]))
        workloads = st.one_of(st.none(), st.dictionaries(st.sampled_from(["text_tokens", "output_tokens", "batch_size",
                                                                          "image_size", "images"]),
                                                         st.one_of(_NUMBERS, JUNK), max_size=3), JUNK)
        optional = st.one_of(st.none(), self.names(), JUNK)
        fuzzy = st.fixed_dictionaries(
            {"task": st.one_of(self.names(), JUNK), "budget": budgets},
            optional={"workload": workloads, "family": optional, "model": optional, "compressor": optional,
                      "training": st.one_of(st.sampled_from(["training-free", "trained"]), JUNK),
                      "accounting": st.one_of(st.sampled_from(["full", "paper"]), JUNK),
                      "objective": st.one_of(st.just("quality"), JUNK)})
        # cases that pass the argument checks, so they reach the planner's own logic
        plausible = st.fixed_dictionaries(
            {"task": st.sampled_from(["visual-reasoning", "ocr-text", "GQA", "TextVQA", "GQA:1,TextVQA:1", "POPE"]),
             "budget": st.one_of(st.floats(min_value=1, max_value=1e6).map(lambda n: Budget(gflops=n)),
                                 st.sampled_from(["1000 GFLOPs", "150 ms", "24 GB", "0.05 usd/1k", "3 TFLOPs"]))},
            optional={"workload": st.fixed_dictionaries({}, optional={
                          "text_tokens": st.integers(0, 4000), "output_tokens": st.integers(0, 512),
                          "batch_size": st.integers(1, 64)}),
                      "model": st.one_of(st.none(), st.sampled_from(self.models)),
                      "compressor": st.one_of(st.none(), st.sampled_from(self.compressors)),
                      "accounting": st.sampled_from(["full", "paper"]),
                      "training": st.one_of(st.none(), st.just("training-free"))})
        return st.one_of(plausible, fuzzy)

    def check_recommend(self, case: Any) -> tuple[str | None, bool]:
        import warnings

        from vlmplanner.planner import Planner

        if self._planner is None:
            self._planner = Planner(self.url, hardware="h100-sxm")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _only_our_errors(lambda: self._planner.recommend(**case))

    def planner_cases(self) -> st.SearchStrategy[Any]:
        return st.fixed_dictionaries({}, optional={
            "hardware": st.one_of(st.none(), st.sampled_from(["h100", "h200", "l4", "cpu-generic", "tpu"]), JUNK),
            "dtype": st.one_of(st.sampled_from(["bf16", "fp16", "fp32", "int8", "bfloat16", "fp8"]), JUNK),
            "accounting": st.one_of(st.sampled_from(["full", "paper"]), JUNK),
            "catalog": st.one_of(st.just(self.url), st.sampled_from(["not a url", "sqlite:///file:/nonexistent/x.db"
                                                                     "?mode=ro&uri=true"]), JUNK)})

    def check_planner(self, case: Any) -> tuple[str | None, bool]:
        from vlmplanner.planner import Planner

        def build() -> None:
            with Planner(**case):
                pass

        return _only_our_errors(build)

    def add_result_cases(self) -> st.SearchStrategy[Any]:
        near: dict[str, st.SearchStrategy[Any]] = {
            "model": st.sampled_from(self.models), "compressor": st.sampled_from(self.compressors),
            "visual_tokens": st.one_of(st.sampled_from([1, 4, 16, 36, 64, 100, 144, 576, 577, 2928, 10**6]),
                                       st.integers(-3, 3000)),
            "benchmark": st.sampled_from(self.benchmarks), "score": _NUMBERS, "source": st.text(min_size=1, max_size=12),
        }
        fields = {name: st.one_of(strategy, JUNK) if name != "source" else strategy
                  for name, strategy in near.items()}
        extra = {"provenance": st.one_of(st.sampled_from(["measured", "imported", "published", "predicted"]), JUNK),
                 "note": st.one_of(st.text(max_size=10), JUNK), "scroe": _NUMBERS}
        fuzzy = st.fixed_dictionaries({k: v for k, v in fields.items() if k in ("model", "score")},
                                      optional={**{k: v for k, v in fields.items() if k not in ("model", "score")},
                                                **extra})
        # writes that should land (a native-resolution model takes any count up to its maximum)
        landing = st.fixed_dictionaries({
            "model": st.sampled_from([m for m in self.models if m.startswith("Qwen/")] or self.models),
            "compressor": st.sampled_from(["divprune", "tokenpacker", "fastv", "visionzip-ft"]),
            "visual_tokens": st.integers(1, 20000), "benchmark": st.sampled_from(["GQA", "TextVQA", "POPE", "MME"]),
            "score": st.floats(min_value=-10, max_value=3000), "source": st.text(min_size=1, max_size=12)})
        return st.one_of(landing, fuzzy)

    def check_add_result(self, case: Any) -> tuple[str | None, bool]:
        from vlmplanner.store import open_catalog

        if self._catalog is None:
            self._catalog = open_catalog(self.url)
        before = self.fingerprint()
        problem, rejected = _only_our_errors(lambda: self._catalog.add_result(**case))
        if rejected and problem is None and self.fingerprint() != before:
            problem = "rejected, yet the catalog file changed"
        return problem, rejected

    def csv_cases(self) -> st.SearchStrategy[Any]:
        header = st.lists(st.sampled_from(["model", "Model", " compressor", "visual_tokens", "BENCHMARK", "score",
                                           "source", "note", "scroe", "model"]), min_size=0, max_size=8)
        cell = st.one_of(st.sampled_from(self.models), st.sampled_from(self.compressors), st.sampled_from(self.benchmarks),
                         _NUMBERS.map(str), _TEXT_JUNK)
        rows = st.lists(st.lists(cell, min_size=0, max_size=8), max_size=4)
        good_row = st.tuples(st.sampled_from([m for m in self.models if m.startswith("Qwen/")] or self.models),
                             st.sampled_from(["divprune", "tokenpacker"]), st.integers(1, 9000).map(str),
                             st.sampled_from(["GQA", "POPE"]), st.floats(0, 100).map(str),
                             st.text(min_size=1, max_size=8).filter(str.strip)).map(list)
        good = st.tuples(st.booleans(), st.permutations(["model", "Compressor", "visual_tokens", "benchmark", "SCORE",
                                                         "source"]), st.lists(good_row, min_size=1, max_size=3))
        return st.one_of(good.map(_columns_in_header_order), st.tuples(st.booleans(), header, rows))

    def check_csv(self, case: Any) -> tuple[str | None, bool]:
        import csv

        from vlmplanner.store import open_catalog

        bom, header, rows = case
        path = self.root / "fuzz.csv"
        with path.open("w", newline="", encoding="utf-8-sig" if bom else "utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)
        if self._catalog is None:
            self._catalog = open_catalog(self.url)
        before = self.fingerprint()
        problem, rejected = _only_our_errors(lambda: self._catalog.import_results_csv(path))
        if rejected and problem is None and self.fingerprint() != before:
            problem = "rejected, yet the catalog file changed"
        return problem, rejected

    def targets(self) -> dict[str, tuple[Callable[[], st.SearchStrategy[Any]], Callable[[Any], tuple[str | None, bool]]]]:
        return {
            "cli": (self.cli_cases, self.check_cli),
            "Budget": (self.budget_cases, self.check_budget),
            "Workload": (self.workload_cases, self.check_workload),
            "Planner()": (self.planner_cases, self.check_planner),
            "recommend()": (self.recommend_cases, self.check_recommend),
            "add_result()": (self.add_result_cases, self.check_add_result),
            "import_results_csv()": (self.csv_cases, self.check_csv),
        }


def _columns_in_header_order(case: tuple[bool, list[str], list[list[str]]]) -> tuple[bool, list[str], list[list[str]]]:
    """A well-formed file whose columns come in the (shuffled, mixed-case) header's order."""
    bom, header, rows = case
    canonical = ["model", "compressor", "visual_tokens", "benchmark", "score", "source"]
    order = [canonical.index(name.lower()) for name in header]
    return bom, header, [[row[i] for i in order] for row in rows]


def _unit(n: float) -> str:
    return ["GFLOPs", "ms", "GB", "usd/1k", "parsecs", ""][int(abs(n)) % 6] if n == n and abs(n) < 1e9 else "ms"


def _only_our_errors(call: Callable[[], Any]) -> tuple[str | None, bool]:
    """(problem, rejected): a VlmPlannerError is a rejection; any other exception is the problem."""
    try:
        call()
    except VlmPlannerError:
        return None, True
    except Exception as exc:
        return f"{type(exc).__module__}.{type(exc).__name__}: {str(exc)[:200]}", True
    return None, False


def run_target(world: FuzzWorld, name: str, examples: int, tally: Tally, *, raise_on_problem: bool) -> None:
    """Run ``examples`` hypothesis cases of one target, recording each in ``tally``.

    ``raise_on_problem`` (the unit suite) fails on the first problem and lets hypothesis shrink it;
    otherwise (the bench) every case is generated, run and counted, and problems are collected.
    """
    from hypothesis import Phase

    strategy_of, check = world.targets()[name]
    phases = tuple(Phase) if raise_on_problem else (Phase.generate,)

    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck),
              phases=phases)
    @given(strategy_of())
    def case(value: Any) -> None:
        problem, rejected = check(value)
        tally.record(name, value, problem, rejected=rejected)
        if problem and raise_on_problem:
            raise AssertionError(f"{name}: {problem} for {value!r:.300}")

    case()
