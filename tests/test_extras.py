"""A missing optional package is one MissingExtraError naming ``pip install 'vlmplanner[torch]'``.

Each case runs in a fresh interpreter where the package is made unimportable
(``sys.modules[name] = None``: ``import name`` then raises ModuleNotFoundError for it, as when it is
not installed), so the suite checks this in the full install too.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from _extras import need

HINT = "pip install 'vlmplanner[torch]'"
ROOT = Path(__file__).resolve().parents[1]

#: name -> the call to make (Python source), with torch (or the module given) missing.
CALLS: dict[str, str] = {
    "load": "vlmplanner.load('llava-hf/llava-1.5-7b-hf+pool@144')",
    "instantiate": "vlmplanner.pipeline.instantiate(None)",
    "wrap": "vlmplanner.pipeline.wrap(None, None, 'pool', 4)",
    "count_flops": "count_flops(ProfileTarget.from_checkpoint('llava-hf/llava-1.5-7b-hf'), method='traced')",
    "measure_latency": "measure_latency(ProfileTarget.from_checkpoint('llava-hf/llava-1.5-7b-hf'), device='cpu')",
    "profile_sweep": "profile_sweep('llava-hf/llava-1.5-7b-hf', [16], flops_only=True)",
    "get_compressor": "vlmplanner.compressors.get_compressor('divprune', 4)",
    "compressor class": "vlmplanner.compressors.QueCC",
    "compressor module": "importlib.import_module('vlmplanner.compressors.attention')",
    "build_tiny": "get_family('llava').build_tiny()",
    "build_fake": "get_family('qwen2_vl').build_fake(None)",
    "family load": "get_family('llava').load('some/dir')",
    "seams": "importlib.import_module('vlmplanner.pipeline.seams')",
    "profiler runner": "importlib.import_module('vlmplanner.profiling.runner')",
    "conformance suite": "CompressorConformance().make_inputs((2, 2))",
    "fake tensors": "vlmplanner.compat.fake_tensor_mode()",
}

HARNESS = """
import importlib, json, sys
for name in {missing!r}:
    sys.modules[name] = None
import vlmplanner, vlmplanner.compat, vlmplanner.compressors, vlmplanner.families, vlmplanner.pipeline
import vlmplanner.profiling
from vlmplanner.errors import MissingExtraError
from vlmplanner.families import get_family
from vlmplanner.profiling import ProfileTarget, count_flops, measure_latency, profile_sweep
from vlmplanner.testing.compressors import CompressorConformance
results = {{}}
for name, call in {calls!r}.items():
    try:
        eval(call)
    except MissingExtraError as exc:
        results[name] = ["MissingExtraError", exc.message, exc.extra, exc.module]
    except BaseException as exc:
        results[name] = [type(exc).__name__, str(exc), None, None]
    else:
        results[name] = ["no error", "", None, None]
print(json.dumps(results))
"""


def run_with(missing: tuple[str, ...], calls: dict[str, str]) -> dict[str, list[str | None]]:
    script = HARNESS.format(missing=missing, calls=calls)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    result: dict[str, list[str | None]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_without_torch_every_entry_point_names_the_extra() -> None:
    results = run_with(("torch",), CALLS)
    for name, (kind, message, extra, module) in results.items():
        assert kind == "MissingExtraError", (name, kind, message)
        assert message is not None and HINT in message and "\n" not in message, (name, message)
        assert (extra, module) == ("torch", "torch"), name


@pytest.mark.parametrize(("missing", "call", "needs"), [
    ("transformers", "ProfileTarget.from_checkpoint('llava-hf/llava-1.5-7b-hf')", "transformers"),
    ("transformers", "vlmplanner.load('llava-hf/llava-1.5-7b-hf+pool@144')", "transformers"),
    ("PIL", "vlmplanner.load('llava-hf/llava-1.5-7b-hf+pool@144')", "PIL"),
    ("fvcore", "count_flops(ProfileTarget.from_checkpoint('llava-hf/llava-1.5-7b-hf'), method='fvcore')",
     "fvcore"),
])
def test_each_package_of_the_extra_is_named(missing: str, call: str, needs: str) -> None:
    need("torch", "transformers")  # the other packages are checked after these
    (kind, message, extra, module), = run_with((missing,), {"call": call}).values()
    assert kind == "MissingExtraError", message
    assert message is not None and HINT in message and f"needs {needs}" in message
    assert (extra, module) == ("torch", needs)


def test_the_light_install_still_registers_models_and_lists_compressors() -> None:
    calls = {
        "spec": "vlmplanner.families.spec_from_config(json.load(open("
                "'catalog/hf_configs/llava-hf/llava-1.5-7b-hf/config.json')), checkpoint='x/y', source='t')",
        "list": "vlmplanner.compressors.list_compressors(family='llava')",
        "card": "vlmplanner.compressors.compressor_card('pool').allowed_tokens(576)",
        "resolve": "vlmplanner.pipeline.resolve('llava-hf/llava-1.5-7b-hf+pool@144', model_spec="
                   "vlmplanner.families.spec_from_config(json.load(open("
                   "'catalog/hf_configs/llava-hf/llava-1.5-7b-hf/config.json')), checkpoint="
                   "'llava-hf/llava-1.5-7b-hf', source='t'))",
    }
    results = run_with(("torch", "transformers"), calls)
    assert {name: kind for name, (kind, *_rest) in results.items()} == dict.fromkeys(calls, "no error")


@pytest.mark.parametrize("args", [
    ["run", "llava-hf/llava-1.5-7b-hf+pool@144", "--image", "README.md", "--prompt", "what is it?"],
    ["profile", "llava-hf/llava-1.5-7b-hf", "--tokens", "16", "--flops-only"],
])
def test_the_cli_says_it_in_one_line(args: list[str], tmp_path: Path) -> None:
    code = textwrap.dedent(f"""
        import sys
        sys.modules["torch"] = None
        from vlmplanner.cli.app import main
        sys.exit(main({args!r} + ["--catalog", "sqlite:///{tmp_path / 'c.sqlite3'}"]))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 8, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: ") and HINT in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
